"""The public API: one entry point per use-case, shared by the CLI, scripts and pytest.

    import costcli

    plan = costcli.RunPlan(targets=["mock"], requests=20, concurrency=4, slo={"ttft_ms": 500})
    result = costcli.execute(plan)                      # -> RunResult (the results document)
    report = costcli.project(result, costcli.ProjectionPlan(requests_per_month=2e6))
    verdict = costcli.check(result, baseline, budgets=["ttft_p95_ms=+10%"])

Every command of the CLI is options -> plan -> one of these calls -> one renderer. They
raise `CostcliError` subclasses (costcli.files.errors) and never exit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from costcli.engines.base import RunInterrupted
from costcli.engines.registry import engine
from costcli.load.phase import ProgressObserver, SilentObserver
from costcli.plan import RunPlan, resolve
from costcli.pricing.cost import ProjectionReport
from costcli.pricing.projection import ProjectionPlan
from costcli.pricing.projection import project as _project
from costcli.results.document import RunResult, dumps, write_atomic
from costcli.results.document import read_result as _read_result
from costcli.results.history import HistoryStore, open_store
from costcli.results.history.baseline import Choice, pick
from costcli.results.journal import with_journal_records
from costcli.results.regress import (
    Bootstrap,
    Budget,
    Limit,
    RunNames,
    Verdict,
    parse_budget,
    parse_limit,
)
from costcli.results.regress import check as _check

__all__ = [
    "ProjectionPlan",
    "RunInterrupted",
    "RunPlan",
    "add_history",
    "check",
    "execute",
    "history_baseline",
    "open_history",
    "project",
    "read_result",
    "resolve",
    "write_result",
]


def execute(plan: RunPlan, observer: ProgressObserver | None = None) -> RunResult:
    """Run the plan on its engine (costcli/engines/registry.py): every target over every
    load point. Raises RunInterrupted on Ctrl-C (with the partial result), UnreachableError
    when a target cannot start."""
    return engine(plan.engine_name).run(plan, observer or SilentObserver())


def project(result: RunResult | None, plan: ProjectionPlan | None = None) -> ProjectionReport:
    """A month of the plan's traffic on each option -> `cost.ProjectionReport`.

    `result` gives the token shape and self-hosted capacity; without one, the plan's
    `input_tokens`/`output_tokens` do.
    """
    return _project(result, plan or ProjectionPlan())


def check(
    result: RunResult,
    baseline: RunResult | None = None,
    budgets: Sequence[str | Budget] = (),
    limits: Sequence[str | Limit] = (),
    **options: Any,
) -> Verdict:
    """Gate a run: budgets against a baseline ("ttft_p95_ms=+10%"), limits on the run alone
    ("error_rate=0.01"). `options`: current_name, baseline_name, resamples, confidence,
    seed."""
    parsed_budgets = [parse_budget(b) if isinstance(b, str) else b for b in budgets]
    parsed_limits = [parse_limit(v) if isinstance(v, str) else v for v in limits]
    names = RunNames(
        options.pop("current_name", "results"), options.pop("baseline_name", "baseline")
    )
    bootstrap = Bootstrap(**options)
    return _check(result, baseline, parsed_budgets, parsed_limits, names=names, bootstrap=bootstrap)


def read_result(path: Path | str, *, journal: bool = True) -> RunResult:
    """A results file, validated (BadInputError naming the file and key). `journal`: a
    file written without --records takes its records from its journal (`meta.journal`),
    all of them or a seeded sample of `JOURNAL_SAMPLE` past that (bounded memory)."""
    result = _read_result(Path(path))
    return with_journal_records(result) if journal else result


def write_result(result: RunResult, path: Path | str) -> None:
    """Write the results document atomically: the same bytes as `costcli run -o`."""
    write_atomic(Path(path), dumps(result))


def open_history(db: str) -> HistoryStore:
    """The history store at `db` (a SQLite path, or a postgresql:// URL), made or migrated
    as needed; use it as a context manager."""
    return open_store(db)


def add_history(db: str, result: RunResult, labels: dict[str, str] | None = None) -> int:
    """Keep a run in the store at `db`; its id (the same document is kept once)."""
    with open_store(db) as store:
        return store.add(result, labels)[0]


def history_baseline(
    db: str, spec: str, current: RunResult, budgets: Sequence[str | Budget] = ()
) -> Choice:
    """The stored run that `spec` (history:last, history:best-of:N[:METRIC],
    history:label=KEY=VALUE) picks as the baseline of `current`
    (costcli/results/history/baseline.py has the rules)."""
    parsed = [parse_budget(b) if isinstance(b, str) else b for b in budgets]
    with open_store(db) as store:
        return pick(store, spec, current, parsed)
