"""Baseline comparison for CI: budgets against a baseline run, limits on one run -> Verdict.

A budget (`ttft_p95_ms=+10%` or `ttft_p95_ms=+50`) says how much worse a metric may get
than in the baseline, in the metric's worse direction. Where both runs kept their request
records (`--records`), the change is judged with a seeded bootstrap: requests are resampled
with replacement in both runs, the statistic recomputed, and a regression is called only
when the whole confidence interval of the change lies past the budget, so two runs of the
same server pass and a real shift fails. Without records the summaries are compared as they
are. A limit (`error_rate=0.01`) checks the current run alone. Pure: no I/O, no Rich.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from costcli.files.errors import EXIT_CHECK_FAILED, BadInputError
from costcli.results.document import RunResult, TargetResult
from costcli.results.metrics import RequestRecord, RunCost, percentile
from costcli.results.repeats import CONFIDENCE, difference, per_run

LATENCY_METRICS = ("ttft", "ttfb", "itl", "tpot", "e2e")
LATENCY_STATS = ("p50", "p90", "p95", "p99", "mean", "max")
BOOTSTRAP_STATS = ("p50", "p90", "p95", "p99", "mean")
DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
# The bootstrap costs resamples x values; past this many value draws it resamples less.
MAX_DRAWS = 8_000_000
MIN_RESAMPLES = 200

Status = Literal["pass", "fail", "n/a"]


@dataclass(frozen=True)
class Metric:
    """A figure of a run that can be gated, and which way is worse."""

    name: str
    unit: str
    higher_is_worse: bool
    from_summary: Callable[[TargetResult], float | None]
    # Values per request (each request gives a list) and the statistic over the pooled
    # values; None where the metric cannot be recomputed from records.
    per_request: Callable[[RequestRecord], list[float]] | None = None
    statistic: Callable[[list[float]], float] | None = None


def _stat_fn(stat: str) -> Callable[[list[float]], float]:
    if stat == "mean":
        return lambda values: math.fsum(values) / len(values)
    if stat == "max":
        return max
    q = float(stat[1:])
    return lambda values: percentile(sorted(values), q)


def _summary_pct(attr: str, stat: str) -> Callable[[TargetResult], float | None]:
    def get(t: TargetResult) -> float | None:
        p = getattr(t.summary, attr)
        return None if p is None else float(getattr(p, stat))

    return get


def _record_values(key: str) -> Callable[[RequestRecord], list[float]]:
    def get(record: RequestRecord) -> list[float]:
        if not record.ok:
            return []  # failed requests stay out of latency percentiles
        value: float | list[float] | None = getattr(record, key)
        if isinstance(value, list):
            return [float(v) for v in value]
        return [] if value is None else [float(value)]

    return get


def _failed(record: RequestRecord) -> list[float]:
    return [0.0 if record.ok else 1.0]


def _build_metrics() -> dict[str, Metric]:
    found: dict[str, Metric] = {}
    for base in LATENCY_METRICS:
        for stat in LATENCY_STATS:
            name = f"{base}_{stat}_ms"
            found[name] = Metric(
                name,
                "ms",
                True,
                _summary_pct(f"{base}_ms", stat),
                _record_values(f"{base}_ms") if stat in BOOTSTRAP_STATS else None,
                _stat_fn(stat),
            )
    found["error_rate"] = Metric(
        "error_rate",
        "share",
        True,
        lambda t: float(t.summary.error_rate),
        _failed,
        _stat_fn("mean"),
    )
    found["output_tokens_per_s"] = Metric(
        "output_tokens_per_s",
        "tok/s",
        False,
        lambda t: float(t.summary.throughput.output_tokens_per_s),
    )
    found["requests_per_s"] = Metric(
        "requests_per_s", "req/s", False, lambda t: float(t.summary.throughput.requests_per_s)
    )
    found["decode_tokens_per_s_p50"] = Metric(
        "decode_tokens_per_s_p50",
        "tok/s",
        False,
        _summary_pct("decode_tokens_per_s", "p50"),
        _record_values("decode_tokens_per_s"),
        _stat_fn("p50"),
    )
    found["goodput_requests_per_s"] = Metric(
        "goodput_requests_per_s",
        "req/s",
        False,
        lambda t: None if t.summary.goodput is None else float(t.summary.goodput.requests_per_s),
    )
    found["cost_per_1k_requests_usd"] = Metric(
        "cost_per_1k_requests_usd", "USD", True, lambda t: t.cost_per_1k_requests_usd
    )
    return found


METRICS: dict[str, Metric] = _build_metrics()


def find_metric(name: str, flag: str) -> Metric:
    key = name.strip()
    if key not in METRICS and f"{key}_ms" in METRICS:
        key = f"{key}_ms"
    if key not in METRICS:
        examples = "ttft_p95_ms, e2e_p99_ms, itl_p50_ms, error_rate, output_tokens_per_s, cost_per_1k_requests_usd"
        raise BadInputError(
            f"{flag} {name}: unknown metric; use one of {examples} (stats p50, p90, p95, p99, mean, max)"
        )
    return METRICS[key]


# --- budgets and limits ----------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """How much worse `metric` may get than the baseline: a share (0.1) or an amount."""

    metric: Metric
    amount: float
    relative: bool

    @property
    def text(self) -> str:
        sign = "+" if self.metric.higher_is_worse else "-"
        if self.relative:
            return f"{sign}{self.amount * 100:g}%"
        return f"{sign}{self.amount:g} {self.metric.unit}"


@dataclass(frozen=True)
class Limit:
    """The worst value `metric` may take in the current run."""

    metric: Metric
    value: float

    @property
    def text(self) -> str:
        op = "<=" if self.metric.higher_is_worse else ">="
        return f"{op} {self.value:g}"


def _split(spec: str, flag: str, form: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise BadInputError(f"{flag} {spec}: use {form}")
    return name.strip(), value.strip()


def parse_budget(spec: str) -> Budget:
    """`ttft_p95_ms=+10%` (relative) or `ttft_p95_ms=+50` (in the metric's unit)."""
    form = "METRIC=+10% or METRIC=+50 (e.g. ttft_p95_ms=+10%)"
    name, value = _split(spec, "--budget", form)
    metric = find_metric(name, "--budget")
    relative = value.endswith("%")
    number = value.removesuffix("%").strip()
    try:
        amount = float(number)
    except ValueError:
        raise BadInputError(f"--budget {spec}: '{value}' is not a number; use {form}") from None
    worse_sign = "+" if metric.higher_is_worse else "-"
    if number.startswith(("+", "-")) and number[0] != worse_sign:
        direction = "higher" if metric.higher_is_worse else "lower"
        raise BadInputError(
            f"--budget {spec}: {metric.name} gets worse when {direction}; a budget is how much "
            f"worse it may get, so write {metric.name}={worse_sign}{value.lstrip('+-')}"
        )
    if not math.isfinite(amount):
        raise BadInputError(f"--budget {spec}: the budget must be a finite number")
    amount = abs(amount)
    return Budget(metric, amount / 100 if relative else amount, relative)


def parse_limit(spec: str) -> Limit:
    """`ttft_p95_ms=500`, `error_rate=0.01`, `cost_per_1k_requests_usd=2`."""
    form = "METRIC=VALUE (e.g. ttft_p95_ms=500 or error_rate=0.01)"
    name, value = _split(spec, "--limit", form)
    metric = find_metric(name, "--limit")
    try:
        number = float(value.removesuffix("%")) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise BadInputError(f"--limit {spec}: '{value}' is not a number; use {form}") from None
    return Limit(metric, number)


# --- the verdict -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    confidence: float
    resamples: int  # 0: an interval over repeated runs, not a bootstrap
    runs: tuple[int, int] | None = None  # over repeated runs: (baseline, current)


@dataclass(frozen=True)
class CheckRow:
    """One metric of one target against one budget or limit."""

    target: str
    metric: str
    kind: Literal["budget", "limit"]
    threshold: str
    status: Status
    current: float | None
    baseline: float | None = None
    change: float | None = None  # relative (0.1 = +10%) or absolute, as the budget is
    relative: bool = True
    interval: Interval | None = None
    method: str = ""  # bootstrap, summary, limit
    reason: str = ""
    # False where the check could not be judged (no baseline target, no value on a side);
    # such a row either fails (the gate must not pass on nothing) or is n/a by design
    # (an unpriced target under a cost check, a target new in this run).
    compared: bool = True
    # repeated runs (--repeat): whether the change is more than the run-to-run noise
    distinguishable: bool | None = None

    @property
    def label(self) -> str:
        return f"{self.target} {self.metric} {self.kind} {self.threshold}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target,
            "metric": self.metric,
            "kind": self.kind,
            "threshold": self.threshold,
            "status": self.status,
            "current": self.current,
            "baseline": self.baseline,
            "change": self.change,
            "change_is_relative": self.relative,
            "method": self.method,
            "reason": self.reason,
            "compared": self.compared,
        }
        if self.interval is not None:
            out["interval"] = {
                "low": self.interval.low,
                "high": self.interval.high,
                "confidence": self.interval.confidence,
                "resamples": self.interval.resamples,
            }
            if self.interval.runs is not None:
                base, cur = self.interval.runs
                out["interval"]["runs"] = {"baseline": base, "current": cur}
        if self.distinguishable is not None:
            out["distinguishable"] = self.distinguishable
        return out


@dataclass(frozen=True)
class Verdict:
    workload: str
    rows: tuple[CheckRow, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not any(r.status == "fail" for r in self.rows)

    @property
    def failures(self) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if r.status == "fail")

    @property
    def compared(self) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if r.compared)

    @property
    def not_compared(self) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if not r.compared)

    @property
    def unevaluated(self) -> tuple[CheckRow, ...]:
        """Checks that fail because they could not be judged at all."""
        return tuple(r for r in self.rows if r.status == "fail" and not r.compared)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "workload": self.workload,
            "failures": len(self.failures),
            "checks": [r.to_dict() for r in self.rows],
            "compared": [r.label for r in self.compared],
            "not_compared": [{"check": r.label, "reason": r.reason} for r in self.not_compared],
            "notes": list(self.notes),
        }


def gate(verdict: Verdict, *, strict: bool = False) -> int:
    """The exit code of `costcli check`: 0 passed, 1 a check failed. With `strict`, a check
    that could not be evaluated at all is bad input (BadInputError, exit 2) rather than 1."""
    if strict and verdict.unevaluated:
        first = verdict.unevaluated[0]
        more = len(verdict.unevaluated) - 1
        raise BadInputError(
            f"--strict: {len(verdict.unevaluated)} check(s) could not be evaluated "
            f"({first.label}: {first.reason}{f'; and {more} more' if more else ''}); "
            "compare runs of the same targets and metrics, or drop the check"
        )
    return 0 if verdict.passed else EXIT_CHECK_FAILED


def target_key(t: TargetResult) -> str:
    return f"{t.label}"


def same_workload(
    current: RunResult, baseline: RunResult, current_name: str, base_name: str
) -> None:
    """Refuse to compare runs of different workloads (exit 2 with the reason)."""
    a, b = current.meta.workload, baseline.meta.workload
    if a.name != b.name or a.sha256 != b.sha256:
        raise BadInputError(
            f"{current_name}: workload '{a.name}' (sha256 {a.sha256[:12]}) differs from the "
            f"baseline {base_name}: '{b.name}' (sha256 {b.sha256[:12]}); compare runs of the "
            "same workload, or record a new baseline"
        )


def _pooled(records: Sequence[RequestRecord], metric: Metric) -> list[list[float]]:
    assert metric.per_request is not None
    return [metric.per_request(r) for r in records]


def _flat(groups: Sequence[list[float]]) -> list[float]:
    return [v for g in groups for v in g]


@dataclass(frozen=True)
class Bootstrap:
    """How a budget's change is resampled: count, confidence and seed (reproducible)."""

    resamples: int = DEFAULT_RESAMPLES
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = 0


@dataclass(frozen=True)
class RunNames:
    """What the verdict calls the two runs (their file names, in the CLI)."""

    current: str = "results"
    baseline: str = "baseline"


def bootstrap_change(
    base: Sequence[list[float]],
    cur: Sequence[list[float]],
    statistic: Callable[[list[float]], float],
    *,
    relative: bool,
    bootstrap: Bootstrap = Bootstrap(),
) -> Interval | None:
    """Percentile-bootstrap interval of statistic(cur) vs statistic(base).

    Requests are the unit resampled (each gives a list of values, e.g. its ITL gaps), so
    correlated values within one request move together. `relative`: cur / base - 1, else
    cur - base. None where either side has no values.
    """
    if not _flat(base) or not _flat(cur):
        return None
    rng = random.Random(bootstrap.seed)
    per_draw = len(_flat(base)) + len(_flat(cur))
    resamples = max(MIN_RESAMPLES, min(bootstrap.resamples, MAX_DRAWS // max(per_draw, 1)))
    changes: list[float] = []
    for _ in range(resamples):
        b = _flat(rng.choices(base, k=len(base)))
        c = _flat(rng.choices(cur, k=len(cur)))
        if not b or not c:
            continue
        sb, sc = statistic(b), statistic(c)
        if relative:
            if sb == 0:
                continue
            changes.append(sc / sb - 1)
        else:
            changes.append(sc - sb)
    if not changes:
        return None
    changes.sort()
    tail = (1 - bootstrap.confidence) / 2 * 100
    return Interval(
        percentile(changes, tail),
        percentile(changes, 100 - tail),
        bootstrap.confidence,
        len(changes),
    )


def _fmt(value: float, relative: bool) -> str:
    return f"{value * 100:+.1f}%" if relative else f"{value:+.4g}"


def _uncomparable(
    budget: Budget, cur_t: TargetResult, base_t: TargetResult, values: tuple[float | None, ...]
) -> tuple[Status, str] | None:
    """(status, reason) when the budget cannot be judged for this pair of targets; None when
    it can. A gate must not pass on what it could not compare: only an unpriced target
    under a cost budget is n/a, everything else fails."""
    m = budget.metric
    cur_v, base_v = values
    if cur_v is None and base_v is not None and not _unpriced(m, cur_t):
        # the baseline had it and this run lost it (e.g. every request failed): a regression
        return "fail", f"no value in the current run: {_why_no_value(m, cur_t)}"
    if cur_v is None or base_v is None:
        missing = "current run" if cur_v is None else "baseline"
        unpriced = _unpriced(m, cur_t) or _unpriced(m, base_t)
        return "n/a" if unpriced else "fail", f"{m.name} is not in the {missing}: not compared"
    if not (math.isfinite(cur_v) and math.isfinite(base_v)):
        return "fail", f"{m.name} is not a finite number on both sides: not compared"
    if budget.relative and base_v == 0:
        return "fail", "baseline is 0, so a relative change is undefined; use an absolute budget"
    return None


def _verdict_of(
    budget: Budget, change: float, interval: Interval | None, bootstrap: Bootstrap
) -> tuple[bool, str, str]:
    """(failed, reason, method): the bootstrap interval's least bad end where there is one,
    else the summaries' change, must be within the budget."""
    m = budget.metric
    if interval is not None:
        least_worse = interval.low if m.higher_is_worse else -interval.high
        failed = least_worse > budget.amount
        low, high = _fmt(interval.low, budget.relative), _fmt(interval.high, budget.relative)
        ci = f"{bootstrap.confidence:.0%} CI [{low}, {high}]"
        where = "lies past" if failed else "is not wholly past"
        return failed, f"{ci} {where} the budget {budget.text}", "bootstrap"
    sign = 1.0 if m.higher_is_worse else -1.0  # worsening measured as a positive number
    failed = sign * change > budget.amount
    where = "is past" if failed else "is within"
    return (
        failed,
        f"change {_fmt(change, budget.relative)} {where} the budget {budget.text}",
        "summary",
    )


def _budget_row(
    name: str, budget: Budget, cur_t: TargetResult, base_t: TargetResult, bootstrap: Bootstrap
) -> CheckRow:
    m = budget.metric
    cur_v, base_v = m.from_summary(cur_t), m.from_summary(base_t)
    common = {"target": name, "metric": m.name, "kind": "budget", "threshold": budget.text}
    problem = _uncomparable(budget, cur_t, base_t, (cur_v, base_v))
    if problem is not None or cur_v is None or base_v is None:
        status, reason = problem or ("fail", "not compared")  # the or: for the type checker
        return CheckRow(
            **common,  # type: ignore[arg-type]
            status=status,
            current=cur_v,
            baseline=base_v,
            relative=budget.relative,
            reason=reason,
            compared=False,
        )
    change = cur_v / base_v - 1 if budget.relative else cur_v - base_v
    runs = _over_runs(budget, change, (cur_t, cur_v), (base_t, base_v))
    if runs is not None:
        return _repeats_row(common, runs, (cur_v, base_v, change), budget.relative)
    interval: Interval | None = None
    if m.per_request is not None and m.statistic is not None and cur_t.records and base_t.records:
        interval = bootstrap_change(
            _pooled(base_t.records, m),
            _pooled(cur_t.records, m),
            m.statistic,
            relative=budget.relative,
            bootstrap=bootstrap,
        )
    failed, reason, method = _verdict_of(budget, change, interval, bootstrap)
    return CheckRow(
        **common,  # type: ignore[arg-type]
        status="fail" if failed else "pass",
        current=cur_v,
        baseline=base_v,
        change=change,
        relative=budget.relative,
        interval=interval,
        method=method,
        reason=reason,
    )


def _repeats_row(
    common: dict[str, str],
    runs: tuple[bool, str, Interval, bool],
    values: tuple[float, float, float],
    relative: bool,
) -> CheckRow:
    """A budget's row judged over repeated runs (`_over_runs`)."""
    failed, reason, over, distinguishable = runs
    current, baseline, change = values
    return CheckRow(
        **common,  # type: ignore[arg-type]
        status="fail" if failed else "pass",
        current=current,
        baseline=baseline,
        change=change,
        relative=relative,
        interval=over,
        method="repeats",
        reason=reason,
        distinguishable=distinguishable,
    )


def _runs_of(m: Metric, t: TargetResult, value: float) -> list[float]:
    """The metric in each run of a repeated target; a single run's own figure."""
    if not t.repeats:
        return [value]
    return per_run(t.repeats, lambda s: m.from_summary(t.model_copy(update={"summary": s})))


def _over_runs(
    budget: Budget,
    change: float,
    current: tuple[TargetResult, float],
    baseline: tuple[TargetResult, float],
) -> tuple[bool, str, Interval, bool] | None:
    """(failed, reason, interval, distinguishable) where either run was repeated: the
    change's 95% interval over the runs (results/repeats.py). A change past the budget
    fails only when it is distinguishable (its interval lies wholly on the worse side of
    no change); within the noise it is reported, not failed. None: neither was repeated."""
    (cur_t, cur_v), (base_t, base_v) = current, baseline
    if not (cur_t.repeats or base_t.repeats):
        return None
    m = budget.metric
    before = _runs_of(m, base_t, base_v)
    found = difference(before, _runs_of(m, cur_t, cur_v))
    scale = math.fsum(before) / len(before) if before else 0.0
    if found is None or (budget.relative and scale == 0):
        return None
    low, high = (
        (found.low / scale, found.high / scale) if budget.relative else (found.low, found.high)
    )
    sign = 1.0 if m.higher_is_worse else -1.0
    past = sign * change > budget.amount
    worse = min(sign * low, sign * high) > 0
    ci = f"95% CI over the runs [{_fmt(low, budget.relative)}, {_fmt(high, budget.relative)}]"
    shown = _fmt(change, budget.relative)
    if past and not worse:
        reason = (
            f"change {shown} is past the budget {budget.text}, but not distinguishable "
            f"{found.at()} ({ci} includes no change): reported, not failed"
        )
    elif past:
        reason = (
            f"change {shown} is past the budget {budget.text}, distinguishable {found.at()} ({ci})"
        )
    else:
        reason = f"change {shown} is within the budget {budget.text}; {found.verdict()} ({ci})"
    over = Interval(low, high, CONFIDENCE, 0, found.runs)
    return past and worse, reason, over, found.distinguishable


def _unpriced(m: Metric, t: TargetResult) -> bool:
    """A cost metric of a target with no price (or a run without prices): not applicable."""
    if not m.name.startswith("cost"):
        return False
    cost = t.summary.cost
    return not isinstance(cost, RunCost)


def _why_no_value(m: Metric, t: TargetResult) -> str:
    if t.summary.requests.ok == 0:
        return "no successful request"
    if m.name.startswith("goodput"):
        return "the run set no --slo"
    return "the run did not measure it"


def _limit_row(name: str, limit: Limit, t: TargetResult) -> CheckRow:
    m = limit.metric
    value = m.from_summary(t)
    common = {"target": name, "metric": m.name, "kind": "limit", "threshold": limit.text}
    if value is None and _unpriced(m, t):
        cost = t.summary.cost
        why = "the run had no prices" if cost is None else "the target is unpriced"
        return CheckRow(
            **common,  # type: ignore[arg-type]
            status="n/a",
            current=None,
            method="limit",
            reason=f"{m.name}: {why}",
            compared=False,
        )
    if value is None or not math.isfinite(value):
        # a limit that cannot be verified does not hold: a gate must not pass on no data
        why = _why_no_value(m, t) if value is None else f"{value} is not a finite number"
        return CheckRow(
            **common,  # type: ignore[arg-type]
            status="fail",
            current=value,
            method="limit",
            reason=f"no value: {why}",
            compared=False,
        )
    failed = value > limit.value if m.higher_is_worse else value < limit.value
    word = "above" if m.higher_is_worse else "below"
    reason = f"{value:.4g} is {word} the limit {limit.value:g}" if failed else "within the limit"
    return CheckRow(
        **common,  # type: ignore[arg-type]
        status="fail" if failed else "pass",
        current=value,
        method="limit",
        reason=reason,
    )


def _judged_nowhere(
    rows: Sequence[CheckRow], budgets: Sequence[Budget], limits: Sequence[Limit]
) -> list[CheckRow]:
    """A failing row for each budget or limit that was compared for no target at all and
    failed nowhere (every row n/a, or no row): such a check gates nothing."""
    checks = [("budget", b.metric.name, b.text) for b in budgets]
    checks += [("limit", lim.metric.name, lim.text) for lim in limits]
    out = []
    for kind, metric, threshold in checks:
        mine = [r for r in rows if (r.kind, r.metric, r.threshold) == (kind, metric, threshold)]
        if any(r.compared or r.status == "fail" for r in mine):
            continue  # judged somewhere, or already failing because it could not be
        out.append(
            CheckRow(
                "(every target)",
                metric,
                kind,  # type: ignore[arg-type]
                threshold,
                "fail",
                None,
                reason=f"the {kind} was compared for no target, so it gates nothing",
                compared=False,
            )
        )
    return out


def _refuse(
    current: RunResult,
    baseline: RunResult | None,
    budgets: Sequence[Budget],
    limits: Sequence[Limit],
    names: RunNames,
) -> None:
    """Bad usage: budgets without a baseline, nothing to check, an empty run, two workloads."""
    if budgets and baseline is None:
        raise BadInputError("--budget compares against a baseline: pass --baseline BASE.json")
    if not budgets and not limits:
        raise BadInputError(
            "nothing to check: pass --budget METRIC=+10% with --baseline, or --limit METRIC=VALUE"
        )
    for run, run_name in ((current, names.current), (baseline, names.baseline)):
        if run is not None and not run.targets:
            raise BadInputError(
                f"{run_name}: no targets in the results file, so nothing to check; "
                "pass a run that measured at least one target"
            )
    if baseline is not None:
        same_workload(current, baseline, names.current, names.baseline)


def _target_rows(
    t: TargetResult,
    base_t: TargetResult | None,
    checks: tuple[Sequence[Budget], Sequence[Limit]],
    names: RunNames,
    bootstrap: Bootstrap,
) -> list[CheckRow]:
    """One target's budget rows (n/a where the baseline lacks it) and limit rows."""
    budgets, limits = checks
    name = target_key(t)
    rows = []
    for budget in budgets:
        if base_t is None:
            rows.append(
                CheckRow(
                    name,
                    budget.metric.name,
                    "budget",
                    budget.text,
                    "n/a",
                    budget.metric.from_summary(t),
                    reason=f"{names.baseline} has no target {name} (new in this run): not compared",
                    compared=False,
                )
            )
        else:
            rows.append(_budget_row(name, budget, t, base_t, bootstrap))
    rows.extend(_limit_row(name, limit, t) for limit in limits)
    return rows


def _vanished_rows(
    missing: Sequence[str],
    base_targets: dict[str, TargetResult],
    budgets: Sequence[Budget],
    names: RunNames,
) -> list[CheckRow]:
    """A baseline target that vanished (renamed in CI?) is a budget nobody judged: a fail."""
    return [
        CheckRow(
            name,
            budget.metric.name,
            "budget",
            budget.text,
            "fail",
            None,
            budget.metric.from_summary(base_targets[name]),
            reason=f"baseline target {name} is not in {names.current}: not compared",
            compared=False,
        )
        for name in missing
        for budget in budgets
    ]


def _notes(
    current: RunResult, baseline: RunResult | None, rows: Sequence[CheckRow], names: RunNames
) -> list[str]:
    notes = []
    if baseline is not None:
        unrecorded = [t for t in (*current.targets, *baseline.targets) if not t.records]
        if any(r.kind == "budget" and r.method != "repeats" for r in rows) and unrecorded:
            notes.append(
                "runs without --records were compared by their summaries (no noise allowance)"
            )
    if any(r.method == "repeats" for r in rows):
        notes.append(
            "repeated runs: a budget is judged over the runs (a 95% Student-t interval of the "
            "change); a change past its budget fails only when it is distinguishable from "
            "the run-to-run noise, else it is reported as not distinguishable"
        )
    not_compared = [r for r in rows if not r.compared]
    if not_compared:
        notes.append(
            f"{len(rows) - len(not_compared)} of {len(rows)} checks compared; not compared: "
            + "; ".join(r.label for r in not_compared)
        )
    if not current.complete:
        notes.append(f"{names.current} is an incomplete (interrupted) run")
    return notes


def check(
    current: RunResult,
    baseline: RunResult | None = None,
    budgets: Sequence[Budget] = (),
    limits: Sequence[Limit] = (),
    *,
    names: RunNames = RunNames(),
    bootstrap: Bootstrap = Bootstrap(),
) -> Verdict:
    """Every budget and limit for every target of `current` -> Verdict."""
    _refuse(current, baseline, budgets, limits, names)
    base_targets = {target_key(t): t for t in baseline.targets} if baseline else {}
    rows: list[CheckRow] = []
    for t in current.targets:
        rows += _target_rows(
            t, base_targets.get(target_key(t)), (budgets, limits), names, bootstrap
        )
    if baseline is not None:
        missing = sorted(set(base_targets) - {target_key(t) for t in current.targets})
        rows += _vanished_rows(missing, base_targets, budgets, names)
    rows += _judged_nowhere(rows, budgets, limits)
    notes = _notes(current, baseline, rows, names)
    return Verdict(current.meta.workload.name, tuple(rows), tuple(notes))
