"""The sentences a repeated run (`--repeat N`) adds under the comparison: each target's 95%
interval over its runs, and for each pair of targets whether their difference is more
than the run-to-run noise ("not distinguishable at N runs"; results/repeats.py).

Pure: `repeat_lines(result) -> list[str]`.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

from costcli.results.document import RunResult, TargetResult
from costcli.results.metrics import Summary
from costcli.results.repeats import difference, per_run

# (name, distribution block, figure): the figures the sentences name
FIGURES = (
    ("TTFT p50", "ttft_ms", "p50"),
    ("TTFT p95", "ttft_ms", "p95"),
    ("TPOT p50", "tpot_ms", "p50"),
    ("E2E p95", "e2e_ms", "p95"),
)


def _figure(block: str, stat: str) -> Callable[[Summary], float | None]:
    def get(summary: Summary) -> float | None:
        found = getattr(summary, block)
        return None if found is None else float(getattr(found, stat))

    return get


def _intervals(t: TargetResult) -> str:
    parts = []
    for name, block, stat in FIGURES:
        found = getattr(t.summary, block)
        ci = found.ci95 if found is not None else None
        if ci is not None:
            low, high = getattr(ci, stat)
            parts.append(f"{name} [{low:.1f}, {high:.1f}]")
    runs = len(t.repeats or ())
    head = f"{t.label}: {runs} runs, the figures above pooled over them"
    return f"{head}; 95% interval over the runs (ms): {', '.join(parts)}" if parts else head


def _versus(a: TargetResult, b: TargetResult) -> str | None:
    parts, at = [], ""
    for name, block, stat in FIGURES:
        figure = _figure(block, stat)
        found = difference(per_run(a.repeats, figure), per_run(b.repeats, figure))
        if found is None:
            continue
        at = found.at()
        word = "distinguishable" if found.distinguishable else "not distinguishable"
        parts.append(
            f"{name} {found.estimate:+.1f} ms [{found.low:+.1f}, {found.high:+.1f}] {word}"
        )
    if not parts:
        return None
    return f"{b.label} vs {a.label} {at} (mean difference, 95% interval): " + "; ".join(parts)


def repeat_lines(result: RunResult) -> list[str]:
    """Each repeated target's intervals, then each pair's differences."""
    repeated = [t for t in result.targets if t.repeats]
    lines = [_intervals(t) for t in repeated]
    for a, b in combinations(repeated, 2):
        line = _versus(a, b)
        if line is not None:
            lines.append(line)
    return lines
