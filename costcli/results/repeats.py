"""Repeated runs (`--repeat N`): each figure's 95% interval over the runs, and whether two
sets of runs differ by more than their run-to-run noise ("not distinguishable at N runs").

The method follows AIPerf's multi-run confidence report: a figure (TTFT p95, say) is read
from each run's own summary, and its interval is the Student-t interval of the mean of
those N values, mean +/- t(0.975, N-1) x s / sqrt(N), s their sample standard deviation
(ddof 1). The run, not the request, is the unit: requests within one run share the run's
drift (a neighbour's load, a cold cache, a clock step), which a bootstrap over requests
cannot see. With N = 3, t is 4.30, so the interval is wide: that is what three samples
say. Every figure of a distribution block is non-negative, so a low end below 0 is cut at
0. A target's top-level figures are its records pooled over every run; the interval is
the per-run figure's, so the pooled figure usually, but not necessarily, lies inside it.

Two sets of runs (two targets of one run, or a run and its baseline in `check`) differ
distinguishably when the 95% interval of the difference of their means excludes 0:
Welch's interval where both sides have two runs or more, else (one side a single run) the
repeated side's spread stands for both, mean difference +/- t(0.975, n-1) x s x
sqrt(1/n + 1). Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from costcli.results.metrics import CI95, Percentiles, Summary

CONFIDENCE = 0.95
# t(0.975, df) for df = 1..30; past 30 the Cornish-Fisher expansion is good to 1e-4
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959964
# the distribution blocks of a Summary that gain `ci95`, and the figures of each
BLOCKS = (
    "ttft_ms",
    "ttfo_ms",
    "ttfb_ms",
    "itl_ms",
    "tpot_ms",
    "e2e_ms",
    "client_delay_ms",
    "decode_tokens_per_s",
)
STATS = ("mean", "p50", "p90", "p95", "p99")


def t_critical(df: float) -> float:
    """The two-sided 95% critical value of Student's t with `df` degrees of freedom (a
    fractional df, Welch's, interpolated between the table's neighbours)."""
    if df < 1:
        raise ValueError(f"t_critical: df {df} < 1")
    if df <= len(_T975):
        lo = math.floor(df)
        frac = df - lo
        if frac == 0:
            return _T975[lo - 1]
        return _T975[lo - 1] + (_T975[lo] - _T975[lo - 1]) * frac
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample variance (ddof 1; 0 for one value)."""
    n = len(values)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, var


def interval(values: Sequence[float]) -> tuple[float, float] | None:
    """The 95% Student-t interval of the mean of `values` (one figure, one per run), the
    low end cut at 0; None under two values."""
    n = len(values)
    if n < 2:
        return None
    mean, var = _mean_var(values)
    margin = t_critical(n - 1) * math.sqrt(var / n)
    return max(0.0, mean - margin), mean + margin


def ci95(blocks: Sequence[Percentiles]) -> CI95 | None:
    """A distribution block's interval over the runs' own blocks (None under two runs)."""
    if len(blocks) < 2:
        return None
    found: dict[str, tuple[float, float]] = {}
    for stat in STATS:
        bounds = interval([float(getattr(b, stat)) for b in blocks])
        assert bounds is not None
        found[stat] = bounds
    return CI95(runs=len(blocks), **found)


def with_ci95(summary: Summary, runs: Sequence[Summary]) -> Summary:
    """`summary` (the pooled one) with each distribution block's `ci95` over `runs`."""
    update = {}
    for name in BLOCKS:
        block: Percentiles | None = getattr(summary, name)
        theirs = [b for b in (getattr(run, name) for run in runs) if b is not None]
        interval_ = ci95(theirs)
        if block is not None and interval_ is not None:
            update[name] = block.model_copy(update={"ci95": interval_})
    return summary.model_copy(update=update) if update else summary


@dataclass(frozen=True)
class Difference:
    """mean(after) - mean(before) over two sets of runs, with its 95% interval."""

    estimate: float
    low: float
    high: float
    runs: tuple[int, int]  # (before, after)

    @property
    def distinguishable(self) -> bool:
        """Whether the interval excludes 0: the difference is more than the noise."""
        return not self.low <= 0.0 <= self.high

    def at(self) -> str:
        """'at 3 runs', or 'at 1 and 3 runs' where the two sides differ."""
        a, b = self.runs
        return f"at {a} runs" if a == b else f"at {a} and {b} runs"

    def verdict(self) -> str:
        word = "distinguishable" if self.distinguishable else "not distinguishable"
        return f"{word} {self.at()}"


def difference(before: Sequence[float], after: Sequence[float]) -> Difference | None:
    """The 95% interval of mean(after) - mean(before), each value one run's figure; None
    unless one side has two runs or more (and the other at least one)."""
    na, nb = len(before), len(after)
    if min(na, nb) < 1 or max(na, nb) < 2:
        return None
    ma, va = _mean_var(before)
    mb, vb = _mean_var(after)
    estimate = mb - ma
    if min(na, nb) == 1:  # one run: the repeated side's spread stands for both
        n, var = (nb, vb) if na == 1 else (na, va)
        margin = t_critical(n - 1) * math.sqrt(var * (1 / n + 1))
    else:
        sa, sb = va / na, vb / nb
        spread = sa + sb
        if spread == 0:
            margin = 0.0
        else:
            df = spread**2 / (sa**2 / (na - 1) + sb**2 / (nb - 1))
            margin = t_critical(max(1.0, df)) * math.sqrt(spread)
    return Difference(estimate, estimate - margin, estimate + margin, (na, nb))


def per_run(
    summaries: Sequence[Summary] | None, figure: Callable[[Summary], float | None]
) -> list[float]:
    """One figure of each run's summary (the runs that have it, as finite numbers)."""
    values = [figure(s) for s in summaries or ()]
    return [v for v in values if v is not None and math.isfinite(v)]
