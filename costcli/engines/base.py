"""The Engine contract: what runs a `RunPlan` and hands back its `RunResult`.

An engine is any object with a `name` and a `run(plan, observer)`; it owns how the plan's
schedule is spread (one event loop, worker processes, a cluster's tasks) and must deliver
every record it measured, merged into one results document, even when interrupted:
Ctrl-C (or SIGTERM, SIGHUP) ends a run with `RunInterrupted`, which carries the partial
result. Engines are found by name in `costcli.engines.registry`: the built-ins and the
`costcli.engines` entry-point group, through one path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from costcli.files.errors import CostcliError

if TYPE_CHECKING:
    from costcli.load.phase import ProgressObserver
    from costcli.plan import RunPlan
    from costcli.results.document import RunResult

EXIT_INTERRUPTED = 130


@runtime_checkable
class Engine(Protocol):
    """Runs a plan. `run` raises `RunInterrupted` (with what was measured) on a signal,
    `UnreachableError` when a target cannot start, `BadInputError` for a plan it cannot
    run (naming the option)."""

    name: str

    def run(self, plan: RunPlan, observer: ProgressObserver) -> RunResult: ...


class RunInterrupted(CostcliError):
    """Ctrl-C (or SIGINT) during a run; `result` holds what was measured (complete=False)."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, result: RunResult, exit_code: int = EXIT_INTERRUPTED) -> None:
        super().__init__("interrupted; what was measured is kept")
        self.result = result
        self.exit_code = exit_code  # 130 for Ctrl-C; 143 SIGTERM, 129 SIGHUP (load.signals)
