"""Hand-built results for tests: records from timestamps, results from records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from costcli.adapters.catalog import Target
from costcli.load.measure import Measurement
from costcli.load.phase import TargetRun
from costcli.load.runner import RunSetup, RunState, TargetProgress, build_result, target_result
from costcli.load.schedule import LoadSettings
from costcli.load.sweep import LoadPoint, SweepSpec
from costcli.pricing.prices import Prices
from costcli.results.document import RunResult
from costcli.results.metrics import SLO, RequestRecord
from costcli.workloads.sources import load_workload
from costcli.workloads.spec import Workload


def frozen(m: Measurement) -> RequestRecord:
    """A measurement as the scheduler records it (its phase started at 0 ns)."""
    return m.record(epoch_ns=0)


def setup_for(
    targets: Sequence[Target] = (),
    *,
    workload: Workload | None = None,
    load: LoadSettings | None = None,
    sweep: SweepSpec | None = None,
    slo: SLO | None = None,
    with_records: bool = False,
    prices: Prices | None = None,
) -> RunSetup:
    return RunSetup(
        targets=tuple(targets),
        workload=workload or load_workload("chat-short"),
        load=load or LoadSettings(requests=2),
        sweep=sweep,
        slo=slo,
        with_records=with_records,
        prices=prices,
    )


def result_of(
    runs: Sequence[tuple[Target, Sequence[RequestRecord | Measurement]]],
    *,
    complete: bool = True,
    info: dict[str, Any] | None = None,
    **options: Any,
) -> RunResult:
    """A results document for targets measured in one plain run each; an incomplete one
    was interrupted while measuring its last target."""
    setup = setup_for([t for t, _ in runs], **options)
    state = RunState()
    for i, (target, records) in enumerate(runs):
        frozen_records = [frozen(r) if isinstance(r, Measurement) else r for r in records]
        progress = TargetProgress(target, info=dict(info or {}))
        progress.runs.append(
            (LoadPoint(setup.load), TargetRun(records=frozen_records, slo=setup.slo))
        )
        if not complete and i == len(runs) - 1:
            state.current = progress
        else:
            state.finished.append(target_result(setup, progress, interrupted=False))
    return build_result(setup, state, complete=complete)
