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

from costcli.files.errors import BadInputError
from costcli.pricing.prices import (
    DEFAULT_HARDWARE_MAX_AGE_DAYS,
    DEFAULT_MAX_AGE_DAYS,
    SERVICE_TIERS,
    HardwarePricing,
    HardwareProfile,
    ModelPrice,
    Prices,
    PriceTier,
    ServiceTier,
    is_stale,
)
from costcli.results.metrics import RunCost, Summary, Unpriced

HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
MTOK = 1_000_000
BREAK_EVEN_CEILING = 1e12
EXCEEDS_HIGHEST_TIER = "exceeds the highest tier"

# (input_tokens, output_tokens, cached_input_tokens, reasoning_tokens[, cache_write_tokens])
# (input, output, cached input, reasoning[, cache writes[, of them with the 1h TTL[, the
# service tier that served it]]])
Usage = (
    tuple[float, float, float, float]
    | tuple[float, float, float, float, float]
    | tuple[float, float, float, float, float, float]
    | tuple[float, float, float, float, float, float, str]
)


class RateLimitLike(Protocol):
    """What projection needs of a provider tier (catalog.RateLimit fits)."""

    tier: str
    model: str
    rpm: int | None
    tpm: int | None
    rpd: int | None
    tpd: int | None
    as_of: date


@dataclass(frozen=True)
class Rates:
    """USD per 1M tokens that apply to one request."""

    input: float
    cached_input: float
    output: float
    reasoning: float
    cache_write: float
    cache_write_1h: float


def rates_for(
    price: ModelPrice, input_tokens: float, service_tier: ServiceTier = "default"
) -> Rates:
    """The base rates, or the highest tier whose threshold the prompt is strictly above.

    A tier carries the same rate fields as the base price, so one rule fills both: cached
    input defaults to the input rate, reasoning to the output rate, a cache write to the
    input rate, a 1-hour cache write to the (5-minute) cache-write rate. A cache write keeps
    its ratio to the input rate in every tier. Under flex or
    priority processing the base rates are the tier's own figures; a long-context tier is
    scaled by the same ratio (flex input / input, flex output / output). A service tier the
    model has no price for bills the default rates (`project` says so on the row).
    """
    rates: ModelPrice | PriceTier = price
    for candidate in sorted(price.tiers, key=lambda t: t.above_input_tokens):
        if input_tokens > candidate.above_input_tokens:
            rates = candidate
    cached, reasoning = rates.cached_input_per_mtok, rates.reasoning_per_mtok
    r_in, r_out = rates.input_per_mtok, rates.output_per_mtok
    r_cached = r_in if cached is None else cached
    r_reason = r_out if reasoning is None else reasoning
    if service_tier != "default" and price.offers(service_tier):
        t_in = getattr(price, f"{service_tier}_input_per_mtok")
        t_out = getattr(price, f"{service_tier}_output_per_mtok")
        t_cached = getattr(price, f"{service_tier}_cached_input_per_mtok")
        in_ratio = t_in / price.input_per_mtok if price.input_per_mtok else 1.0
        out_ratio = t_out / price.output_per_mtok if price.output_per_mtok else 1.0
        if rates is price:
            r_cached = t_cached if t_cached is not None else r_cached * in_ratio
            r_in, r_out, r_reason = t_in, t_out, r_reason * out_ratio
        else:
            r_cached, r_in = r_cached * in_ratio, r_in * in_ratio
            r_out, r_reason = r_out * out_ratio, r_reason * out_ratio

    def scaled(write: float | None) -> float:
        if write is None or not price.input_per_mtok:
            return r_in
        return write * r_in / price.input_per_mtok

    write, write_1h = price.cache_write_per_mtok, price.cache_write_1h_per_mtok
    return Rates(
        input=r_in,
        cached_input=r_cached,
        output=r_out,
        reasoning=r_reason,
        cache_write=scaled(write),
        cache_write_1h=scaled(write if write_1h is None else write_1h),
    )


@dataclass(frozen=True)
class Billing:
    """How a request is billed beyond its token counts.

    `cache_write_tokens` are every input token written to the prompt cache;
    `cache_write_1h_tokens` are the part of them written with the 1-hour TTL (Anthropic bills
    those at 2x input, the 5-minute rest at 1.25x).
    """

    batch: bool = False
    service_tier: ServiceTier = "default"
    cache_write_tokens: float = 0
    cache_write_1h_tokens: float = 0

    def __post_init__(self) -> None:
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            raise ValueError(
                "cache_write_1h_tokens are a part of cache_write_tokens, so at most as many"
            )


def request_cost(
    price: ModelPrice,
    input_tokens: float,
    output_tokens: float,
    cached_input_tokens: float = 0,
    reasoning_tokens: float = 0,
    *,
    billing: Billing = Billing(),
) -> float:
    """USD for one request. Cached tokens are a part of the input, reasoning of the output.

    A prompt shorter than the model's `cache_min_input_tokens` is neither read from nor
    written to the cache: every input token pays the input rate. Cache writes are the
    uncached input tokens that are stored for later requests (at most all of them); the
    1-hour-TTL share of them pays the 1-hour write rate, the rest the cache-write rate.
    Batch requests pay the default rates less the batch discount (a batch is its own tier).
    """
    counts = (
        input_tokens,
        output_tokens,
        cached_input_tokens,
        reasoning_tokens,
        billing.cache_write_tokens,
        billing.cache_write_1h_tokens,
    )
    if min(counts) < 0:
        raise ValueError("token counts cannot be negative")
    cacheable = input_tokens >= price.cache_min_input_tokens
    cached = min(cached_input_tokens, input_tokens) if cacheable else 0.0
    written = min(billing.cache_write_tokens, input_tokens - cached) if cacheable else 0.0
    # the 1h share keeps its proportion when the writes are capped at the uncached input
    share_1h = (
        billing.cache_write_1h_tokens / billing.cache_write_tokens
        if billing.cache_write_tokens
        else 0.0
    )
    written_1h = written * share_1h
    reasoning = min(reasoning_tokens, output_tokens)
    rates = rates_for(price, input_tokens, "default" if billing.batch else billing.service_tier)
    tokens_usd = (
        (input_tokens - cached - written) * rates.input
        + cached * rates.cached_input
        + (written - written_1h) * rates.cache_write
        + written_1h * rates.cache_write_1h
        + (output_tokens - reasoning) * rates.output
        + reasoning * rates.reasoning
    ) / MTOK
    if billing.batch:
        tokens_usd *= 1 - price.batch_discount
    return tokens_usd + price.per_request_usd


def usage_cost(price: ModelPrice, usage: Usage) -> float:
    """USD for one request's reported usage, as `run_cost` adds it up (the spend cap prices
    each finished request with it, so its running total is the run's cost)."""
    input_t, output_t, cached_t, reasoning_t = usage[:4]
    written = usage[4] if len(usage) > 4 else 0
    written_1h = usage[5] if len(usage) > 5 else 0
    served = usage[6] if len(usage) > 6 else "default"
    # the tier the provider says served it (Responses: flex, priority); else default
    tier: ServiceTier = next((t for t in SERVICE_TIERS if t == served), "default")
    billing = Billing(
        service_tier=tier, cache_write_tokens=written, cache_write_1h_tokens=written_1h
    )
    return request_cost(price, input_t, output_t, cached_t, reasoning_t, billing=billing)


class ReportedUsage(Protocol):
    """What a request reported of its usage (a `RequestRecord`, or a `Measurement` in
    flight: the same fields)."""

    @property
    def input_tokens(self) -> int | None: ...
    @property
    def output_tokens(self) -> int | None: ...
    @property
    def tokens_estimated(self) -> bool: ...
    @property
    def cached_input_tokens(self) -> int | None: ...
    @property
    def reasoning_tokens(self) -> int | None: ...
    @property
    def cache_write_tokens(self) -> int | None: ...
    @property
    def cache_write_1h_tokens(self) -> int | None: ...
    @property
    def service_tier(self) -> str | None: ...


def billed_usage(r: ReportedUsage) -> Usage | None:
    """A request's usage as the run's cost bills it; None where the server reported no
    usage (costcli counted chunks instead): every answer with reported usage is billed, an
    invalid_output one too."""
    if r.output_tokens is None or r.tokens_estimated:
        return None
    return (
        r.input_tokens or 0,
        r.output_tokens or 0,
        r.cached_input_tokens or 0,
        r.reasoning_tokens or 0,
        r.cache_write_tokens or 0,
        min(r.cache_write_1h_tokens or 0, r.cache_write_tokens or 0),
        r.service_tier or "default",
    )


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
    for usage in usages:
        total += usage_cost(price, usage)
        requests += 1
        output_tokens += usage[1]
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
    return run_cost(price, usages, today)


def with_outcomes(cost: RunCost | Unpriced | None, summary: Summary) -> RunCost | Unpriced | None:
    """The run's cost per conversation and per correct answer, where the run has them.

    Per correct answer is the whole run's cost (wrong and failed answers are paid for too)
    over the correct answers; with none correct it is None, never infinite."""
    if not isinstance(cost, RunCost):
        return cost
    sessions, quality = summary.sessions, summary.quality
    return cost.model_copy(
        update={
            "per_session_usd": cost.total_usd / sessions.total if sessions else None,
            "per_correct_answer_usd": cost.total_usd / quality.correct
            if quality and quality.correct
            else None,
        }
    )


HOURS_PER_DAY = 24
# where a row's token shape came from (Projection.token_basis); the third kind is
# "tokenizer:NAME" (costcli/token_basis.py)
BASIS_MEASURED = "measured"  # that model's own usage in a results file
BASIS_ESTIMATE = "estimate"  # another model's measured shape, converted by a stated factor
BASIS_GIVEN = "given"  # --input-tokens / --output-tokens


@dataclass(frozen=True)
class Scenario:
    """A month of traffic and its token shape (tokens per request, means).

    `output_tokens` is the visible answer; `reasoning_tokens` are hidden tokens spent on top
    of it (None: no figure, which under-prices a reasoning model and says so).
    `cache_write` is the share of input tokens written to the prompt cache per request; None
    means the uncached share when caching is in play (1 - cache_hit), else none.
    `hourly_profile` (24 relative weights) spreads the mean load over the day; without one the
    peak is the mean x `peak_factor`. `token_basis` says where the shape came from.
    """

    requests_per_month: float
    input_tokens: float
    output_tokens: float
    peak_factor: float = 1.0
    cache_hit: float = 0.0
    batch_share: float = 0.0
    reasoning_tokens: float | None = None
    cache_write: float | None = None
    service_tier: ServiceTier = "default"
    hourly_profile: tuple[float, ...] | None = None
    min_replicas: int = 1
    pricing: HardwarePricing = "on-demand"
    token_basis: str = BASIS_GIVEN
    basis_note: str | None = None
    # where cache_hit came from: "given" (--cache-hit), "measured" (the run's
    # cache_hit_share) or "none" (no figure: nothing priced as cached)
    cache_hit_basis: str = BASIS_GIVEN

    def __post_init__(self) -> None:
        if self.requests_per_month < 0 or self.input_tokens < 0 or self.output_tokens < 0:
            raise ValueError("volume and token counts cannot be negative")
        if self.reasoning_tokens is not None and self.reasoning_tokens < 0:
            raise ValueError("reasoning tokens cannot be negative")
        if self.peak_factor < 1:
            raise ValueError("peak factor is peak / mean load, so at least 1")
        shares = (
            self.cache_hit,
            self.batch_share,
            0.0 if self.cache_write is None else self.cache_write,
        )
        if not all(0 <= x <= 1 for x in shares):
            raise ValueError("cache hit, cache write and batch share are fractions between 0 and 1")
        if self.min_replicas < 0:
            raise ValueError("min replicas cannot be negative")
        profile = self.hourly_profile
        if profile is not None and (
            len(profile) != HOURS_PER_DAY or min(profile) < 0 or sum(profile) <= 0
        ):
            raise ValueError("an hourly profile is 24 weights, none negative, not all 0")

    @property
    def mean_rps(self) -> float:
        return self.requests_per_month / SECONDS_PER_MONTH

    @property
    def hour_loads(self) -> tuple[float, ...] | None:
        """Requests/s in each hour of the day: mean load x w_h / mean(w); None: no profile."""
        if self.hourly_profile is None:
            return None
        mean_w = sum(self.hourly_profile) / HOURS_PER_DAY
        return tuple(self.mean_rps * w / mean_w for w in self.hourly_profile)

    @property
    def peak_rps(self) -> float:
        """The busiest hour's load with a profile, else the mean x the peak factor."""
        loads = self.hour_loads
        return max(loads) if loads is not None else self.mean_rps * self.peak_factor

    @property
    def written_share(self) -> float:
        if self.cache_write is not None:
            return self.cache_write
        return 1 - self.cache_hit if self.cache_hit > 0 else 0.0

    def with_volume(self, requests_per_month: float) -> Scenario:
        return replace(self, requests_per_month=requests_per_month)


def parse_hourly_profile(text: str) -> tuple[float, ...]:
    """'w0,...,w23' -> 24 weights; a BadInputError naming the option otherwise."""
    try:
        weights = tuple(float(w) for w in text.split(","))
    except ValueError:
        weights = ()
    if len(weights) != HOURS_PER_DAY or min(weights) < 0 or sum(weights) <= 0:
        raise BadInputError(
            f"--hourly-profile {text}: give 24 comma-separated weights, none negative, not all 0"
        )
    return weights


def shutdown_note(label: str, day: date, today: date) -> str:
    """'shut down on' for a date passed, 'shuts down on' for one to come."""
    if day <= today:
        return f"{label} shut down on {day.isoformat()}"
    return f"{label} shuts down on {day.isoformat()}, within the projected period"


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
    token_basis: str = BASIS_GIVEN
    basis_note: str | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    reasoning_tokens: float | None = None
    reasoning_unpriced: bool = False
    deprecated: date | None = None
    shuts_down: date | None = None
    service_tier: str | None = None
    peak_rpm: float | None = None
    peak_tpm: float | None = None
    tier_needed: str | None = None
    rate_limits_as_of: date | None = None
    stale_rate_limits: bool = False
    replicas: int | None = None
    replicas_by_hour: tuple[int, ...] | None = None
    replica_hours_per_month: float | None = None
    pricing: str | None = None
    utilization: float | None = None
    energy_kwh_per_month: float | None = None
    capacity_rps: float | None = None
    capacity_basis: str | None = None  # "sweep", "measured rate" (a floor) or "flag"
    meets_slo: bool | None = None  # measured in the run: met its SLO; None: not measured
    notes: tuple[str, ...] = ()
    cache_hit: float | None = None  # the share priced as cached, and where it came from
    cache_hit_basis: str | None = None
    accuracy: float | None = None  # graded answers of that model in the run
    cost_per_correct_answer_usd: float | None = None  # cost per request / accuracy

    @property
    def label(self) -> str:
        if self.kind == "api":
            return f"{self.provider}:{self.model}"
        target = f" ({self.provider}:{self.model})" if self.provider else ""
        return f"{self.hardware}{target}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["label"] = self.label
        for key, value in out.items():
            if isinstance(value, date):
                out[key] = value.isoformat()
            elif isinstance(value, tuple):
                out[key] = list(value)
        api_only = (
            "peak_rpm",
            "peak_tpm",
            "tier_needed",
            "deprecated",
            "shuts_down",
            "service_tier",
            "rate_limits_as_of",
            "stale_rate_limits",
            "reasoning_tokens",
            "reasoning_unpriced",
        )
        hw_only = (
            "replicas",
            "replicas_by_hour",
            "replica_hours_per_month",
            "pricing",
            "utilization",
            "energy_kwh_per_month",
            "capacity_rps",
            "capacity_basis",
        )
        for key in hw_only if self.kind == "api" else api_only:
            out.pop(key)
        return out


def mean_request_cost(price: ModelPrice, scenario: Scenario) -> float:
    """The mean cost of one request under the scenario's cache, batch and service-tier shares.

    Reasoning tokens are billed on top of the visible output, at the reasoning rate.
    """
    reasoning = scenario.reasoning_tokens or 0.0
    cached = scenario.input_tokens * scenario.cache_hit
    written = scenario.input_tokens * scenario.written_share
    args = (price, scenario.input_tokens, scenario.output_tokens + reasoning, cached, reasoning)
    sync = request_cost(
        *args, billing=Billing(service_tier=scenario.service_tier, cache_write_tokens=written)
    )
    batched = request_cost(*args, billing=Billing(batch=True, cache_write_tokens=written))
    return (1 - scenario.batch_share) * sync + scenario.batch_share * batched


class UsageTierLike(Protocol):
    """What tier fit needs of an account tier's spend cap (catalog.UsageTier fits)."""

    tier: str
    monthly_spend_cap_usd: float | None


@dataclass(frozen=True)
class PeakLoad:
    """The busiest minute's and day's requests and tokens that a tier must carry."""

    rpm: float
    tpm: float
    rpd: float
    tpd: float


def tier_needed(
    rate_limits: Sequence[RateLimitLike],
    model: str,
    peak: PeakLoad,
    *,
    monthly_cost_usd: float = 0.0,
    usage_tiers: Sequence[UsageTierLike] = (),
) -> str | None:
    """The first (lowest) listed tier whose limits AND monthly spend cap carry the projection.

    A tier with no cap in `usage_tiers` has none known; None: no limits known for the model.
    """
    tiers = [rl for rl in rate_limits if rl.model == model]
    if not tiers:
        return None
    caps = {t.tier: t.monthly_spend_cap_usd for t in usage_tiers}
    for rl in tiers:
        pairs = ((rl.rpm, peak.rpm), (rl.tpm, peak.tpm), (rl.rpd, peak.rpd), (rl.tpd, peak.tpd))
        cap = caps.get(rl.tier)
        fits_cap = cap is None or monthly_cost_usd <= cap
        if fits_cap and all(limit is None or need <= limit for limit, need in pairs):
            return rl.tier
    return EXCEEDS_HIGHEST_TIER


def reasoning_note(labels: Sequence[str]) -> str | None:
    """One note for every reasoning model priced from a shape with no reasoning figure."""
    if not labels:
        return None
    names = ", ".join(labels)
    return (
        f"reasoning models priced without their hidden tokens (the shape has no reasoning "
        f"figure; pass --reasoning-tokens N): {names}"
    )


def api_peak(scenario: Scenario) -> PeakLoad:
    """The synchronous load a tier must carry: the peak minute, and the busiest day (mean x
    peak factor without an hourly profile). Batch requests do not count against it."""
    sync_share = 1 - scenario.batch_share
    tokens = scenario.input_tokens + scenario.output_tokens + (scenario.reasoning_tokens or 0.0)
    rpm = scenario.peak_rps * 60 * sync_share
    day_factor = 1.0 if scenario.hourly_profile is not None else scenario.peak_factor
    rpd = scenario.requests_per_month / DAYS_PER_MONTH * day_factor * sync_share
    return PeakLoad(rpm, rpm * tokens, rpd, rpd * tokens)


def _api_notes(
    price: ModelPrice,
    scenario: Scenario,
    rate_limits: Sequence[RateLimitLike],
    today: date,
    period_days: float,
) -> tuple[list[str], date | None, bool]:
    """The row's notes (reasoning, service tier, shut-down, stale limits), and the rate
    limits' date and staleness."""
    notes = []
    if not price.offers(scenario.service_tier):
        notes.append(f"{price.label} has no {scenario.service_tier} price; billed at default")
    if price.deprecated and (price.deprecated - today).days <= period_days:
        instead = f"; replacement: {price.replacement}" if price.replacement else ""
        notes.append(shutdown_note(price.label, price.deprecated, today) + instead)
    used = [rl for rl in rate_limits if rl.model == price.model]
    limits_as_of = min((rl.as_of for rl in used), default=None)
    stale = limits_as_of is not None and is_stale(limits_as_of, today, DEFAULT_MAX_AGE_DAYS)
    if stale and limits_as_of is not None:
        age = (today - limits_as_of).days
        notes.append(f"{price.label}: rate limits are {age} days old (as_of {limits_as_of})")
    return notes, limits_as_of, stale


def project_api(
    price: ModelPrice,
    rate_limits: Sequence[RateLimitLike],
    scenario: Scenario,
    today: date | None = None,
    *,
    usage_tiers: Sequence[UsageTierLike] = (),
    period_days: float = DAYS_PER_MONTH,
) -> Projection:
    """One API row. Rate limits are checked at the peak (the busiest hour with a profile).

    A reasoning-token figure is priced on every model it is given for (at the reasoning rate,
    else the output rate); on a model not marked as reasoning the row says so.
    """
    today = today or date.today()
    unreasoned = []
    if scenario.reasoning_tokens and not price.reasoning:
        unreasoned.append(
            f"{price.label} is not marked reasoning = true: its {scenario.reasoning_tokens:g} "
            "reasoning tokens per request are priced at its output rate"
        )
    per_request = mean_request_cost(price, scenario)
    monthly = per_request * scenario.requests_per_month
    output_total = scenario.requests_per_month * scenario.output_tokens
    peak = api_peak(scenario)
    notes, limits_as_of, stale_limits = _api_notes(price, scenario, rate_limits, today, period_days)
    soon = price.deprecated and (price.deprecated - today).days <= period_days
    return Projection(
        kind="api",
        provider=price.provider,
        model=price.model,
        hardware=None,
        requests_per_month=scenario.requests_per_month,
        cost_per_request_usd=per_request,
        monthly_cost_usd=monthly,
        cost_per_1m_output_tokens_usd=monthly / output_total * MTOK if output_total else None,
        stale_price=is_stale(price.as_of, today, DEFAULT_MAX_AGE_DAYS),
        price_as_of=price.as_of,
        price_source=price.source,
        token_basis=scenario.token_basis,
        basis_note=scenario.basis_note,
        input_tokens=scenario.input_tokens,
        output_tokens=scenario.output_tokens,
        reasoning_tokens=scenario.reasoning_tokens,
        reasoning_unpriced=price.reasoning and scenario.reasoning_tokens is None,
        deprecated=price.deprecated,
        shuts_down=price.deprecated if soon else None,
        service_tier=scenario.service_tier if price.offers(scenario.service_tier) else "default",
        peak_rpm=peak.rpm,
        peak_tpm=peak.tpm,
        tier_needed=tier_needed(
            rate_limits, price.model, peak, monthly_cost_usd=monthly, usage_tiers=usage_tiers
        ),
        rate_limits_as_of=limits_as_of,
        stale_rate_limits=stale_limits,
        notes=(*unreasoned, *notes),
    )


def replicas_needed(peak_rps: float, capacity_rps: float, min_replicas: int = 1) -> int:
    """ceil(peak / capacity), at least `min_replicas`; tolerant of float noise at exact multiples."""
    if capacity_rps <= 0:
        raise ValueError("capacity must be above 0 requests/s")
    return max(min_replicas, math.ceil(round(peak_rps / capacity_rps, 9)))


def _rent(hardware: HardwareProfile, pricing: HardwarePricing) -> float | None:
    """The hourly rent under the pricing model; None for an owned box (capex)."""
    if hardware.hourly_usd is None:
        if pricing != "on-demand":
            raise BadInputError(
                f"prices.toml: hardware '{hardware.name}' is owned (capex_usd), so it has no "
                f"{pricing} rate; pass --pricing on-demand"
            )
        return None
    rent = hardware.rent_per_hour(pricing)
    if rent is None:
        key = f"{pricing}_hourly_usd"
        raise BadInputError(
            f"prices.toml: hardware '{hardware.name}' has no {key}; add it or pass "
            "--pricing on-demand"
        )
    return rent


def replicas_by_hour(
    scenario: Scenario, capacity_rps: float
) -> tuple[tuple[float, ...], list[int]]:
    """Each hour of the day's mean load and the replicas it runs. Without a profile: the
    mean load every hour, and the peak's replicas around the clock (today's model)."""
    loads = scenario.hour_loads or (scenario.mean_rps,) * HOURS_PER_DAY
    if scenario.hour_loads is None:
        flat = replicas_needed(scenario.peak_rps, capacity_rps, scenario.min_replicas)
        return loads, [flat] * HOURS_PER_DAY
    return loads, [replicas_needed(load, capacity_rps, scenario.min_replicas) for load in loads]


def monthly_kwh(
    hardware: HardwareProfile, capacity_rps: float, loads: Sequence[float], by_hour: Sequence[int]
) -> float:
    """Energy for a month: each replica draws idle + (watts - idle) x its hour's utilisation,
    times the PUE."""
    hour_share = HOURS_PER_MONTH / HOURS_PER_DAY
    idle, busy = hardware.idle, hardware.watts - hardware.idle
    watt_hours = 0.0
    for load, replicas in zip(loads, by_hour, strict=True):
        util = min(1.0, load / (replicas * capacity_rps)) if replicas else 0.0
        watt_hours += replicas * (idle + busy * util) * hour_share
    return watt_hours * hardware.pue / 1000


def project_self_hosted(
    hardware: HardwareProfile,
    capacity_rps: float,
    scenario: Scenario,
    *,
    provider: str | None = None,
    model: str | None = None,
    today: date | None = None,
) -> Projection:
    """Replicas, rent and energy for a month.

    Without a profile every hour runs the peak's replicas. With one, hour h runs
    max(min_replicas, ceil(load_h / capacity)) replicas, each drawing idle + (watts - idle) x
    that hour's utilisation; rent is paid per replica-hour (730/24 of each hour of the day a
    month). An owned box is bought for the busiest hour and paid off whatever the hour.
    """
    loads, by_hour = replicas_by_hour(scenario, capacity_rps)
    hour_share = HOURS_PER_MONTH / HOURS_PER_DAY  # each hour of the day, over a month
    energy_kwh = monthly_kwh(hardware, capacity_rps, loads, by_hour)
    replica_hours = sum(by_hour) * hour_share
    rent = _rent(hardware, scenario.pricing)
    fixed = (
        rent * replica_hours
        if rent is not None
        else max(by_hour) * hardware.fixed_monthly_usd(HOURS_PER_MONTH)
    )
    monthly = fixed + energy_kwh * hardware.electricity_usd_per_kwh
    served = sum(loads) * hour_share / capacity_rps  # replica-hours of work
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
        stale_price=is_stale(hardware.as_of, today or date.today(), DEFAULT_HARDWARE_MAX_AGE_DAYS),
        price_as_of=hardware.as_of,
        price_source=hardware.source,
        token_basis=scenario.token_basis,
        basis_note=scenario.basis_note,
        input_tokens=scenario.input_tokens,
        output_tokens=scenario.output_tokens,
        replicas=max(by_hour),
        replicas_by_hour=tuple(by_hour) if scenario.hour_loads is not None else None,
        replica_hours_per_month=replica_hours,
        pricing=scenario.pricing if rent is not None else "owned",
        utilization=min(1.0, served / replica_hours) if replica_hours else None,
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
    rank: str | None = None  # "monthly", "per-correct" (cost per correct answer) or None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "scenario": asdict(self.scenario),
            "projections": [p.to_dict() for p in self.projections],
            "break_even": [asdict(b) for b in self.break_even],
            "growth": [asdict(g) for g in self.growth],
            "notes": list(self.notes),
            "curves": [asdict(c) for c in self.curves],
        }


@dataclass(frozen=True)
class ApiTarget:
    """An API model to project; a token shape of its own (measured) overrides the scenario's.

    `token_basis` and `basis_note` say where that own shape came from.
    """

    price: ModelPrice
    rate_limits: tuple[RateLimitLike, ...] = ()
    input_tokens: float | None = None
    output_tokens: float | None = None
    reasoning_tokens: float | None = None
    token_basis: str | None = None
    basis_note: str | None = None
    usage_tiers: tuple[UsageTierLike, ...] = ()


@dataclass(frozen=True)
class HardwareTarget:
    """A self-hosted endpoint on a hardware profile, with one replica's measured capacity."""

    hardware: HardwareProfile
    capacity_rps: float
    provider: str | None = None
    model: str | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    token_basis: str | None = None


def _monthly(
    project: Callable[[Scenario], Projection], scenario: Scenario
) -> Callable[[float], float]:
    return lambda n: project(scenario.with_volume(n)).monthly_cost_usd


def _shaped(
    scenario: Scenario,
    input_tokens: float | None,
    output_tokens: float | None,
    reasoning_tokens: float | None = None,
    token_basis: str | None = None,
    basis_note: str | None = None,
) -> Scenario:
    """The scenario with a target's own shape; its basis travels with it."""
    return replace(
        scenario,
        input_tokens=scenario.input_tokens if input_tokens is None else input_tokens,
        output_tokens=scenario.output_tokens if output_tokens is None else output_tokens,
        reasoning_tokens=scenario.reasoning_tokens
        if reasoning_tokens is None
        else reasoning_tokens,
        token_basis=scenario.token_basis if token_basis is None else token_basis,
        basis_note=scenario.basis_note if token_basis is None else basis_note,
    )


Projector = Callable[[Scenario], Projection]


def api_projector(api: ApiTarget, today: date | None, period_days: float) -> Projector:
    """Scenario -> the API row, at the target's own shape where it has one."""

    def project_one(s: Scenario) -> Projection:
        shaped = _shaped(
            s, api.input_tokens, api.output_tokens, api.reasoning_tokens, api.token_basis,
            api.basis_note,
        )  # fmt: skip
        return project_api(
            api.price,
            api.rate_limits,
            shaped,
            today,
            usage_tiers=api.usage_tiers,
            period_days=period_days,
        )

    return project_one


def hardware_projector(hw: HardwareTarget, today: date | None) -> Projector:
    """Scenario -> the self-hosted row, at the target's own shape where it has one."""

    def project_hw(s: Scenario) -> Projection:
        shaped = _shaped(s, hw.input_tokens, hw.output_tokens, token_basis=hw.token_basis)
        return project_self_hosted(
            hw.hardware, hw.capacity_rps, shaped, provider=hw.provider, model=hw.model, today=today
        )

    return project_hw


def project_report(
    scenario: Scenario,
    apis: Sequence[ApiTarget] = (),
    hardware: Sequence[HardwareTarget] = (),
    *,
    months: int | None = None,
    growth: float = 0.0,
    today: date | None = None,
) -> ProjectionReport:
    """Every row, the break-even of each hardware against each API, the growth table and
    the cost curves, all from one projector per row.

    The projected period is `months` (one when not given): a model shutting down within it
    carries `shuts_down` and a note.
    """
    period_days = DAYS_PER_MONTH * (months or 1)
    projectors = {api.price.label: api_projector(api, today, period_days) for api in apis}
    sh_projectors: dict[str, Projector] = {}
    for hw in hardware:
        project_hw = hardware_projector(hw, today)
        sh_projectors[project_hw(scenario).label] = project_hw
    projections = tuple(proj(scenario) for proj in [*projectors.values(), *sh_projectors.values()])
    crossings = tuple(
        _crossing(hw_label, api_label, _monthly(api, scenario), _monthly(hw, scenario))
        for hw_label, hw in sh_projectors.items()
        for api_label, api in projectors.items()
    )
    everyone = {**projectors, **sh_projectors}
    rows = growth_table(scenario, months, growth, everyone) if months else []
    basis_notes = {
        f"token basis {p.token_basis}: {p.basis_note}": None for p in projections if p.basis_note
    }
    unpriced = reasoning_note([p.label for p in projections if p.reasoning_unpriced])
    row_notes = (note for p in projections for note in p.notes)
    notes = tuple([*basis_notes, *([unpriced] if unpriced else []), *row_notes])
    curves = cost_curves(scenario, everyone, crossings)
    return ProjectionReport(scenario, projections, crossings, tuple(rows), notes, curves)


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
    from 1/100 of the scenario's volume to 100x it (or twice the farthest break-even),
    through the scenario's volume itself."""
    base = scenario.requests_per_month or 1.0
    evens = [b.requests_per_month for b in crossings if b.requests_per_month]
    top = max([base * 100, *(2 * v for v in evens)])
    low = max(1.0, base / 100)
    steps = (low * (top / low) ** (i / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS))
    volumes = tuple(sorted({*steps, base}))  # through the table's own row
    curves = []
    for label, proj in projectors.items():
        rows = [proj(scenario.with_volume(v)) for v in volumes]
        costs = tuple(r.monthly_cost_usd for r in rows)
        curves.append(Curve(label, rows[0].kind, volumes, costs))
    return tuple(curves)
