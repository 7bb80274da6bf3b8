"""The cost engine against hand-computed figures (each written out in the test)."""

from __future__ import annotations

from datetime import date

import pytest

from costcli.adapters.catalog import RateLimit
from costcli.pricing.cost import (
    EXCEEDS_HIGHEST_TIER,
    SECONDS_PER_MONTH,
    ApiTarget,
    Billing,
    HardwareTarget,
    Scenario,
    break_even,
    cost_summary,
    growth_table,
    mean_request_cost,
    project_api,
    project_report,
    project_self_hosted,
    replicas_needed,
    request_cost,
    run_cost,
)
from costcli.pricing.prices import HardwareProfile, ModelPrice, Prices, PriceTier
from costcli.results.metrics import RunCost, Unpriced

TODAY = date(2026, 11, 26)
ONE_RPS_MONTH = 2_628_000  # 730 h x 3600 s: one request/s on average for a month


def price(**kw: object) -> ModelPrice:
    base: dict[str, object] = {
        "provider": "openai",
        "model": "m",
        "input_per_mtok": 0.15,
        "output_per_mtok": 0.60,
        "source": "https://example.com/pricing",
        "as_of": TODAY,
    }
    return ModelPrice.model_validate({**base, **kw})


def full_price() -> ModelPrice:
    return price(
        input_per_mtok=2.0,
        cached_input_per_mtok=0.5,
        output_per_mtok=8.0,
        reasoning_per_mtok=10.0,
        batch_discount=0.5,
        per_request_usd=0.001,
        tiers=[
            PriceTier(
                above_input_tokens=200_000,
                input_per_mtok=4.0,
                output_per_mtok=12.0,
                cached_input_per_mtok=1.0,
            )
        ],
    )


def box(**kw: object) -> HardwareProfile:
    base: dict[str, object] = {
        "name": "h100",
        "hourly_usd": 2.0,
        "watts": 700,
        "idle_watts": 100,
        "pue": 1.2,
        "electricity_usd_per_kwh": 0.10,
        "source": "https://example.com/rent",
        "as_of": TODAY,
    }
    return HardwareProfile.model_validate({**base, **kw})


def test_input_and_output_tokens_are_priced_per_million() -> None:
    # 1000 x 0.15 / 1e6 + 500 x 0.60 / 1e6 = 0.00015 + 0.0003
    assert request_cost(price(), 1000, 500) == pytest.approx(0.00045)


def test_cached_input_is_billed_at_the_cached_rate() -> None:
    # 600 uncached x 0.15 + 400 cached x 0.075 + 500 x 0.60 = 90 + 30 + 300 -> 420 / 1e6
    p = price(cached_input_per_mtok=0.075)
    assert request_cost(p, 1000, 500, cached_input_tokens=400) == pytest.approx(0.00042)


def test_cached_input_without_a_cached_rate_pays_the_input_rate() -> None:
    assert request_cost(price(), 1000, 500, cached_input_tokens=400) == pytest.approx(0.00045)


def test_reasoning_tokens_are_part_of_the_output_and_priced_apart() -> None:
    # 1000 x 2 + 300 x 8 + 200 x 10 = 2000 + 2400 + 2000 -> 0.0064, + 0.001 fee
    assert request_cost(full_price(), 1000, 500, reasoning_tokens=200) == pytest.approx(0.0074)


def test_reasoning_defaults_to_the_output_rate() -> None:
    assert request_cost(price(), 1000, 500, reasoning_tokens=200) == pytest.approx(0.00045)


def test_per_request_fee_is_added_once() -> None:
    # 1000 x 2 + 500 x 8 = 6000 / 1e6 = 0.006, + 0.001
    assert request_cost(full_price(), 1000, 500) == pytest.approx(0.007)


def test_batch_discount_applies_to_tokens_not_to_the_fee() -> None:
    # 0.006 x (1 - 0.5) + 0.001
    assert request_cost(full_price(), 1000, 500, billing=Billing(batch=True)) == pytest.approx(
        0.004
    )


def test_prompt_exactly_at_the_tier_threshold_pays_the_base_rate() -> None:
    # 200000 x 2 + 1000 x 8 = 408000 / 1e6, + 0.001
    assert request_cost(full_price(), 200_000, 1000) == pytest.approx(0.409)


def test_prompt_one_token_above_the_threshold_is_billed_whole_at_the_tier_rate() -> None:
    # 200001 x 4 + 1000 x 12 = 812004 / 1e6, + 0.001
    assert request_cost(full_price(), 200_001, 1000) == pytest.approx(0.813004)


def test_cached_input_above_the_threshold_uses_the_tier_cached_rate() -> None:
    # 100001 x 4 + 100000 x 1 + 1000 x 12 = 512004 / 1e6, + 0.001
    got = request_cost(full_price(), 200_001, 1000, cached_input_tokens=100_000)
    assert got == pytest.approx(0.513004)


def test_batch_share_mixes_sync_and_batch_costs() -> None:
    # 0.75 x 0.007 + 0.25 x 0.004 = 0.00525 + 0.001
    s = Scenario(1000, 1000, 500, batch_share=0.25)
    assert mean_request_cost(full_price(), s) == pytest.approx(0.00625)


def test_cache_hit_share_moves_input_to_the_cached_rate() -> None:
    # 500 x 2 + 500 x 0.5 + 500 x 8 = 1000 + 250 + 4000 -> 0.00525, + 0.001 fee
    s = Scenario(1000, 1000, 500, cache_hit=0.5)
    assert mean_request_cost(full_price(), s) == pytest.approx(0.00625)


def test_run_cost_totals_what_the_server_reported() -> None:
    # 0.00045 + 0.0009 = 0.00135 over 2 requests and 1500 output tokens
    rc = run_cost(price(), [(1000, 500, 0, 0), (2000, 1000, 0, 0)], today=TODAY)
    assert rc.total_usd == pytest.approx(0.00135)
    assert rc.per_request_usd == pytest.approx(0.000675)
    assert rc.per_1k_requests_usd == pytest.approx(0.675)
    assert rc.per_1m_output_tokens_usd == pytest.approx(0.9)
    assert rc.stale_price is False


def test_a_price_older_than_90_days_is_stale() -> None:
    rc = run_cost(price(as_of=date(2026, 8, 1)), [(1, 1, 0, 0)], today=TODAY)
    assert rc.stale_price is True


def test_cost_summary_of_an_unpriced_target_says_unpriced_never_zero() -> None:
    prices = Prices((price(),), ())
    got = cost_summary("groq", "nope", [(1, 1, 0, 0)], prices, today=TODAY)
    assert isinstance(got, Unpriced)
    assert got.unpriced is True
    assert "groq:nope" in got.reason


def test_cost_summary_carries_provenance() -> None:
    prices = Prices((price(),), ())
    got = cost_summary("openai", "m", [(1000, 500, 0, 0)], prices, today=TODAY)
    assert isinstance(got, RunCost)
    assert got.total_usd == pytest.approx(0.00045)
    assert got.per_1k_requests_usd == pytest.approx(0.45)
    assert got.price_as_of == "2026-11-26"
    assert got.price_source == "https://example.com/pricing"
    assert got.stale_price is False


def test_api_projection_monthly_cost_and_peak_load() -> None:
    # one request/s on average, peak factor 2: 120 RPM at peak, x 1500 tokens = 180,000 TPM
    s = Scenario(ONE_RPS_MONTH, 1000, 500, peak_factor=2)
    proj = project_api(price(), [], s, today=TODAY)
    assert proj.monthly_cost_usd == pytest.approx(0.00045 * ONE_RPS_MONTH)  # 1182.60
    assert proj.monthly_cost_usd == pytest.approx(1182.6)
    assert proj.cost_per_1m_output_tokens_usd == pytest.approx(0.9)
    assert proj.peak_rpm == pytest.approx(120)
    assert proj.peak_tpm == pytest.approx(180_000)
    assert proj.tier_needed is None  # no tiers known


def _limits(*rows: tuple[str, int, int, int | None]) -> list[RateLimit]:
    return [
        RateLimit(
            tier=t,
            model="m",
            rpm=rpm,
            tpm=tpm,
            rpd=rpd,
            source="https://example.com/limits",
            as_of=TODAY,
        )
        for t, rpm, tpm, rpd in rows
    ]


def test_tier_needed_is_the_lowest_tier_that_carries_the_peak() -> None:
    s = Scenario(ONE_RPS_MONTH, 1000, 500, peak_factor=2)  # 120 RPM, 180,000 TPM at peak
    limits = _limits(
        ("tier-1", 100, 1_000_000, None),
        ("tier-2", 500, 150_000, None),
        ("tier-3", 500, 200_000, None),
    )
    assert project_api(price(), limits, s, today=TODAY).tier_needed == "tier-3"


def test_tier_needed_checks_requests_per_day_against_the_peak_day() -> None:
    # 2,628,000 / 30.4167 days x 2 = 172,800 requests on the peak day
    s = Scenario(ONE_RPS_MONTH, 1000, 500, peak_factor=2)
    limits = _limits(("tier-1", 1000, 10**7, 100_000), ("tier-2", 1000, 10**7, 200_000))
    assert project_api(price(), limits, s, today=TODAY).tier_needed == "tier-2"


def test_a_load_above_every_tier_says_so() -> None:
    s = Scenario(ONE_RPS_MONTH * 100, 1000, 500)
    limits = _limits(("tier-1", 100, 1_000_000, None))
    assert project_api(price(), limits, s, today=TODAY).tier_needed == EXCEEDS_HIGHEST_TIER


def test_batch_traffic_does_not_count_against_the_sync_rate_limit() -> None:
    s = Scenario(ONE_RPS_MONTH, 1000, 500, peak_factor=2, batch_share=0.5)
    assert project_api(price(), [], s, today=TODAY).peak_rpm == pytest.approx(60)


def test_replicas_are_peak_over_capacity_rounded_up() -> None:
    assert replicas_needed(2.0, 0.5) == 4
    assert replicas_needed(2.0, 1.0) == 2  # exactly at capacity: no extra replica
    assert replicas_needed(2.01, 1.0) == 3
    assert replicas_needed(0.0, 1.0) == 1  # at least one box


def test_self_hosted_projection_rent_plus_energy() -> None:
    # mean 1 rps, peak 2 rps, 0.5 rps per replica -> 4 replicas at 50% utilization.
    # energy per replica: 730 h x (100 + 600 x 0.5) W x 1.2 / 1000 = 350.4 kWh; x4 = 1401.6
    # cost: 4 x 2.0 $/h x 730 h = 5840 + 1401.6 kWh x 0.10 = 140.16 -> 5980.16
    s = Scenario(ONE_RPS_MONTH, 1000, 500, peak_factor=2)
    proj = project_self_hosted(box(), 0.5, s, today=TODAY)
    assert proj.replicas == 4
    assert proj.utilization == pytest.approx(0.5)
    assert proj.energy_kwh_per_month == pytest.approx(1401.6)
    assert proj.monthly_cost_usd == pytest.approx(5980.16)
    assert proj.cost_per_request_usd == pytest.approx(5980.16 / ONE_RPS_MONTH)
    assert proj.cost_per_1m_output_tokens_usd == pytest.approx(
        5980.16 / (ONE_RPS_MONTH * 500) * 1e6
    )


def test_an_idle_replica_draws_idle_power() -> None:
    # no traffic: 1 replica at 0% -> 730 h x 100 W x 1.2 / 1000 = 87.6 kWh
    proj = project_self_hosted(box(), 1.0, Scenario(0, 1000, 500), today=TODAY)
    assert proj.energy_kwh_per_month == pytest.approx(87.6)
    assert proj.monthly_cost_usd == pytest.approx(1460 + 8.76)


def test_idle_watts_default_to_watts() -> None:
    # 730 h x 700 W x 1.2 / 1000 = 613.2 kWh whatever the load
    hw = box(idle_watts=None)
    proj = project_self_hosted(hw, 1.0, Scenario(0, 1000, 500), today=TODAY)
    assert proj.energy_kwh_per_month == pytest.approx(613.2)


def test_owned_box_spreads_capex_over_its_amortisation() -> None:
    # 12,000 / 24 months = 500 a month, no power price
    hw = box(hourly_usd=None, capex_usd=12_000, amortization_months=24, electricity_usd_per_kwh=0)
    assert project_self_hosted(hw, 1.0, Scenario(1000, 1, 1)).monthly_cost_usd == pytest.approx(500)


def test_break_even_is_where_flat_rent_meets_the_per_request_price() -> None:
    # API: 0.001 $/request; one box: 730 $/month -> 730 / 0.001 = 730,000 requests/month
    assert break_even(lambda n: 0.001 * n, lambda n: 730.0) == 730_000


def test_break_even_with_real_projections() -> None:
    # one replica (10 rps) rents for 1 $/h = 730 $/month, no power price; API 0.001 $/request
    api = price(input_per_mtok=0, output_per_mtok=0, per_request_usd=0.001)
    hw = box(hourly_usd=1.0, watts=0, idle_watts=0, electricity_usd_per_kwh=0)
    s = Scenario(1000, 100, 100)
    report = project_report(s, [ApiTarget(api)], [HardwareTarget(hw, 10.0)])
    assert report.break_even[0].requests_per_month == 730_000


def test_break_even_never_when_each_request_costs_more_on_own_hardware() -> None:
    # 0.001 rps per 730 $/month box: 0.28 $/request, against 0.001 $/request on the API
    api = price(input_per_mtok=0, output_per_mtok=0, per_request_usd=0.001)
    hw = box(hourly_usd=1.0, watts=0, idle_watts=0, electricity_usd_per_kwh=0)
    report = project_report(Scenario(1000, 1, 1), [ApiTarget(api)], [HardwareTarget(hw, 0.001)])
    assert report.break_even[0].requests_per_month is None


def test_growth_table_compounds_monthly() -> None:
    s = Scenario(1000, 1000, 500)
    rows = growth_table(s, 3, 0.10, {"api": lambda sc: project_api(price(), [], sc, TODAY)})
    assert [round(r.requests_per_month) for r in rows] == [1000, 1100, 1210]
    assert rows[2].monthly_cost_usd["api"] == pytest.approx(1210 * 0.00045)


def test_mean_load_uses_a_730_hour_month() -> None:
    assert SECONDS_PER_MONTH == 730 * 3600
    assert Scenario(ONE_RPS_MONTH, 1, 1, peak_factor=3).peak_rps == pytest.approx(3.0)


def test_a_target_with_a_measured_shape_overrides_the_scenario_shape() -> None:
    s = Scenario(1000, 10, 10)
    report = project_report(s, [ApiTarget(price(), (), 1000, 500)])
    assert report.projections[0].cost_per_request_usd == pytest.approx(0.00045)
