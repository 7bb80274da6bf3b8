"""From a measured run (or a token shape alone) to a month of traffic on each option.

The one path that `costcli run` (its projection after the table), `costcli project` and
the HTML report share: `measured_targets` reads what a results document measured,
`project` turns it and a `ProjectionPlan` into a `ProjectionReport` through cost.py.

- The scenario's token shape is the mean over the measured targets that succeeded; each
  measured target is then priced at its own measured shape. Flags override both.
- A self-hosted target's capacity per replica is `--capacity-rps`, else the sweep's
  capacity, else the run's sustained rate: a floor, said so in a note.
- `all_models` adds every priced model of the catalogue's API providers that has not shut
  down (what `costcli run` shows); `models` adds named ones.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from costcli.adapters.catalog import Catalog, load_catalog
from costcli.files.errors import BadInputError
from costcli.pricing.cost import (
    BASIS_ESTIMATE,
    BASIS_GIVEN,
    BASIS_MEASURED,
    ApiTarget,
    BreakEven,
    HardwareTarget,
    Projection,
    ProjectionReport,
    Scenario,
    project_report,
)
from costcli.pricing.prices import Prices, is_retired, load_prices, require_live
from costcli.pricing.token_basis import (
    TokenShape,
    api_shape,
    measured_shape,
    scenario_basis,
    workload_prompts,
)
from costcli.pricing.trace_scenario import BASIS_TRACE, trace_plan, trace_scenario
from costcli.results.document import RunResult, TargetResult

DEFAULT_REQUESTS_PER_MONTH = 1_000_000
DEFAULT_PEAK_FACTOR = 3.0


class ProjectionPlan(BaseModel):
    """A month of traffic and what to price for it: the options of `costcli project`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_month: float = Field(DEFAULT_REQUESTS_PER_MONTH, gt=0, allow_inf_nan=False)
    peak_factor: float = Field(DEFAULT_PEAK_FACTOR, ge=1, allow_inf_nan=False)
    cache_hit: float | None = Field(None, ge=0, le=1)  # None: the run's measured share
    rank: Literal["monthly", "per-correct"] | None = None  # None: the report's own order
    batch_share: float = Field(0.0, ge=0, le=1)
    input_tokens: float | None = Field(None, ge=0, allow_inf_nan=False)
    output_tokens: float | None = Field(None, ge=0, allow_inf_nan=False)
    models: tuple[str, ...] = ()
    all_models: bool = False
    hardware: str | None = None
    capacity_rps: float | None = Field(None, gt=0, allow_inf_nan=False)
    reasoning_tokens: float | None = Field(None, ge=0, allow_inf_nan=False)
    cache_write: float | None = Field(None, ge=0, le=1)
    service_tier: Literal["default", "flex", "priority"] = "default"
    hourly_profile: tuple[float, ...] | None = None  # 24 relative weights, hour of day
    min_replicas: int = Field(1, ge=1)
    pricing: Literal["on-demand", "spot", "reserved"] = "on-demand"
    months: int | None = Field(None, ge=1, le=120)
    growth: float = Field(0.0, ge=-1, allow_inf_nan=False)
    prices: Path | None = None
    providers: tuple[Path, ...] = ()
    # a Mooncake trace's volume, shape, prefix hit and hourly profile (pricing/trace_scenario.py)
    trace: Path | None = None
    trace_block_tokens: int = Field(512, ge=1, le=8192)


@dataclass(frozen=True)
class MeasuredTarget:
    """What a results document measured of one target, as the projection needs it."""

    provider: str
    model: str
    self_hosted: bool
    hardware: str | None
    capacity_rps: float | None
    capacity_load: str | None
    swept: bool  # the run was a sweep (a missing capacity then means no point met the SLO)
    measured_rps: float
    input_tokens: float | None  # mean per successful request; None when none succeeded
    output_tokens: float | None
    shape: TokenShape | None = None  # that model's own usage, reasoning split out
    meets_slo: bool | None = None  # the run judged it against its SLO (None: no SLO, no sweep)
    cache_hit_share: float | None = None  # cached / input tokens, where the server said
    accuracy: float | None = None  # graded answers (`expected`)

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"


def measured_targets(result: RunResult | None) -> list[MeasuredTarget]:
    """The one reading of a results document for projections."""
    if result is None:
        return []
    out = []
    for t in result.targets:
        ok = t.summary.requests.ok > 0
        out.append(
            MeasuredTarget(  # priced (and labelled) by the provider its prices are listed under
                provider=t.price_provider or t.provider,
                model=t.model,
                self_hosted=t.self_hosted,
                hardware=t.hardware,
                capacity_rps=t.capacity_rps,
                capacity_load=t.capacity_load,
                swept=t.sweep is not None,
                measured_rps=t.summary.throughput.requests_per_s,
                input_tokens=t.summary.input_tokens.mean if ok else None,
                output_tokens=t.summary.output_tokens.mean if ok else None,
                shape=measured_shape(t.summary),
                meets_slo=_met_slo(t),
                cache_hit_share=t.summary.cache_hit_share,
                accuracy=t.summary.quality.accuracy if t.summary.quality else None,
            )
        )
    return out


def _met_slo(t: TargetResult) -> bool | None:
    """A sweep met the SLO where it found a capacity; a plain run with an SLO, where 9 in 10
    requests met it and errors stayed under 1% (metrics.meets)."""
    from costcli.results.metrics import meets

    if t.sweep is not None:
        return t.capacity_rps is not None
    goodput = t.summary.goodput
    return meets(t.summary, goodput.slo) if goodput is not None else None


def result_prompts(result: RunResult | None) -> list[Any] | None:
    """The run's workload prompts, rebuilt for tokenizer counts (None if it cannot be)."""
    if result is None:
        return None
    info = result.meta.workload
    return workload_prompts(info.name, info.seed, info.unique_prefix, info.sha256)


def scenario_for(plan: ProjectionPlan, measured: Sequence[MeasuredTarget]) -> Scenario:
    """The plan's volume and shares; its token shape, else the mean measured shape."""
    shapes = [t for t in measured if t.input_tokens is not None and t.output_tokens is not None]
    tokens_in, tokens_out = plan.input_tokens, plan.output_tokens
    if shapes and tokens_in is None:
        tokens_in = sum(t.input_tokens or 0.0 for t in shapes) / len(shapes)
    if shapes and tokens_out is None:
        tokens_out = sum(t.output_tokens or 0.0 for t in shapes) / len(shapes)
    if tokens_in is None or tokens_out is None:
        raise BadInputError(
            "no token shape: pass --input-tokens and --output-tokens, or a results file "
            "with successful requests"
        )
    from costcli.pricing.cost import parse_hourly_profile

    basis, note = scenario_basis(plan.input_tokens, plan.output_tokens, [t.label for t in shapes])
    cache_hit, cache_basis = measured_cache_hit(plan, measured)
    profile = plan.hourly_profile
    try:
        return Scenario(
            plan.requests_per_month,
            tokens_in,
            tokens_out,
            plan.peak_factor,
            cache_hit,
            plan.batch_share,
            reasoning_tokens=plan.reasoning_tokens,
            cache_write=plan.cache_write,
            service_tier=plan.service_tier,
            hourly_profile=parse_hourly_profile(",".join(map(str, profile))) if profile else None,
            min_replicas=plan.min_replicas,
            pricing=plan.pricing,
            token_basis=basis,
            basis_note=note,
            cache_hit_basis=cache_basis,
        )
    except ValueError as exc:
        raise BadInputError(f"scenario: {exc}") from None


def capacity_note(box: HardwareTarget, how: str, load: str | None) -> str:
    """One line on where a self-hosted row's per-replica capacity came from."""
    label = f"{box.provider}:{box.model}"
    on = box.hardware.name
    if how == "sweep":
        at = f" at {load}" if load else ""
        return f"{label} on {on}: one replica carries {box.capacity_rps:.2f} req/s (sweep{at})"
    if how == "flag":
        return f"{label} on {on}: one replica carries {box.capacity_rps:.2f} req/s (--capacity-rps)"
    if how == "no load met the SLO":
        return (
            f"{label} on {on}: no load point of the sweep met the SLO; priced at the last "
            f"point's {box.capacity_rps:.2f} req/s per replica, which misses it"
        )
    return (
        f"{label} on {on}: capacity taken from this run's {box.capacity_rps:.2f} req/s, a floor; "
        "`costcli run --sweep` measures it"
    )


@dataclass
class _Targets:
    apis: list[ApiTarget] = dataclasses.field(default_factory=list)
    boxes: list[HardwareTarget] = dataclasses.field(default_factory=list)
    basis: dict[str, str] = dataclasses.field(default_factory=dict)  # hardware row -> basis
    notes: list[str] = dataclasses.field(default_factory=list)
    unpriced: list[str] = dataclasses.field(default_factory=list)  # "label why", no row
    met: dict[str, bool | None] = dataclasses.field(default_factory=dict)  # row -> met SLO


def _box(
    t: MeasuredTarget, plan: ProjectionPlan, prices: Prices, catalog: Catalog
) -> tuple[HardwareTarget, str]:
    prov = catalog.providers.get(t.provider)
    name = plan.hardware or t.hardware or (prov.hardware if prov else None)
    if plan.capacity_rps:
        capacity, how = plan.capacity_rps, "flag"
    elif t.capacity_rps:
        capacity, how = t.capacity_rps, "sweep"
    else:
        capacity = t.measured_rps
        how = "no load met the SLO" if t.swept else "measured rate"
    if not name or not capacity:
        raise BadInputError(
            f"self-hosted target {t.label} needs a hardware profile and a capacity; "
            "pass --hardware NAME --capacity-rps R"
        )
    shape_in = plan.input_tokens if plan.input_tokens is not None else t.input_tokens
    shape_out = plan.output_tokens if plan.output_tokens is not None else t.output_tokens
    flagged = plan.input_tokens is not None or plan.output_tokens is not None
    box = HardwareTarget(
        prices.find_hardware(name),
        float(capacity),
        t.provider,
        t.model,
        shape_in,
        shape_out,
        token_basis=None if flagged else BASIS_MEASURED,
    )
    return box, how


def _limits(rows: Sequence[Any]) -> tuple[Any, ...]:
    """Provider-file rows (rate limits, usage tiers) as cost.py's protocols take them."""
    return tuple(rows)


def _api(
    provider: str, model: str, prices: Prices, catalog: Catalog, shape: TokenShape | None
) -> ApiTarget:
    """An API row; `shape` is its own (measured, or counted with its tokenizer)."""
    price = prices.find_model(provider, model)
    prov = catalog.providers.get(price.provider)
    return ApiTarget(
        price,
        _limits(prov.rate_limits if prov else []),
        shape.input_tokens if shape else None,
        shape.output_tokens if shape else None,
        shape.reasoning_tokens if shape else None,
        token_basis=shape.basis if shape else None,
        basis_note=shape.note if shape else None,
        usage_tiers=_limits(prov.usage_tiers if prov else []),
    )


def _measured(
    measured: Sequence[MeasuredTarget], plan: ProjectionPlan, context: tuple[Prices, Catalog, date]
) -> _Targets:
    """Rows for the targets the run measured: boxes at their capacity, APIs at their own
    shape (unpriced and retired models are left out, with a note)."""
    prices, catalog, today = context
    out = _Targets()
    for t in measured:
        if t.input_tokens is None:
            out.notes.append(f"{t.label}: no request succeeded in the run; not projected")
            continue
        if t.self_hosted:
            box, how = _box(t, plan, prices, catalog)
            out.boxes.append(box)
            row = f"{box.hardware.name} ({box.provider}:{box.model})"
            out.basis[row], out.met[row] = how, t.meets_slo
            out.notes.append(capacity_note(box, how, t.capacity_load))
            continue
        price = prices.get_model(t.provider, t.model)
        if price is None or is_retired(price, today):
            why = f"shut down on {price.deprecated}" if price else "has no price"
            out.notes.append(f"{t.label} {why} in {prices.path or 'prices.toml'}; not projected")
            out.unpriced.append(f"{t.label} {why} in {prices.path or 'prices.toml'}")
            continue
        flagged = plan.input_tokens is not None or plan.output_tokens is not None
        own = None if flagged or t.shape is None else t.shape
        if flagged:  # the flags' shape, with the measured count where no flag is given
            own = TokenShape(
                plan.input_tokens if plan.input_tokens is not None else t.input_tokens or 0.0,
                plan.output_tokens if plan.output_tokens is not None else t.output_tokens or 0.0,
                t.shape.reasoning_tokens if t.shape else None,
                "given",
            )
        out.apis.append(_api(t.provider, t.model, prices, catalog, own))
        out.met[t.label] = t.meets_slo
    return out


def _named(
    names: Sequence[str],
    context: tuple[Prices, Catalog, date],
    scenario: Scenario,
    prompts: list[Any] | None,
    have: set[str],
) -> list[ApiTarget]:
    """Rows for named models, not retired; each counted with its own tokenizer where one is
    installed and the scenario's shape is an estimate from another model."""
    prices, catalog, today = context
    apis = []
    for spec in names:
        provider, sep, name = spec.partition(":")
        if not sep or not name:
            raise BadInputError(f"--model {spec}: use PROVIDER:MODEL, e.g. openai:gpt-4.1-mini")
        if spec in have:
            continue
        require_live(prices.find_model(provider, name), today, prices.path)
        counts = scenario.token_basis == BASIS_ESTIMATE
        own = api_shape(provider, scenario, prompts) if counts else None
        apis.append(_api(provider, name, prices, catalog, own))
        have.add(spec)
    return apis


def catalogue_models(prices: Prices, catalog: Catalog, today: date) -> list[str]:
    """Every priced model of the catalogue's API providers that has not shut down."""
    out = []
    for prov in catalog.providers.values():
        if prov.self_hosted:
            continue
        for model in prov.known_models:
            price = prices.get_model(prov.name, model)
            if price is not None and not is_retired(price, today):
                out.append(price.label)
    return out


def targets_for(
    plan: ProjectionPlan,
    measured: Sequence[MeasuredTarget],
    context: tuple[Prices, Catalog, date],
    scenario: Scenario,
    prompts: list[Any] | None,
) -> _Targets:
    """The API and hardware rows to price: measured targets, then named and catalogue ones."""
    prices, catalog, today = context
    found = _measured(measured, plan, context)
    have = {a.price.label for a in found.apis}
    names = list(plan.models)
    if plan.all_models:
        names += [m for m in catalogue_models(prices, catalog, today) if m not in names]
    found.apis += _named(names, context, scenario, prompts, have)
    if plan.hardware and not any(b.hardware.name == plan.hardware for b in found.boxes):
        if plan.capacity_rps is None:
            raise BadInputError(f"--hardware {plan.hardware}: also pass --capacity-rps R (above 0)")
        box = HardwareTarget(prices.find_hardware(plan.hardware), plan.capacity_rps)
        found.boxes.append(box)
        found.basis[box.hardware.name] = "flag"
    return found


def project(
    result: RunResult | None,
    plan: ProjectionPlan,
    *,
    prices: Prices | None = None,
    catalog: Catalog | None = None,
    today: date | None = None,
) -> ProjectionReport:
    """Price a month of the plan's traffic on each measured, named or catalogued option."""
    prices = prices or load_prices(plan.prices)
    catalog = catalog or load_catalog(plan.providers)
    today = today or date.today()
    measured = measured_targets(result)
    plan, trace = trace_plan(plan)
    scenario = trace_scenario(scenario_for(plan, measured), trace)
    found = targets_for(plan, measured, (prices, catalog, today), scenario, result_prompts(result))
    if not found.apis and not found.boxes:
        raise BadInputError(nothing_to_project(measured, found))
    report = project_report(
        scenario, found.apis, found.boxes, months=plan.months, growth=plan.growth, today=today
    )
    rows = tuple(
        dataclasses.replace(
            p,
            capacity_basis=found.basis.get(p.label) if p.kind == "self_hosted" else None,
            meets_slo=found.met.get(p.label),
        )
        for p in report.projections
    )
    rows = ranked(with_quality(rows, scenario, measured), plan.rank)
    notes = (*report.notes, *found.notes, cache_note(scenario))
    if trace is not None and scenario.token_basis != BASIS_TRACE:  # else the basis note says it
        notes = (trace.note, *notes)
    return dataclasses.replace(report, projections=rows, notes=notes, rank=plan.rank)


def nothing_to_project(measured: Sequence[MeasuredTarget], found: _Targets) -> str:
    """Why no row could be priced, naming each measured target and the options that would
    price it."""
    if not measured:
        return "nothing to project: pass a results file, --model P:M or --hardware"
    failed = [f"{t.label} had no successful request" for t in measured if t.input_tokens is None]
    unpriced = [f"{why} and no hardware profile (not self-hosted)" for why in found.unpriced]
    return (
        f"nothing to project: {'; '.join(failed + unpriced)}; price the run's shape as a listed "
        "model with --model PROVIDER:MODEL (or --all-models), give a prices file that lists "
        "it (--prices FILE), or price it as self-hosted with --hardware NAME --capacity-rps R"
    )


def cache_note(scenario: Scenario) -> str:
    """One line on the cache-hit share priced and where it came from."""
    share = f"{scenario.cache_hit:.1%}"
    if scenario.cache_hit_basis == BASIS_MEASURED:
        return f"cache hit {share}: the run's measured cache_hit_share (--cache-hit overrides)"
    if scenario.cache_hit_basis == BASIS_GIVEN:
        return f"cache hit {share}: given (--cache-hit)"
    if scenario.cache_hit_basis == BASIS_TRACE:
        return f"cache hit {share}: the trace's prefix hit share, what a perfect prefix cache serves (--cache-hit overrides)"
    return "cache hit 0%: the run reported no cached tokens (--cache-hit to price a share)"


def measured_cache_hit(
    plan: ProjectionPlan, measured: Sequence[MeasuredTarget]
) -> tuple[float, str]:
    """The cache-hit share to price and its basis: the flag, else the mean of the run's
    measured `cache_hit_share` over the targets that reported cached tokens, else none."""
    if plan.cache_hit is not None:
        return plan.cache_hit, BASIS_GIVEN
    shares = [t.cache_hit_share for t in measured if t.cache_hit_share is not None]
    if shares:
        return sum(shares) / len(shares), BASIS_MEASURED
    return 0.0, "none"


def with_quality(
    rows: Sequence[Projection], scenario: Scenario, measured: Sequence[MeasuredTarget]
) -> tuple[Projection, ...]:
    """Each row with the cache-hit share it priced and, for a model the run graded, its
    accuracy and cost per correct answer (per request / accuracy)."""
    graded = {(t.provider, t.model): t.accuracy for t in measured if t.accuracy is not None}
    out = []
    for p in rows:
        accuracy = graded.get((p.provider or "", p.model or ""))
        per_correct = None
        if accuracy and p.cost_per_request_usd is not None:
            per_correct = p.cost_per_request_usd / accuracy
        out.append(
            dataclasses.replace(
                p,
                cache_hit=scenario.cache_hit,
                cache_hit_basis=scenario.cache_hit_basis,
                accuracy=accuracy,
                cost_per_correct_answer_usd=per_correct,
            )
        )
    return tuple(out)


def ranked(rows: tuple[Projection, ...], rank: str | None) -> tuple[Projection, ...]:
    """Rows by monthly cost, or by cost per correct answer (ungraded or never-right last)."""
    if rank == "monthly":
        return tuple(sorted(rows, key=lambda p: p.monthly_cost_usd))
    if rank == "per-correct":
        if not any(p.accuracy is not None for p in rows):
            raise BadInputError(
                "--rank per-correct: the results have no graded answers; run a workload "
                "with `expected` answers (e.g. --workload extract-graded) first"
            )

        def key(p: Projection) -> float:
            per = p.cost_per_correct_answer_usd
            return float("inf") if per is None else per

        return tuple(sorted(rows, key=key))
    return rows


def read_projection(path: Path) -> dict[str, Any]:
    """The JSON of `costcli project --format json`; only its general shape is required."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"{path}: cannot be read ({exc.strerror}); check the path") from None
    except ValueError as exc:
        raise BadInputError(
            f"{path}: not JSON ({exc}); pass `costcli project --format json` output"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("projections"), list):
        raise BadInputError(
            f"{path}: key 'projections' is missing; pass the output of `costcli project --format json`"
        )
    return doc


@dataclass(frozen=True)
class Answer:
    """The short verdict after a run: what is cheapest at the scenario's volume, what is
    cheapest among the options the run measured within its SLO, and where self-hosting
    crosses each API."""

    requests_per_month: float
    cheapest: Projection | None
    cheapest_within_slo: Projection | None
    crossings: tuple[BreakEven, ...]  # the break-evens that exist, lowest volume first
    never: tuple[str, ...]  # APIs self-hosting never undercuts (up to the search ceiling)
    measured: bool = True  # some row is an option this run measured (judged on the SLO)


def answer(report: ProjectionReport) -> Answer:
    by_cost = sorted(report.projections, key=lambda p: p.monthly_cost_usd)
    crossings = sorted(  # lowest volume first; a tie (two APIs at one price) by name
        (b for b in report.break_even if b.requests_per_month is not None),
        key=lambda b: (b.requests_per_month or 0.0, b.hardware, b.api),
    )
    never = tuple(dict.fromkeys(b.api for b in report.break_even if b.requests_per_month is None))
    return Answer(
        requests_per_month=report.scenario.requests_per_month,
        cheapest=by_cost[0] if by_cost else None,
        cheapest_within_slo=next((p for p in by_cost if p.meets_slo), None),
        measured=any(p.meets_slo is not None for p in by_cost),
        crossings=tuple(crossings),
        never=never,
    )
