"""Capacity sweep: the same workload at several load points, per target.

`--sweep concurrency=1,2,4,8` (closed loop) or `--sweep rate=0.5,1,2` (open loop). A load
point meets the SLO when at least ATTAINMENT of its requests met every SLO and its error
rate is at most MAX_ERROR_RATE; without an SLO, only the error rate counts. The capacity
is the sustained requests/s of the highest load point that meets it: the figure the
self-hosted projection uses for one replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from costcli.catalog import Target
from costcli.errors import BadInputError
from costcli.load import LoadSettings, ProgressObserver, TargetRun, run_target
from costcli.metrics import SLO, Summary, summarize
from costcli.results import RunResult, SweepPoint
from costcli.runner import RunState, build_result, create_adapter, start, target_result
from costcli.workload import Workload

if TYPE_CHECKING:
    from costcli.prices import Prices

ATTAINMENT = 0.9
MAX_ERROR_RATE = 0.01


@dataclass(frozen=True)
class SweepSpec:
    kind: str  # "concurrency" or "rate"
    values: tuple[float, ...]

    def settings_at(self, base: LoadSettings, value: float) -> LoadSettings:
        if self.kind == "concurrency":
            return replace(base, concurrency=int(value), rate=None)
        return replace(base, rate=value)

    def label(self, value: float) -> str:
        return f"{self.kind}={value:g}"


def parse_sweep(text: str) -> SweepSpec:
    kind, sep, values = text.partition("=")
    kind = kind.strip()
    if not sep or kind not in ("concurrency", "rate"):
        raise BadInputError(f"--sweep {text}: use concurrency=1,2,4 or rate=0.5,1,2")
    try:
        nums = tuple(sorted({float(v) for v in values.split(",") if v.strip()}))
    except ValueError:
        raise BadInputError(f"--sweep {text}: the values must be numbers, e.g. 1,2,4") from None
    if not nums or nums[0] <= 0 or (kind == "concurrency" and any(v != int(v) for v in nums)):
        raise BadInputError(f"--sweep {text}: give positive values (whole numbers for concurrency)")
    return SweepSpec(kind, nums)


def meets(summary: Summary, slo: SLO | None) -> bool:
    if summary.requests.ok == 0 or summary.error_rate > MAX_ERROR_RATE:
        return False
    if summary.goodput is None or slo is None:
        return True
    return summary.goodput.attainment >= ATTAINMENT


def capacity(points: Sequence[SweepPoint]) -> SweepPoint | None:
    """The highest load point that meets the SLO (points are in increasing load)."""
    passing = [p for p in points if p.meets_slo]
    return passing[-1] if passing else None


async def _sweep_target(
    target: Target,
    workload: Workload,
    base: LoadSettings,
    spec: SweepSpec,
    slo: SLO | None,
    observer: ProgressObserver,
    state: RunState,
    with_records: bool,
    prices: Prices | None = None,
) -> None:
    widest = spec.settings_at(base, spec.values[-1])
    adapter = create_adapter(target, widest, workload)
    info: dict[str, object] = {}
    points: list[SweepPoint] = []
    runs: list[TargetRun] = []
    try:
        await start(adapter, target)
        for value in spec.values:
            run = TargetRun()
            state.current = (target, run, info)
            label = f"{target.label} @ {spec.label(value)}"
            await run_target(adapter, workload, spec.settings_at(base, value), label, observer, run)
            summary = summarize(run.records, slo)
            points.append(
                SweepPoint(load=spec.label(value), summary=summary, meets_slo=meets(summary, slo))
            )
            runs.append(run)
        info.update(adapter.describe())
    finally:
        await adapter.close()
    # the target's summary, cost and records are all the capacity point's (else the last's)
    best = capacity(points)
    chosen = runs[points.index(best)] if best is not None else runs[-1]
    result = target_result(target, chosen.records, dict(info), slo, with_records, prices=prices)
    result.sweep = points
    if best is not None:
        result.capacity_rps = best.summary.throughput.requests_per_s
        result.capacity_load = best.load
    state.current = None
    state.sweeps.append(result)


def run_sweep(
    targets: Sequence[Target],
    workload: Workload,
    base: LoadSettings,
    spec: SweepSpec,
    slo: SLO | None,
    observer: ProgressObserver,
    state: RunState,
    with_records: bool,
    prices: Prices | None = None,
) -> RunResult:
    async def all_targets() -> None:
        for target in targets:
            await _sweep_target(
                target, workload, base, spec, slo, observer, state, with_records, prices
            )

    asyncio.run(all_targets())
    result = build_result(state, workload, base, slo, with_records, complete=True, prices=prices)
    result.meta.load["sweep"] = {"kind": spec.kind, "values": list(spec.values)}
    return result
