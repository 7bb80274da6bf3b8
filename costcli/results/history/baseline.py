"""A baseline drawn from the history store: `costcli check --baseline history:...`.

Candidates are the stored runs comparable with the run being checked: the same workload
(name and content hash), every one of its targets measured, complete (not interrupted),
and not the same document (a run added by `run --history` is not its own baseline).
Newest first, by the time each run started.

- `history:last`: the newest candidate.
- `history:label=KEY=VALUE`: the newest candidate stored with that label.
- `history:best-of:N[:METRIC]`: among the N newest candidates, the run with the best
  value of METRIC, the mean over the checked run's targets. METRIC is the first budget's
  metric, else `ttft_p95_ms`. Best is lowest where higher is worse (latency, error rate,
  cost), highest otherwise (throughput). A candidate without that figure for every target
  is passed over; a tie goes to the newer run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from costcli.files.errors import BadInputError
from costcli.results.document import RunResult
from costcli.results.history.store import HistoryStore, StoredRun, run_key
from costcli.results.regress import Budget, Metric, find_metric, target_key

PREFIX = "history:"
DEFAULT_METRIC = "ttft_p95_ms"
FORMS = "history:last, history:best-of:N[:METRIC] or history:label=KEY=VALUE"
_BEST = re.compile(r"^best-of:(\d+)(?::(.+))?$")


@dataclass(frozen=True)
class Choice:
    """The run picked, its document, and why (for the verdict's baseline name)."""

    run: StoredRun
    result: RunResult
    reason: str


def is_history(spec: str | None) -> bool:
    return spec is not None and spec.startswith(PREFIX)


def candidates(store: HistoryStore, current: RunResult) -> list[StoredRun]:
    """Comparable stored runs, newest first (see the module's docstring)."""
    wanted = {target_key(t) for t in current.targets}
    workload = current.meta.workload
    own = run_key(current)
    return [
        run
        for run in store.runs()
        if run.workload == workload.name
        and run.workload_sha256 == workload.sha256
        and run.complete
        and run.run_key != own
        and wanted <= set(run.metrics)
    ]


def score(run: StoredRun, metric: Metric, targets: Sequence[str]) -> float | None:
    values = [run.metrics.get(t, {}).get(metric.name) for t in targets]
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    return math.fsum(v for v in values if v is not None) / len(values)


def best_of(
    runs: Sequence[StoredRun], metric: Metric, targets: Sequence[str]
) -> tuple[StoredRun, float] | None:
    """The best-scoring run of `runs` (newest first); a tie goes to the newer."""
    best: tuple[StoredRun, float] | None = None
    for run in runs:
        value = score(run, metric, targets)
        if value is None:
            continue
        if best is None or (value < best[1] if metric.higher_is_worse else value > best[1]):
            best = (run, value)
    return best


def pick(
    store: HistoryStore, spec: str, current: RunResult, budgets: Sequence[Budget] = ()
) -> Choice:
    """The baseline run that `spec` names (module docstring); one line when there is none."""
    rule = spec.removeprefix(PREFIX)
    runs = candidates(store, current)
    targets = sorted({target_key(t) for t in current.targets})
    chosen: StoredRun | None = None
    reason = rule
    if rule == "last":
        chosen = runs[0] if runs else None
    elif rule.startswith("label="):
        key, sep, value = rule.removeprefix("label=").partition("=")
        if not sep or not key:
            raise BadInputError(f"--baseline {spec}: write history:label=KEY=VALUE")
        chosen = next((r for r in runs if r.labels.get(key) == value), None)
    elif (found := _BEST.match(rule)) is not None:
        count = int(found[1])
        if count < 1:
            raise BadInputError(f"--baseline {spec}: best-of needs N >= 1")
        name = found[2] or (budgets[0].metric.name if budgets else DEFAULT_METRIC)
        metric = find_metric(name, "--baseline")
        best = best_of(runs[:count], metric, targets)
        if best is not None:
            chosen = best[0]
            reason = f"best {metric.name} ({best[1]:.6g}) of the {min(count, len(runs))} newest"
    else:
        raise BadInputError(f"--baseline {spec}: unknown history baseline; use {FORMS}")
    if chosen is None:
        raise BadInputError(
            f"--baseline {spec}: no stored run in {store.name} fits (workload "
            f"'{current.meta.workload.name}', targets {', '.join(targets)}); add one with "
            "costcli history add, or run with --history"
        )
    return Choice(chosen, store.document(chosen.id), reason)
