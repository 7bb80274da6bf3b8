"""`costcli check` over the benchmark file and the history store: the benchmark's results
file and `[gate]` table under the flags given, and a baseline from a file or the store
(`history:last`, `history:best-of:N[:METRIC]`, `history:label=KEY=VALUE`; the rules are in
costcli/results/history/baseline.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from costcli.cli.benchmark import benchmark_file, given_options
from costcli.files.errors import BadInputError

if TYPE_CHECKING:
    from costcli.results.document import RunResult
    from costcli.results.regress import Budget

# [gate] key -> check option
GATE_OPTIONS = {
    "baseline": "baseline",
    "budgets": "budget",
    "limits": "limit",
    "resamples": "resamples",
    "seed": "seed",
    "strict": "strict",
    "junit": "junit",
}


def gated_options(opts: Any) -> Any:
    """`cli.check.CheckOptions` with the benchmark file's values where a flag was not given."""
    from costcli.results.history.baseline import is_history

    given = given_options(opts)
    found = benchmark_file(opts.config, opts.benchmark, "check --benchmark")
    if found is None:
        if opts.results is None:
            raise BadInputError(
                "check: name a results file (or run in a folder with a costcli.toml)"
            )
        return opts
    bench = found.benchmark(opts.benchmark)
    changes: dict[str, Any] = {}
    if opts.results is None:
        changes["results"] = bench.output
    for key, option in GATE_OPTIONS.items():
        value = getattr(bench.gate, key)
        if option in given or value in (None, ()):
            continue
        if key == "junit":
            value = bench.path(value)
        elif key == "baseline" and not is_history(value):
            value = str(bench.path(value))
        elif key in ("budgets", "limits"):
            value = list(value)
        changes[option] = value
    if "db" not in given and bench.db is not None:
        changes["db"] = bench.db
    return dataclasses.replace(opts, **changes)


def load_baseline(
    opts: Any, current: RunResult, budgets: Sequence[Budget]
) -> tuple[RunResult | None, str]:
    """The baseline run and its name in the verdict: a results file, or a stored run."""
    from costcli.api import history_baseline, read_result
    from costcli.files.benchmark import history_db
    from costcli.results.history.baseline import is_history

    if opts.baseline is None:
        return None, "baseline"
    if not is_history(opts.baseline):
        return read_result(Path(opts.baseline)), opts.baseline
    db = history_db(opts.db, None)
    choice = history_baseline(db, opts.baseline, current, budgets)
    run = f"run {choice.run.id} of {choice.run.started_at[:19]}Z"
    typer.echo(f"baseline: {opts.baseline} -> {run} ({choice.reason}) in {db}", err=True)
    return choice.result, f"{opts.baseline} ({run})"
