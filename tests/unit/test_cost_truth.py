"""What a team would really pay (issue 13), each figure worked out by hand in the test."""

from __future__ import annotations

from datetime import date

import pytest

from costcli.adapters.catalog import RateLimit, UsageTier
from costcli.files.errors import BadInputError
from costcli.pricing.cost import (
    EXCEEDS_HIGHEST_TIER,
    ApiTarget,
    Billing,
    HardwareTarget,
    Scenario,
    mean_request_cost,
    project_api,
    project_report,
    project_self_hosted,
    request_cost,
    shutdown_note,
)
from costcli.pricing.prices import HardwareProfile, ModelPrice, PriceTier, require_live

TODAY = date(2026, 12, 1)
ONE_RPS_MONTH = 2_628_000  # 730 h x 3600 s
HOUR_SHARE = 730 / 24  # each hour of the day, over a month


def price(**kw: object) -> ModelPrice:
    base: dict[str, object] = {
        "provider": "openai",
        "model": "m",
        "input_per_mtok": 0.25,
        "output_per_mtok": 2.0,
        "source": "https://example.com/pricing",
        "as_of": TODAY,
    }
    return ModelPrice.model_validate({**base, **kw})


def sol(**kw: object) -> ModelPrice:
    """gpt-6.1-sol's figures in LiteLLM 1.110.2's map."""
    return price(
        input_per_mtok=2.0,
        cached_input_per_mtok=0.1,
        output_per_mtok=10.0,
        cache_write_per_mtok=2.5,
        flex_input_per_mtok=1.0,
        flex_cached_input_per_mtok=0.05,
        flex_output_per_mtok=5.0,
        priority_input_per_mtok=4.0,
        priority_cached_input_per_mtok=0.2,
        priority_output_per_mtok=20.0,
        batch_discount=0.5,
        tiers=[PriceTier(above_input_tokens=272_000, input_per_mtok=4.0, output_per_mtok=15.0)],
        **kw,
    )


def box(**kw: object) -> HardwareProfile:
    base: dict[str, object] = {
        "name": "gpu",
        "hourly_usd": 1.0,
        "watts": 100,
        "idle_watts": 40,
        "pue": 1.0,
        "electricity_usd_per_kwh": 0.10,
        "source": "https://example.com/rent",
        "as_of": TODAY,
    }
    return HardwareProfile.model_validate({**base, **kw})


# --- reasoning -------------------------------------------------------------------------------


def test_reasoning_tokens_are_billed_on_top_of_the_visible_output_at_the_output_rate() -> None:
    # the gpt-5-mini: 200 x 0.25 + 300 x 2.0 = 650 per 1M requests, then
    # + 500 hidden x 2.0 = 1000 -> 1650
    mini = price(reasoning=True)
    s = Scenario(1_000_000, 200, 300)
    assert project_api(mini, [], s, TODAY).monthly_cost_usd == pytest.approx(650)
    s = Scenario(1_000_000, 200, 300, reasoning_tokens=500)
    row = project_api(mini, [], s, TODAY)
    assert row.monthly_cost_usd == pytest.approx(1650)
    assert row.reasoning_tokens == 500
    assert row.peak_tpm == pytest.approx(1_000_000 / 2_628_000 * 60 * 1000)  # 200+300+500


def test_reasoning_tokens_at_their_own_rate() -> None:
    # 200 x 0.25 + 300 x 2.0 + 500 x 3.0 = 50 + 600 + 1500 = 2150 per 1M requests
    s = Scenario(1_000_000, 200, 300, reasoning_tokens=500)
    row = project_api(price(reasoning=True, reasoning_per_mtok=3.0), [], s, TODAY)
    assert row.monthly_cost_usd == pytest.approx(2150)


def test_reasoning_tokens_given_for_a_model_not_marked_reasoning_are_priced_at_its_output_rate() -> (
    None
):
    # gpt-4o-style: 200 x 0.25 + 300 x 2.0 = 650, + the 500 reasoning tokens given x 2.0 = 1650
    row = project_api(price(), [], Scenario(1_000_000, 200, 300, reasoning_tokens=500), TODAY)
    assert row.monthly_cost_usd == pytest.approx(1650)
    assert row.reasoning_tokens == 500
    (note,) = [n for n in row.notes if "not marked reasoning = true" in n]
    assert note == (
        "openai:m is not marked reasoning = true: its 500 reasoning tokens per request are "
        "priced at its output rate"
    )


def test_a_reasoning_model_without_a_reasoning_figure_says_so_instead_of_pricing_zero() -> None:
    row = project_api(price(reasoning=True), [], Scenario(1_000_000, 200, 300), TODAY)
    assert row.reasoning_unpriced is True
    assert row.reasoning_tokens is None
    report = project_report(Scenario(1_000_000, 200, 300), [ApiTarget(price(reasoning=True))])
    (note,) = [n for n in report.notes if "--reasoning-tokens" in n]
    assert note.endswith(": openai:m")  # one note naming every such model
    given = Scenario(1_000_000, 200, 300, reasoning_tokens=0)
    assert project_api(price(reasoning=True), [], given, TODAY).reasoning_unpriced is False
    assert project_api(price(), [], Scenario(1, 1, 1), TODAY).reasoning_unpriced is False


# --- caching rules ---------------------------------------------------------------------------


def test_a_prompt_below_the_minimum_cacheable_length_gets_no_discount() -> None:
    p = price(input_per_mtok=1.0, cached_input_per_mtok=0.1, cache_min_input_tokens=1024)
    # 1023 tokens: nothing is cached -> 1023 x 1.0
    assert request_cost(p, 1023, 0, cached_input_tokens=511) == pytest.approx(1023e-6)
    # 1024 tokens: 512 x 1.0 + 512 x 0.1 = 563.2
    assert request_cost(p, 1024, 0, cached_input_tokens=512) == pytest.approx(563.2e-6)
    # the scenario's cache-hit share follows the same rule
    assert mean_request_cost(p, Scenario(1, 1023, 0, cache_hit=0.5)) == pytest.approx(1023e-6)
    assert mean_request_cost(p, Scenario(1, 1024, 0, cache_hit=0.5)) == pytest.approx(563.2e-6)


def test_cache_writes_are_billed_at_the_write_rate() -> None:
    # 2000-token prompt, half read from the cache, the other half written to it:
    # 1000 x 0.1 + 1000 x 2.5 = 2600 per 1M requests
    s = Scenario(1_000_000, 2000, 0, cache_hit=0.5)
    assert project_api(sol(), [], s, TODAY).monthly_cost_usd == pytest.approx(2600)
    # a quarter written: 500 x 2.5 + 500 x 2.0 + 1000 x 0.1 = 1250 + 1000 + 100 = 2350
    s = Scenario(1_000_000, 2000, 0, cache_hit=0.5, cache_write=0.25)
    assert project_api(sol(), [], s, TODAY).monthly_cost_usd == pytest.approx(2350)
    # no caching in the scenario: no writes -> 2000 x 2.0
    s = Scenario(1_000_000, 2000, 0)
    assert project_api(sol(), [], s, TODAY).monthly_cost_usd == pytest.approx(4000)


# --- service tiers ---------------------------------------------------------------------------


def test_flex_and_priority_bill_their_own_rates() -> None:
    # 1000 in + 100 out per request, 1M requests
    # default 1000 x 2 + 100 x 10 = 3000; flex 1000 x 1 + 100 x 5 = 1500;
    # priority 1000 x 4 + 100 x 20 = 6000
    for tier, usd in (("default", 3000), ("flex", 1500), ("priority", 6000)):
        s = Scenario(1_000_000, 1000, 100, service_tier=tier)  # type: ignore[arg-type]
        row = project_api(sol(), [], s, TODAY)
        assert row.monthly_cost_usd == pytest.approx(usd), tier
        assert row.service_tier == tier


def test_flex_cached_input_and_long_context_follow_the_tier() -> None:
    # flex, half cached, no writes: 500 x 1.0 + 500 x 0.05 + 100 x 5 = 1025
    s = Scenario(1_000_000, 1000, 100, cache_hit=0.5, cache_write=0, service_tier="flex")
    assert project_api(sol(), [], s, TODAY).monthly_cost_usd == pytest.approx(1025)
    # above 272k the long-context rates scale by flex / default (0.5): 300000 x 4 x 0.5 = 0.6
    assert request_cost(sol(), 300_000, 0, billing=Billing(service_tier="flex")) == pytest.approx(
        0.6
    )


def test_a_model_without_a_flex_price_is_billed_at_default_and_says_so() -> None:
    row = project_api(price(), [], Scenario(1_000_000, 200, 300, service_tier="flex"), TODAY)
    assert row.monthly_cost_usd == pytest.approx(650)
    assert row.service_tier == "default"
    assert any("no flex price" in n for n in row.notes)


def test_batched_requests_pay_the_batch_rate_whatever_the_service_tier() -> None:
    # all batched: 3000 x (1 - 0.5)
    s = Scenario(1_000_000, 1000, 100, batch_share=1.0, service_tier="priority")
    assert project_api(sol(), [], s, TODAY).monthly_cost_usd == pytest.approx(1500)


# --- tier fit --------------------------------------------------------------------------------


def _limits(as_of: date = TODAY) -> list[RateLimit]:
    rows = [("tier-1", 500, 30_000), ("tier-2", 5000, 450_000), ("tier-3", 5000, 800_000)]
    return [
        RateLimit(tier=t, model="m", rpm=rpm, tpm=tpm, source="https://example.com/l", as_of=as_of)
        for t, rpm, tpm in rows
    ]


CAPS = [
    UsageTier(tier=t, monthly_spend_cap_usd=cap, source="https://example.com/t", as_of=TODAY)
    for t, cap in (("tier-1", 100), ("tier-2", 500), ("tier-3", 1000))
]


def test_a_spend_cap_moves_the_tier() -> None:
    p = price(input_per_mtok=2.5, output_per_mtok=10.0)
    # 100,000 x (1000 x 2.5 + 200 x 10) / 1e6 = $450; peak 6.85 RPM, 8,219 TPM: tier-1's limits
    s = Scenario(100_000, 1000, 200, peak_factor=3)
    assert project_api(p, _limits(), s, TODAY).tier_needed == "tier-1"
    row = project_api(p, _limits(), s, TODAY, usage_tiers=CAPS)
    assert row.monthly_cost_usd == pytest.approx(450)
    assert row.tier_needed == "tier-2"  # $450 is above tier-1's $100 cap
    # $1,350 is above every listed cap
    s3 = s.with_volume(300_000)
    assert project_api(p, _limits(), s3, TODAY, usage_tiers=CAPS).tier_needed == (
        EXCEEDS_HIGHEST_TIER
    )


def test_stale_rate_limit_rows_are_flagged_like_stale_prices() -> None:
    row = project_api(price(), _limits(date(2025, 9, 12)), Scenario(1000, 10, 10), TODAY)
    assert row.stale_rate_limits is True
    assert row.rate_limits_as_of == date(2025, 9, 12)
    assert any("445 days old" in n for n in row.notes)
    assert project_api(price(), _limits(), Scenario(1000, 10, 10), TODAY).stale_rate_limits is False


# --- load profile and scaling ----------------------------------------------------------------

# 12 quiet hours at weight 1 and 12 busy ones at weight 3 (mean 2): at a mean of 2 req/s the
# quiet hours carry 1 req/s and the busy ones 3 req/s
PROFILE = (1.0,) * 12 + (3.0,) * 12


def test_a_24_hour_profile_scales_replicas_per_hour_with_energy_at_partial_load() -> None:
    s = Scenario(2 * ONE_RPS_MONTH, 100, 100, hourly_profile=PROFILE)
    assert s.hour_loads == pytest.approx((1.0,) * 12 + (3.0,) * 12)
    row = project_self_hosted(box(), 1.5, s, today=TODAY)
    # quiet: ceil(1 / 1.5) = 1 replica at 2/3 busy; busy: ceil(3 / 1.5) = 2 replicas, full
    assert row.replicas_by_hour == (1,) * 12 + (2,) * 12
    assert row.replicas == 2
    # rent: 36 replica-hours a day x 730/24 x $1 = $1,095
    assert row.replica_hours_per_month == pytest.approx(1095)
    # energy: quiet 1 x (40 + 60 x 2/3) = 80 W, busy 2 x 100 W = 200 W;
    # (12 x 80 + 12 x 200) Wh x 730/24 = 102.2 kWh -> $10.22
    assert row.energy_kwh_per_month == pytest.approx(102.2)
    assert row.monthly_cost_usd == pytest.approx(1095 + 10.22)
    # 48 req/s-hours a day of work / 1.5 = 32 replica-hours busy of 36
    assert row.utilization == pytest.approx(32 / 36)


def test_min_replicas_keeps_boxes_up_through_the_quiet_hours() -> None:
    s = Scenario(2 * ONE_RPS_MONTH, 100, 100, hourly_profile=PROFILE, min_replicas=2)
    row = project_self_hosted(box(), 1.5, s, today=TODAY)
    assert row.replicas_by_hour == (2,) * 24
    # quiet: 2 x (40 + 60 x 1/3) = 120 W; busy 200 W; (12 x 120 + 12 x 200) x 730/24 = 116.8 kWh
    assert row.energy_kwh_per_month == pytest.approx(116.8)
    assert row.monthly_cost_usd == pytest.approx(48 * HOUR_SHARE + 11.68)


def test_without_a_profile_the_peak_runs_all_day() -> None:
    # peak 2 x 3 = 6 req/s -> 4 replicas of 1.5 all month: 4 x 730 x $1 = $2,920
    row = project_self_hosted(box(), 1.5, Scenario(2 * ONE_RPS_MONTH, 1, 1, peak_factor=3))
    assert row.replicas == 4
    assert row.replicas_by_hour is None
    assert row.replica_hours_per_month == pytest.approx(2920)


def test_the_api_peak_for_tier_fit_is_the_busiest_hour() -> None:
    s = Scenario(2 * ONE_RPS_MONTH, 100, 100, peak_factor=10, hourly_profile=PROFILE)
    row = project_api(price(), [], s, TODAY)
    assert row.peak_rpm == pytest.approx(3 * 60)  # 3 req/s in the busy hours; factor ignored


def test_spot_and_reserved_rents() -> None:
    hw = box(spot_hourly_usd=0.4, reserved_hourly_usd=0.6, electricity_usd_per_kwh=0)
    # 1 req/s on a 2 req/s box: one replica all month, 730 h
    for pricing, usd in (("on-demand", 730), ("spot", 292), ("reserved", 438)):
        s = Scenario(ONE_RPS_MONTH, 1, 1, pricing=pricing)  # type: ignore[arg-type]
        row = project_self_hosted(hw, 2.0, s)
        assert row.monthly_cost_usd == pytest.approx(usd), pricing
        assert row.pricing == pricing


def test_a_pricing_the_profile_does_not_carry_is_one_line_naming_the_key() -> None:
    with pytest.raises(BadInputError, match=r"hardware 'gpu' has no spot_hourly_usd"):
        project_self_hosted(box(), 2.0, Scenario(ONE_RPS_MONTH, 1, 1, pricing="spot"))


def test_an_hourly_profile_must_have_24_weights() -> None:
    with pytest.raises(ValueError, match="24 weights"):
        Scenario(1, 1, 1, hourly_profile=(1.0,) * 23)


# --- retired models --------------------------------------------------------------------------


def test_a_retired_model_is_refused_naming_the_date_and_the_replacement() -> None:
    gone = price(deprecated=date(2026, 11, 30), replacement="gpt-6-luna")
    with pytest.raises(
        BadInputError, match=r"shut down on 2026-11-30; its replacement is gpt-6-luna"
    ):
        require_live(gone, TODAY)
    assert require_live(price(deprecated=date(2026, 12, 11)), TODAY).model == "m"


def test_rows_shutting_down_within_the_period_carry_the_date_in_the_right_tense() -> None:
    soon = price(deprecated=date(2026, 12, 11))
    row = project_api(soon, [], Scenario(1, 1, 1), TODAY)
    assert row.shuts_down == date(2026, 12, 11)
    assert "shuts down on 2026-12-11" in row.notes[0]
    later = price(deprecated=date(2027, 3, 1))
    assert project_api(later, [], Scenario(1, 1, 1), TODAY).shuts_down is None
    report = project_report(Scenario(1, 1, 1), [ApiTarget(later)], months=6, today=TODAY)
    assert report.projections[0].shuts_down == date(2027, 3, 1)
    assert shutdown_note("openai:m", date(2026, 11, 20), TODAY) == (
        "openai:m shut down on 2026-11-20"
    )


def test_rows_carry_their_token_basis() -> None:
    s = Scenario(1, 100, 10)
    own = ApiTarget(price(), input_tokens=50, token_basis="tokenizer:cl100k_base", basis_note="n")
    other = ApiTarget(price(model="m2"))
    hw = HardwareTarget(box(), 1.0, "llamacpp", "g", 100, 10, token_basis="measured")
    report = project_report(s, [own, other], [hw], today=TODAY)
    bases = [(p.label, p.token_basis, p.input_tokens) for p in report.projections]
    assert bases == [
        ("openai:m", "tokenizer:cl100k_base", 50),
        ("openai:m2", "given", 100),
        ("gpu (llamacpp:g)", "measured", 100),
    ]
    assert report.projections[0].to_dict()["token_basis"] == "tokenizer:cl100k_base"
