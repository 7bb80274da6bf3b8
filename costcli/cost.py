"""Usage x prices -> cost; monthly projection for APIs and self-hosting; break-even.

Pure functions over frozen dataclasses (DESIGN.md "Cost model"). Conventions:

- Tokens follow the OpenAI usage object: cached input is part of the input tokens,
  reasoning tokens are part of the output tokens.
- A month is 730 hours. Mean load = requests per month / (730 x 3600) requests/s;
  peak load = mean load x peak factor.
- Long-context tiers: a request whose prompt is strictly above a tier's threshold is billed
  whole at that tier's rates; a prompt exactly at the threshold pays the base rates.
- Batch: the batch discount applies to the token charges, not to a per-request fee.
  Requests sent through the batch API do not count against the synchronous RPM/TPM.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any, Literal, Protocol

from costcli.metrics import RunCost, Unpriced
from costcli.prices import (
    DEFAULT_HARDWARE_MAX_AGE_DAYS,
    DEFAULT_MAX_AGE_DAYS,
    HardwareProfile,
    ModelPrice,
    Prices,
    PriceTier,
    is_stale,
)

HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
MTOK = 1_000_000
BREAK_EVEN_CEILING = 1e12
EXCEEDS_HIGHEST_TIER = "exceeds the highest tier"

# (input_tokens, output_tokens, cached_input_tokens, reasoning_tokens)
Usage = tuple[float, float, float, float]


class RateLimitLike(Protocol):
    """What projection needs of a provider tier (catalog.RateLimit fits)."""

    tier: str
    model: str
    rpm: int | None
    tpm: int | None
    rpd: int | None
    tpd: int | None


@dataclass(frozen=True)
class Rates:
    """USD per 1M tokens that apply to one request."""

    input: float
    cached_input: float
    output: float
    reasoning: float


def rates_for(price: ModelPrice, input_tokens: float) -> Rates:
    """The base rates, or the highest tier whose threshold the prompt is strictly above.

    A tier carries the same rate fields as the base price, so one rule fills both: cached
    input defaults to the input rate, reasoning to the output rate.
    """
    rates: ModelPrice | PriceTier = price
    for candidate in sorted(price.tiers, key=lambda t: t.above_input_tokens):
        if input_tokens > candidate.above_input_tokens:
            rates = candidate
    cached, reasoning = rates.cached_input_per_mtok, rates.reasoning_per_mtok
    return Rates(
        input=rates.input_per_mtok,
        cached_input=rates.input_per_mtok if cached is None else cached,
        output=rates.output_per_mtok,
        reasoning=rates.output_per_mtok if reasoning is None else reasoning,
    )


def request_cost(
    price: ModelPrice,
    input_tokens: float,
    output_tokens: float,
    cached_input_tokens: float = 0,
    reasoning_tokens: float = 0,
    *,
    batch: bool = False,
) -> float:
    """USD for one request. Cached tokens are a part of the input, reasoning of the output."""
    if min(input_tokens, output_tokens, cached_input_tokens, reasoning_tokens) < 0:
        raise ValueError("token counts cannot be negative")
    cached = min(cached_input_tokens, input_tokens)
    reasoning = min(reasoning_tokens, output_tokens)
    rates = rates_for(price, input_tokens)
    tokens_usd = (
        (input_tokens - cached) * rates.input
        + cached * rates.cached_input
        + (output_tokens - reasoning) * rates.output
        + reasoning * rates.reasoning
    ) / MTOK
    if batch:
        tokens_usd *= 1 - price.batch_discount
    return tokens_usd + price.per_request_usd


def run_cost(
    price: ModelPrice,
    usages: Iterable[Usage],
    today: date | None = None,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
) -> RunCost:
    """What a measured run cost at `price`, from each request's reported usage."""
    total = 0.0
    requests = 0
    output_tokens = 0.0
    for input_t, output_t, cached_t, reasoning_t in usages:
        total += request_cost(price, input_t, output_t, cached_t, reasoning_t)
        requests += 1
        output_tokens += output_t
    per_request = total / requests if requests else None
    return RunCost(
        per_request_usd=per_request,
        per_1k_requests_usd=per_request * 1000 if per_request is not None else None,
        per_1m_output_tokens_usd=total / output_tokens * MTOK if output_tokens else None,
        total_usd=total,
        price_as_of=price.as_of.isoformat(),
        price_source=price.source,
        stale_price=is_stale(price.as_of, today or date.today(), max_age_days),
    )


def cost_summary(
    provider: str,
    model: str,
    usages: Iterable[Usage],
    prices: Prices,
    *,
    self_hosted: bool = False,
    today: date | None = None,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
) -> RunCost | Unpriced:
    """The results file's `summary.cost`; a target with no price says so, never 0."""
    if self_hosted:
        return Unpriced(
            reason="self-hosted: priced by hardware, not per token; see `costcli project`"
        )
    price = prices.get_model(provider, model)
    if price is None:
        where = prices.path or "prices.toml"
        return Unpriced(reason=f"no price for {provider}:{model} in {where}")
    return run_cost(price, usages, today, max_age_days)


@dataclass(frozen=True)
class Scenario:
    """A month of traffic and its token shape (tokens per request, means)."""

    requests_per_month: float
    input_tokens: float
    output_tokens: float
    peak_factor: float = 1.0
    cache_hit: float = 0.0
    batch_share: float = 0.0
    reasoning_tokens: float = 0.0

    def __post_init__(self) -> None:
        if self.requests_per_month < 0 or self.input_tokens < 0 or self.output_tokens < 0:
            raise ValueError("volume and token counts cannot be negative")
        if self.peak_factor < 1:
            raise ValueError("peak factor is peak / mean load, so at least 1")
        if not (0 <= self.cache_hit <= 1 and 0 <= self.batch_share <= 1):
            raise ValueError("cache hit and batch share are fractions between 0 and 1")

    @property
    def mean_rps(self) -> float:
        return self.requests_per_month / SECONDS_PER_MONTH

    @property
    def peak_rps(self) -> float:
        return self.mean_rps * self.peak_factor

    def with_volume(self, requests_per_month: float) -> Scenario:
        return replace(self, requests_per_month=requests_per_month)


@dataclass(frozen=True)
class Projection:
    """One row of `costcli project`: an API model or a hardware profile for a month."""

    kind: Literal["api", "self_hosted"]
    provider: str | None
    model: str | None
    hardware: str | None
    requests_per_month: float
    cost_per_request_usd: float | None
    monthly_cost_usd: float
    cost_per_1m_output_tokens_usd: float | None
    stale_price: bool
    price_as_of: date
    price_source: str
    deprecated: date | None = None
    peak_rpm: float | None = None
    peak_tpm: float | None = None
    tier_needed: str | None = None
    replicas: int | None = None
    utilization: float | None = None
    energy_kwh_per_month: float | None = None
    capacity_rps: float | None = None
    capacity_basis: str | None = None  # "sweep", "measured rate" (a floor) or "flag"

    @property
    def label(self) -> str:
        if self.kind == "api":
            return f"{self.provider}:{self.model}"
        target = f" ({self.provider}:{self.model})" if self.provider else ""
        return f"{self.hardware}{target}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["label"] = self.label
        out["price_as_of"] = self.price_as_of.isoformat()
        out["deprecated"] = self.deprecated.isoformat() if self.deprecated else None
        if self.kind == "api":
            for key in (
                "replicas",
                "utilization",
                "energy_kwh_per_month",
                "capacity_rps",
                "capacity_basis",
            ):
                out.pop(key)
        else:
            for key in ("peak_rpm", "peak_tpm", "tier_needed", "deprecated"):
                out.pop(key)
        return out


def mean_request_cost(price: ModelPrice, scenario: Scenario) -> float:
    """The mean cost of one request under the scenario's cache-hit and batch shares."""
    cached = scenario.input_tokens * scenario.cache_hit
    args = (price, scenario.input_tokens, scenario.output_tokens, cached, scenario.reasoning_tokens)
    sync = request_cost(*args)
    batched = request_cost(*args, batch=True)
    return (1 - scenario.batch_share) * sync + scenario.batch_share * batched


def tier_needed(
    rate_limits: Sequence[RateLimitLike],
    model: str,
    *,
    peak_rpm: float,
    peak_tpm: float,
    peak_rpd: float,
    peak_tpd: float,
) -> str | None:
    """The first (lowest) listed tier whose limits carry the peak; None if none is known."""
    tiers = [rl for rl in rate_limits if rl.model == model]
    if not tiers:
        return None
    for rl in tiers:
        pairs = ((rl.rpm, peak_rpm), (rl.tpm, peak_tpm), (rl.rpd, peak_rpd), (rl.tpd, peak_tpd))
        if all(limit is None or need <= limit for limit, need in pairs):
            return rl.tier
    return EXCEEDS_HIGHEST_TIER


def project_api(
    price: ModelPrice,
    rate_limits: Sequence[RateLimitLike],
    scenario: Scenario,
    today: date | None = None,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
) -> Projection:
    per_request = mean_request_cost(price, scenario)
    monthly = per_request * scenario.requests_per_month
    output_total = scenario.requests_per_month * scenario.output_tokens
    sync_share = 1 - scenario.batch_share
    tokens_per_request = scenario.input_tokens + scenario.output_tokens
    peak_rpm = scenario.peak_rps * 60 * sync_share
    peak_tpm = peak_rpm * tokens_per_request
    peak_rpd = scenario.requests_per_month / DAYS_PER_MONTH * scenario.peak_factor * sync_share
    return Projection(
        kind="api",
        provider=price.provider,
        model=price.model,
        hardware=None,
        requests_per_month=scenario.requests_per_month,
        cost_per_request_usd=per_request,
        monthly_cost_usd=monthly,
        cost_per_1m_output_tokens_usd=monthly / output_total * MTOK if output_total else None,
        stale_price=is_stale(price.as_of, today or date.today(), max_age_days),
        price_as_of=price.as_of,
        price_source=price.source,
        deprecated=price.deprecated,
        peak_rpm=peak_rpm,
        peak_tpm=peak_tpm,
        tier_needed=tier_needed(
            rate_limits,
            price.model,
            peak_rpm=peak_rpm,
            peak_tpm=peak_tpm,
            peak_rpd=peak_rpd,
            peak_tpd=peak_rpd * tokens_per_request,
        ),
    )


def replicas_needed(peak_rps: float, capacity_rps: float) -> int:
    """ceil(peak / capacity), at least one box; tolerant of float noise at exact multiples."""
    if capacity_rps <= 0:
        raise ValueError("capacity must be above 0 requests/s")
    return max(1, math.ceil(round(peak_rps / capacity_rps, 9)))


def project_self_hosted(
    hardware: HardwareProfile,
    capacity_rps: float,
    scenario: Scenario,
    *,
    provider: str | None = None,
    model: str | None = None,
    today: date | None = None,
    max_age_days: int = DEFAULT_HARDWARE_MAX_AGE_DAYS,
) -> Projection:
    replicas = replicas_needed(scenario.peak_rps, capacity_rps)
    utilization = min(1.0, scenario.mean_rps / (replicas * capacity_rps))
    idle = hardware.idle
    kwh_per_replica = (
        HOURS_PER_MONTH * (idle + (hardware.watts - idle) * utilization) * hardware.pue / 1000
    )
    energy_kwh = replicas * kwh_per_replica
    monthly = (
        replicas * hardware.fixed_monthly_usd(HOURS_PER_MONTH)
        + energy_kwh * hardware.electricity_usd_per_kwh
    )
    n = scenario.requests_per_month
    output_total = n * scenario.output_tokens
    return Projection(
        kind="self_hosted",
        provider=provider,
        model=model,
        hardware=hardware.name,
        requests_per_month=n,
        cost_per_request_usd=monthly / n if n else None,
        monthly_cost_usd=monthly,
        cost_per_1m_output_tokens_usd=monthly / output_total * MTOK if output_total else None,
        stale_price=is_stale(hardware.as_of, today or date.today(), max_age_days),
        price_as_of=hardware.as_of,
        price_source=hardware.source,
        replicas=replicas,
        utilization=utilization,
        energy_kwh_per_month=energy_kwh,
        capacity_rps=capacity_rps,
    )


def break_even(
    api_monthly_cost: Callable[[float], float],
    self_hosted_monthly_cost: Callable[[float], float],
    ceiling: float = BREAK_EVEN_CEILING,
) -> float | None:
    """The smallest monthly request volume at which self-hosting costs no more than the API.

    Both arguments map requests/month to USD/month. Self-hosting is a step function (one more
    replica at each capacity boundary), so the search scans volumes geometrically (1% steps)
    up to `ceiling`, then bisects the first bracket to one request. None: never, up to it.
    """

    def cheaper(n: float) -> bool:
        api = api_monthly_cost(n)
        return self_hosted_monthly_cost(n) <= api + 1e-9 * max(1.0, abs(api))

    if cheaper(1.0):
        return 1.0
    low, high = 1.0, 1.0
    while not cheaper(high):
        low, high = high, high * 1.01
        if high > ceiling:
            return None
    while high - low > 1:
        mid = (low + high) / 2
        if cheaper(mid):
            high = mid
        else:
            low = mid
    for whole in range(math.floor(low), math.ceil(high) + 1):
        if whole > 0 and cheaper(whole):
            return float(whole)
    return high


@dataclass(frozen=True)
class BreakEven:
    hardware: str
    api: str
    requests_per_month: float | None
    monthly_cost_usd: float | None = None  # what both cost at that volume


@dataclass(frozen=True)
class Curve:
    """Monthly cost of one row at each volume of `CURVE_VOLUMES` x the scenario's volume."""

    label: str
    kind: str
    requests_per_month: tuple[float, ...]
    monthly_cost_usd: tuple[float, ...]


@dataclass(frozen=True)
class GrowthRow:
    month: int
    requests_per_month: float
    monthly_cost_usd: dict[str, float] = field(default_factory=dict)


def growth_table(
    scenario: Scenario,
    months: int,
    growth: float,
    projectors: Mapping[str, Callable[[Scenario], Projection]],
) -> list[GrowthRow]:
    """Month by month: volume grows by `growth` (0.10 = 10%) a month from the scenario's."""
    rows = []
    for month in range(1, months + 1):
        volume = scenario.requests_per_month * (1 + growth) ** (month - 1)
        monthly = scenario.with_volume(volume)
        costs = {label: proj(monthly).monthly_cost_usd for label, proj in projectors.items()}
        rows.append(GrowthRow(month, volume, costs))
    return rows


@dataclass(frozen=True)
class ProjectionReport:
    """Everything `costcli project` renders."""

    scenario: Scenario
    projections: tuple[Projection, ...]
    break_even: tuple[BreakEven, ...] = ()
    growth: tuple[GrowthRow, ...] = ()
    notes: tuple[str, ...] = ()
    curves: tuple[Curve, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": asdict(self.scenario),
            "projections": [p.to_dict() for p in self.projections],
            "break_even": [asdict(b) for b in self.break_even],
            "growth": [asdict(g) for g in self.growth],
            "notes": list(self.notes),
            "curves": [asdict(c) for c in self.curves],
        }


@dataclass(frozen=True)
class ApiTarget:
    """An API model to project; a token shape of its own (measured) overrides the scenario's."""

    price: ModelPrice
    rate_limits: tuple[RateLimitLike, ...] = ()
    input_tokens: float | None = None
    output_tokens: float | None = None


@dataclass(frozen=True)
class HardwareTarget:
    """A self-hosted endpoint on a hardware profile, with one replica's measured capacity."""

    hardware: HardwareProfile
    capacity_rps: float
    provider: str | None = None
    model: str | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None


def _monthly(
    project: Callable[[Scenario], Projection], scenario: Scenario
) -> Callable[[float], float]:
    return lambda n: project(scenario.with_volume(n)).monthly_cost_usd


def _shaped(
    scenario: Scenario, input_tokens: float | None, output_tokens: float | None
) -> Scenario:
    return replace(
        scenario,
        input_tokens=scenario.input_tokens if input_tokens is None else input_tokens,
        output_tokens=scenario.output_tokens if output_tokens is None else output_tokens,
    )


def project_report(
    scenario: Scenario,
    apis: Sequence[ApiTarget] = (),
    hardware: Sequence[HardwareTarget] = (),
    *,
    months: int | None = None,
    growth: float = 0.0,
    today: date | None = None,
) -> ProjectionReport:
    """Every row, the break-even of each hardware against each API, and the growth table."""
    projectors: dict[str, Callable[[Scenario], Projection]] = {}
    for api in apis:
        shape = (api.input_tokens, api.output_tokens)

        def project_one(s: Scenario, api: ApiTarget = api, shape: tuple = shape) -> Projection:
            return project_api(api.price, api.rate_limits, _shaped(s, *shape), today)

        projectors[api.price.label] = project_one
    sh_projectors: dict[str, Callable[[Scenario], Projection]] = {}
    for hw in hardware:

        def project_hw(s: Scenario, hw: HardwareTarget = hw) -> Projection:
            return project_self_hosted(
                hw.hardware,
                hw.capacity_rps,
                _shaped(s, hw.input_tokens, hw.output_tokens),
                provider=hw.provider,
                model=hw.model,
                today=today,
            )

        sh_projectors[project_hw(scenario).label] = project_hw
    projections = tuple(proj(scenario) for proj in [*projectors.values(), *sh_projectors.values()])
    crossings = tuple(
        _crossing(hw_label, api_label, _monthly(api, scenario), _monthly(hw, scenario))
        for hw_label, hw in sh_projectors.items()
        for api_label, api in projectors.items()
    )
    everyone = {**projectors, **sh_projectors}
    rows = growth_table(scenario, months, growth, everyone) if months else []
    curves = cost_curves(scenario, everyone, crossings)
    return ProjectionReport(scenario, projections, crossings, tuple(rows), curves=curves)


def _crossing(
    hw_label: str, api_label: str, api: Callable[[float], float], hw: Callable[[float], float]
) -> BreakEven:
    volume = break_even(api, hw)
    return BreakEven(hw_label, api_label, volume, api(volume) if volume is not None else None)


CURVE_POINTS = 240


def cost_curves(
    scenario: Scenario,
    projectors: Mapping[str, Callable[[Scenario], Projection]],
    crossings: Sequence[BreakEven] = (),
) -> tuple[Curve, ...]:
    """Monthly cost against volume for each row, from the same projectors as the table:
    from 1/100 of the scenario's volume to 100x it (or twice the farthest break-even)."""
    base = scenario.requests_per_month or 1.0
    evens = [b.requests_per_month for b in crossings if b.requests_per_month]
    top = max([base * 100, *(2 * v for v in evens)])
    low = max(1.0, base / 100)
    volumes = tuple(low * (top / low) ** (i / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS))
    curves = []
    for label, proj in projectors.items():
        rows = [proj(scenario.with_volume(v)) for v in volumes]
        costs = tuple(r.monthly_cost_usd for r in rows)
        curves.append(Curve(label, rows[0].kind, volumes, costs))
    return tuple(curves)
