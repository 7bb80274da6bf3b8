"""One target at one load point: warm up, then measure (plain requests or conversations)."""

from __future__ import annotations

from costcli.adapters.base import (
    Adapter,
)
from costcli.load import clock
from costcli.load.phase import ProgressObserver, TargetRun, note_error_stop, quiet_gc, recorder
from costcli.load.requests import RequestPhase
from costcli.load.schedule import OPEN_LOOP_LEAD_NS, UNCAPPED, PointJob, SpendGuard
from costcli.load.scrape import scraping
from costcli.load.sessions import run_conversations


async def run_target(
    adapter: Adapter, job: PointJob, observer: ProgressObserver, run: TargetRun
) -> TargetRun:
    """Warm up, then measure. Records land in `run` as they complete."""
    settings, label = job.settings, job.label
    spend = job.spend or UNCAPPED
    began = clock.perf_ns()

    def epoch() -> int:  # the phase's start, once it is set (a sample's time counts from it)
        return run.epoch_ns or began

    if job.workload.sessions:  # conversations: costcli/sessions.py drives the turns
        async with scraping(run.server, epoch, run.scrape_sink):
            await run_conversations(adapter, job, observer, run)
        return note_spend_stop(run, spend)
    left = (
        job.resumed is None
        or settings.requests is None
        or (
            job.resumed.requests.owned(job.shard, settings.warmup)
            < job.shard.share(settings.requests)
        )
    )
    if settings.warmup and left:  # a resumed point with nothing left is not warmed up
        await RequestPhase(adapter, job, lambda r: None, warmup=True).run()
    observer.target_started(
        label, job.shard.share(settings.requests) if settings.requests else None
    )
    phase = RequestPhase(adapter, job, lambda r: None, warmup=False)
    phase.on_record = recorder(run, settings, (label, observer), phase)
    try:
        with quiet_gc():  # its full collection comes before the phase starts, not in it
            start_ns = await job.start_gate() if job.start_gate is not None else None
            lead = OPEN_LOOP_LEAD_NS if settings.rate else 0
            run.epoch_ns = start_ns if start_ns is not None else clock.perf_ns() + lead
            async with scraping(run.server, epoch, run.scrape_sink):
                await phase.run(run.epoch_ns)
    finally:
        run.capped += phase.capped
        observer.target_finished(label)
    note_error_stop(run, settings)
    return note_spend_stop(run, spend)


def note_spend_stop(run: TargetRun, spend: SpendGuard) -> TargetRun:
    """A phase that held a request back for --max-spend-usd is marked stopped for it."""
    if spend.refused and run.stopped is None:
        run.stopped = "spend_cap"
    return run
