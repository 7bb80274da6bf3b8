"""The `local` engine: the whole plan in this process, on one event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from costcli.engines.base import RunInterrupted
from costcli.engines.journaled import journaled
from costcli.load import runner
from costcli.plan import resolve

if TYPE_CHECKING:
    from costcli.load.phase import ProgressObserver
    from costcli.plan import RunPlan
    from costcli.results.document import RunResult


class LocalEngine:
    name = "local"

    def run(self, plan: RunPlan, observer: ProgressObserver) -> RunResult:
        state = runner.RunState()
        with journaled(plan, resolve(plan), state) as setup:
            try:
                runner.run(setup, state, observer)
            except KeyboardInterrupt:
                raise RunInterrupted(runner.build_result(setup, state, complete=False)) from None
            return runner.build_result(setup, state, complete=True)
