"""What every measured phase shares: the progress observer, the target's records, the
error-rate stop and a quiet garbage collector.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from costcli.load.measure import Measurement
from costcli.load.schedule import LoadSettings
from costcli.results.metrics import SLO, Digest, RequestRecord
from costcli.results.server_metrics import Scrapes

MIN_REQUESTS_FOR_ERROR_STOP = 10


class ProgressObserver(Protocol):
    def target_started(self, label: str, total: int | None) -> None: ...
    def request_done(self, label: str, record: RequestRecord) -> None: ...
    def target_finished(self, label: str) -> None: ...


class SilentObserver:
    def target_started(self, label: str, total: int | None) -> None:
        pass

    def request_done(self, label: str, record: RequestRecord) -> None:
        pass

    def target_finished(self, label: str) -> None:
        pass


@dataclass
class TargetRun:
    """What one target's measured phase produced, folded in as requests complete: its
    figures (`digest`, in memory that does not grow with the run), the records themselves
    only where the run keeps them (`keep`: --records, a shard's result), and each record
    handed to `sink` (the journal) as it completes."""

    stopped: str | None = None  # why it stopped early: "max_error_rate", "interrupted"
    epoch_ns: int = 0  # start of the measured phase; records' `scheduled_ms` count from it
    capped: int = 0  # requests that waited for a free slot under --max-concurrency
    slo: SLO | None = None
    keep: bool = True
    sink: Callable[[RequestRecord], None] | None = None
    # a resumed point: its new records' `scheduled_ms` start after the journaled ones
    offset_ms: float = 0.0
    # every record as it is folded in, journaled or fed back from a journal alike (the
    # pooled figures of a repeated target: load/repeat.py)
    tap: Callable[[RequestRecord], None] | None = None
    # a capacity search's step: reads each record, says why the step may end early
    # (load/search.py StepWatch); `ended` keeps that reason (the step, not the target)
    watch: Callable[[RequestRecord], str | None] | None = None
    ended: str | None = None
    # --server-metrics: the server's own figures while the phase ran (load/scrape.py),
    # each sample also handed to `scrape_sink` (the journal)
    server: Scrapes | None = None
    scrape_sink: Callable[[dict[str, Any]], None] | None = None
    records: list[RequestRecord] = field(default_factory=list)
    digest: Digest = field(init=False)

    def __post_init__(self) -> None:
        self.digest = Digest(self.slo).extend(self.records)

    def add(self, record: RequestRecord, *, journal: bool = True) -> None:
        self.digest.add(record)
        if self.keep:
            self.records.append(record)
        if journal and self.sink is not None:
            self.sink(record)
        if self.tap is not None:
            self.tap(record)

    @property
    def measured(self) -> int:
        return self.digest.total

    def error_rate(self) -> float:
        return self.digest.error_rate()


@contextlib.contextmanager
def quiet_gc(gen0_threshold: int = 50_000) -> Iterator[None]:
    """Fewer, shorter garbage-collector pauses while requests are in flight.

    A gen-2 collection walks every live object and stalls the event loop; at 256 streams
    that stall lands in the TTFT of whichever chunks arrive meanwhile (p99 35-42 ms against
    the server's send log, 10-11 ms with this; docs/performance.md). What exists before the
    phase is frozen out of the collector's sight, and young objects are collected 70 times
    less often. Both are undone afterwards.
    """
    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


class Stoppable(Protocol):
    stop: bool


def recorder(
    run: TargetRun, settings: LoadSettings, progress: tuple[str, ProgressObserver], phase: Stoppable
) -> Callable[[Measurement], None]:
    """What a measured phase does with each finished request: record it, report it, and
    stop the phase once the error rate passes `max_error_rate`."""
    label, observer = progress

    def on_record(measurement: Measurement) -> None:
        record = measurement.record(run.epoch_ns - int(run.offset_ms * 1e6))
        run.add(record)
        observer.request_done(label, record)
        limit = settings.max_error_rate
        if (
            limit is not None
            and run.measured >= MIN_REQUESTS_FOR_ERROR_STOP
            and run.error_rate() > limit
            and not phase.stop
        ):
            phase.stop = True
            run.stopped = "max_error_rate"
        if run.watch is not None and not phase.stop:
            why = run.watch(record)
            if why is not None:
                phase.stop = True  # the step's verdict is known: it sends no more
                run.ended = why

    return on_record


def note_error_stop(run: TargetRun, settings: LoadSettings) -> None:
    """A phase that ended past `max_error_rate` is marked stopped for it."""
    limit = settings.max_error_rate
    if limit is not None and run.stopped is None and run.error_rate() > limit:
        run.stopped = "max_error_rate"


class SessionRun(Stoppable, Protocol):
    async def run(self) -> None: ...


async def measured_phase(
    phase: SessionRun,
    run: TargetRun,
    settings: LoadSettings,
    progress: tuple[str, ProgressObserver],
) -> None:
    """Run a conversational phase with the collector quiet (costcli/sessions.py)."""
    try:
        with quiet_gc():
            await phase.run()
    finally:
        progress[1].target_finished(progress[0])
    note_error_stop(run, settings)
