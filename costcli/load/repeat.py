"""`--repeat N`: the plan run N times, its targets interleaved in each round (round 1: A, B;
round 2: A, B; ...) so that a drift of the network or the server hits every target alike.

The runner runs the targets in *slots*: slot j is target j % T of round j // T (T targets),
each a target run of its own, journaled under its slot's number, so a killed repeated run
resumes at the round and target it stopped in, and `recover` reads it back. Every record a
slot folds in is also folded (`TargetRun.tap`) into its target's pooled run for that load
point, each round's times laid after the previous round's window, so the pooled throughput
is requests over the time the target was measured. A repeated target's result is then its
pooled figures (`summary`, `sweep`, `capacity_*`, `records`, `cost`: every run's records),
`repeats` (each run's own summary, at the load point the pooled summary is of) and `ci95`
on each distribution block, over the runs (results/repeats.py has the method).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from costcli.load.phase import TargetRun
from costcli.load.sweep import LoadPoint
from costcli.results.document import SweepPoint, TargetResult
from costcli.results.metrics import SLO, RequestRecord, Summary
from costcli.results.repeats import with_ci95

PooledRun = list[tuple[LoadPoint, TargetRun]]


@dataclass
class Rounds:
    """The rounds of a repeated run: which slot is which target and round, and each
    target's pooled runs, one per load point."""

    count: int  # N
    targets: int  # T
    pools: dict[int, PooledRun] = field(default_factory=dict)
    waits: dict[tuple[int, int], list[TargetRun]] = field(default_factory=dict)

    def target_of(self, slot: int) -> int:
        return slot % self.targets

    def round_of(self, slot: int) -> int:
        return slot // self.targets

    def label(self, slot: int, label: str) -> str:
        """The progress label of a slot: 'mock:m (run 2/3)'."""
        return f"{label} (run {self.round_of(slot) + 1}/{self.count})"

    def attach(
        self, slot: int, p: int, point: LoadPoint, run: TargetRun, slo: SLO | None, keep: bool
    ) -> None:
        """Tap a slot's run at load point p into its target's pooled run for that point."""
        t, r = self.target_of(slot), self.round_of(slot)
        pools = self.pools.setdefault(t, [])
        while len(pools) <= p:
            pools.append((point, TargetRun(slo=slo, keep=keep)))
        pooled = pools[p][1]
        self.waits.setdefault((t, p), []).append(run)
        digest = pooled.digest
        base = digest.end if digest.timed else 0.0  # this round starts where the last ended

        def tap(record: RequestRecord) -> None:
            update: dict[str, object] = {}
            if record.scheduled_ms is not None:
                update["scheduled_ms"] = record.scheduled_ms + base
            if record.session is not None and r:  # each round's conversations are its own
                update["session"] = f"{record.session}#{r + 1}"
            pooled.add(record.model_copy(update=update) if update else record, journal=False)

        run.tap = tap

    def fold(
        self,
        slots: Sequence[TargetResult],
        pooled_result: Callable[[int, PooledRun], TargetResult],
    ) -> list[TargetResult]:
        """Each target's slots (one a round) -> its one result: pooled figures, each run's
        summary in `repeats`, `ci95` over them."""
        out = []
        for t in range(self.targets):
            mine = list(slots[t :: self.targets])
            if not mine or t not in self.pools:
                continue
            for p, (_, pooled) in enumerate(self.pools[t]):
                pooled.capped = sum(run.capped for run in self.waits.get((t, p), ()))
            out.append(repeated(pooled_result(t, self.pools[t]), mine))
        return out


def _at(result: TargetResult, load: str | None) -> Summary | None:
    """A run's summary at load point `load` (None: its own summary)."""
    if load is None or not result.sweep:
        return result.summary
    return next((p.summary for p in result.sweep if p.load == load), None)


def _chosen_load(pooled: TargetResult) -> str | None:
    """The load point the pooled summary is of: the capacity point, else the last."""
    if not pooled.sweep:
        return None
    return pooled.capacity_load or pooled.sweep[-1].load


def repeated(pooled: TargetResult, runs: Sequence[TargetResult]) -> TargetResult:
    """The pooled result with each run's summary (`repeats`) and the intervals over them;
    stopped, server facts and client health as the runs had them."""
    load = _chosen_load(pooled)
    summaries = [s for s in (_at(run, load) for run in runs) if s is not None]
    sweep = None
    if pooled.sweep:
        sweep = [_point_with_ci95(point, runs) for point in pooled.sweep]
    stopped = next((run.stopped for run in runs if run.stopped), None)
    return pooled.model_copy(
        update={
            "summary": with_ci95(pooled.summary, summaries),
            "sweep": sweep,
            "repeats": summaries,
            "stopped": stopped,
            "server_info": runs[-1].server_info,
        }
    )


def _point_with_ci95(point: SweepPoint, runs: Sequence[TargetResult]) -> SweepPoint:
    theirs = [s for s in (_at(run, point.load) for run in runs) if s is not None]
    return point.model_copy(update={"summary": with_ci95(point.summary, theirs)})
