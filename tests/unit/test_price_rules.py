"""Anthropic-style pricing rules: cache writes by TTL, reasoning rates, per-request tiers.

Every figure is worked out by hand in the test (USD per 1M tokens x tokens / 1e6).
"""

from __future__ import annotations

from datetime import date

import pytest

from costcli.files.errors import BadInputError
from costcli.pricing.cost import (
    ApiTarget,
    Billing,
    Scenario,
    project_api,
    project_report,
    rates_for,
    request_cost,
)
from costcli.pricing.prices import ModelPrice, PriceTier, litellm_to_prices, parse_prices

TODAY = date(2026, 12, 3)


def claude(**kw: object) -> ModelPrice:
    """Sonnet-4-style figures: $3 in, $15 out, 5m write 3.75, 1h write 6, read 0.30,
    and a >200K-token prompt tier at $6 / $22.50."""
    base: dict[str, object] = {
        "provider": "anthropic",
        "model": "claude-x",
        "input_per_mtok": 3.0,
        "cached_input_per_mtok": 0.3,
        "output_per_mtok": 15.0,
        "cache_write_per_mtok": 3.75,
        "cache_write_1h_per_mtok": 6.0,
        "batch_discount": 0.5,
        "source": "https://platform.claude.com/docs/en/about-claude/pricing",
        "as_of": TODAY,
        "tiers": [{"above_input_tokens": 200_000, "input_per_mtok": 6.0, "output_per_mtok": 22.5}],
    }
    return ModelPrice.model_validate({**base, **kw})


# --- cache writes by TTL -----------------------------------------------------------------


def test_one_hour_cache_writes_pay_the_one_hour_rate() -> None:
    # 10000-token prompt, all of it written with the 1h TTL: 10000 x 6.0 = 0.06
    billing = Billing(cache_write_tokens=10_000, cache_write_1h_tokens=10_000)
    assert request_cost(claude(), 10_000, 0, billing=billing) == pytest.approx(0.06)


def test_cache_writes_are_split_between_the_one_hour_and_five_minute_rates() -> None:
    # 10000 in, 2000 read, 8000 written of which 3000 with the 1h TTL, 100 out:
    # 2000 x 0.3 + 5000 x 3.75 + 3000 x 6.0 + 100 x 15 = 600 + 18750 + 18000 + 1500 = 38850
    billing = Billing(cache_write_tokens=8000, cache_write_1h_tokens=3000)
    got = request_cost(claude(), 10_000, 100, cached_input_tokens=2000, billing=billing)
    assert got == pytest.approx(38_850e-6)


def test_without_one_hour_writes_every_write_pays_the_five_minute_rate() -> None:
    # 8000 x 3.75 + 2000 x 3.0 = 30000 + 6000 = 36000
    got = request_cost(claude(), 10_000, 0, billing=Billing(cache_write_tokens=8000))
    assert got == pytest.approx(36_000e-6)


def test_one_hour_rate_falls_back_to_the_write_rate_then_the_input_rate() -> None:
    billing = Billing(cache_write_tokens=1000, cache_write_1h_tokens=1000)
    # no 1h rate: the 5-minute write rate, 1000 x 3.75
    no_1h = claude(cache_write_1h_per_mtok=None)
    assert request_cost(no_1h, 1000, 0, billing=billing) == pytest.approx(3.75e-3)
    # no write rate at all: the input rate, 1000 x 3.0
    bare = claude(cache_write_1h_per_mtok=None, cache_write_per_mtok=None)
    assert request_cost(bare, 1000, 0, billing=billing) == pytest.approx(3.0e-3)


def test_one_hour_writes_above_the_threshold_keep_their_ratio_to_the_tier_input_rate() -> None:
    # 200001 tokens at the tier: input 6.0, 1h write 6.0 x 6/3 = 12.0, 5m write 7.5
    rates = rates_for(claude(), 200_001)
    assert (rates.input, rates.cache_write, rates.cache_write_1h) == (6.0, 7.5, 12.0)


def test_one_hour_writes_in_a_batch_get_the_batch_discount() -> None:
    # 1000 x 6.0 x 0.5 = 3000
    billing = Billing(batch=True, cache_write_tokens=1000, cache_write_1h_tokens=1000)
    assert request_cost(claude(), 1000, 0, billing=billing) == pytest.approx(3.0e-3)


def test_more_one_hour_writes_than_writes_is_refused() -> None:
    with pytest.raises(ValueError, match="part of cache_write_tokens"):
        Billing(cache_write_tokens=10, cache_write_1h_tokens=11)


def test_the_one_hour_rate_is_read_from_the_prices_file_and_from_litellm() -> None:
    entry = {
        "provider": "anthropic",
        "model": "claude-x",
        "input_per_mtok": 3.0,
        "output_per_mtok": 15.0,
        "cache_write_1h_per_mtok": 6.0,
        "source": "https://platform.claude.com/docs/en/about-claude/pricing",
        "as_of": TODAY,
    }
    (parsed,) = parse_prices({"models": [entry]}).models
    assert parsed.cache_write_1h_per_mtok == 6.0
    litellm = {
        "claude-x": {
            "litellm_provider": "anthropic",
            "mode": "chat",
            "input_cost_per_token": 3e-06,
            "output_cost_per_token": 1.5e-05,
            "cache_creation_input_token_cost": 3.75e-06,
            "cache_creation_input_token_cost_above_1hr": 6e-06,
        }
    }
    (imported,) = litellm_to_prices(litellm, as_of=TODAY)
    assert (imported.cache_write_per_mtok, imported.cache_write_1h_per_mtok) == (3.75, 6.0)


# --- reasoning ------------------------------------------------------------------------------


def test_a_model_with_a_reasoning_rate_is_a_reasoning_model() -> None:
    assert claude(reasoning_per_mtok=20.0).reasoning is True
    assert claude(reasoning_per_mtok=20.0, reasoning=False).reasoning is True
    assert claude().reasoning is False


def test_reasoning_tokens_given_are_priced_at_the_reasoning_rate_on_a_model_not_marked() -> None:
    # 1000 x 3.0 + 100 x 15 + 500 x 20 = 3000 + 1500 + 10000 = 14500 per 1M requests
    s = Scenario(1_000_000, 1000, 100, reasoning_tokens=500)
    row = project_api(claude(reasoning_per_mtok=20.0), [], s, TODAY)
    assert row.monthly_cost_usd == pytest.approx(14_500)
    assert not [n for n in row.notes if "not marked reasoning" in n]


def test_reasoning_tokens_given_are_priced_at_the_output_rate_on_a_plain_model() -> None:
    # 1000 x 3.0 + (100 + 500) x 15 = 3000 + 9000 = 12000 per 1M requests
    s = Scenario(1_000_000, 1000, 100, reasoning_tokens=500)
    row = project_api(claude(), [], s, TODAY)
    assert row.monthly_cost_usd == pytest.approx(12_000)
    assert row.reasoning_tokens == 500


def test_a_model_with_a_reasoning_rate_and_no_figure_is_flagged_unpriced() -> None:
    report = project_report(Scenario(1000, 1000, 100), [ApiTarget(claude(reasoning_per_mtok=20))])
    assert report.projections[0].reasoning_unpriced is True
    assert any("anthropic:claude-x" in n and "--reasoning-tokens" in n for n in report.notes)


def test_a_price_without_an_output_rate_is_refused_naming_the_model() -> None:
    entry = {
        "provider": "anthropic",
        "model": "claude-x",
        "input_per_mtok": 3.0,
        "source": "https://platform.claude.com/docs/en/about-claude/pricing",
        "as_of": TODAY,
    }
    with pytest.raises(BadInputError, match=r"models\.0\.output_per_mtok"):
        parse_prices({"models": [entry]})


# --- long-context tiers are per request -----------------------------------------------------


def test_a_request_over_200k_is_billed_whole_at_the_long_context_rates() -> None:
    # at 200000: 200000 x 3 + 1000 x 15 = 615000; at 200001: 200001 x 6 + 1000 x 22.5
    assert request_cost(claude(), 200_000, 1000) == pytest.approx(0.615)
    assert request_cost(claude(), 200_001, 1000) == pytest.approx(1.2225060)


def test_the_monthly_projection_prices_each_request_against_the_tier_not_the_month() -> None:
    # 1M requests of 150K tokens: 150 G tokens a month, far over 200K, yet every request is
    # under it: 1M x (150000 x 3 + 1000 x 15) / 1e6 = 465000
    row = project_api(claude(), [], Scenario(1_000_000, 150_000, 1000), TODAY)
    assert row.cost_per_request_usd == pytest.approx(0.465)
    assert row.monthly_cost_usd == pytest.approx(465_000)
    # 250K-token requests: 1M x (250000 x 6 + 1000 x 22.5) / 1e6 = 1522500
    row = project_api(claude(), [], Scenario(1_000_000, 250_000, 1000), TODAY)
    assert row.monthly_cost_usd == pytest.approx(1_522_500)


def test_a_tier_without_a_cached_rate_bills_cached_input_at_the_tier_input_rate() -> None:
    tier = PriceTier(above_input_tokens=200_000, input_per_mtok=6.0, output_per_mtok=22.5)
    assert rates_for(claude(tiers=[tier]), 200_001).cached_input == 6.0


def test_a_measured_runs_1h_cache_writes_are_priced_at_the_1h_rate() -> None:
    """A record's cache writes and their 1h share reach the bill (load/runner.priced)."""
    from costcli.load.measure import Measurement
    from costcli.load.runner import priced
    from costcli.pricing.prices import parse_prices
    from costcli.results.metrics import Digest

    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    prices = parse_prices(
        tomllib.loads(
            '[[models]]\nprovider = "anthropic"\nmodel = "m"\ninput_per_mtok = 3\n'
            "cached_input_per_mtok = 0.3\ncache_write_per_mtok = 3.75\n"
            "cache_write_1h_per_mtok = 6\noutput_per_mtok = 15\n"
            'source = "https://platform.claude.com/docs/en/about-claude/pricing"\n'
            "as_of = 2026-12-03\n"
        )
    )
    rec = Measurement(0, 0, end_ns=1)
    rec.input_tokens, rec.output_tokens = 1000, 10
    rec.cache_write_tokens, rec.cache_write_1h_tokens = 600, 200
    cost = priced("anthropic", "m", False, Digest().extend([rec.record(0)]), prices)
    # 400 uncached x 3 + 400 5m writes x 3.75 + 200 1h writes x 6 + 10 x 15, per 1M tokens
    assert cost.total_usd == pytest.approx((400 * 3 + 400 * 3.75 + 200 * 6 + 10 * 15) / 1e6)


def test_a_measured_request_served_on_flex_is_priced_at_the_flex_rates() -> None:
    """The tier a Responses stream reports it was served on reaches the bill."""
    from costcli.load.measure import Measurement
    from costcli.load.runner import priced
    from costcli.pricing.prices import parse_prices
    from costcli.results.metrics import Digest

    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    prices = parse_prices(tomllib.loads(
        '[[models]]\nprovider = "openai"\nmodel = "m"\ninput_per_mtok = 0.05\n'
        "output_per_mtok = 0.4\nflex_input_per_mtok = 0.025\nflex_output_per_mtok = 0.2\n"
        'source = "https://platform.openai.com/docs/pricing"\nas_of = 2026-12-03\n'
    ))  # fmt: skip
    records = []
    for tier in ("flex", "default", "scale"):  # an unpriced tier bills the default rates
        rec = Measurement(0, 0, end_ns=1)
        rec.input_tokens, rec.output_tokens, rec.service_tier = 1000, 100, tier
        records.append(rec.record(0))
    cost = priced("openai", "m", False, Digest().extend(records), prices)
    flex = 1000 * 0.025 + 100 * 0.2
    default = 1000 * 0.05 + 100 * 0.4
    assert cost.total_usd == pytest.approx((flex + 2 * default) / 1e6)
