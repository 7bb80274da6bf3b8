"""The scheduler: closed loop (concurrency) or open loop (constant/poisson/gamma arrivals).

Every request gets a `scheduled_ns`: in a closed loop, the moment its worker became free;
in an open loop, its planned arrival time, however late the client actually sends it. All
latencies run from there, so a stalled client cannot hide its own delay.

The scheduler knows nothing of providers: adapters turn the wire into StreamEvents and
this module turns events into RequestRecords. It reports progress to an observer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from costcli.adapters.base import (
    Adapter,
    FirstByte,
    ProviderError,
    RateLimitedError,
    Telemetry,
    TextDelta,
    Usage,
)
from costcli.metrics import RequestRecord
from costcli.schema_check import check_answer
from costcli.workload import RequestSpec, Workload

perf_ns = time.perf_counter_ns
ARRIVALS = ("constant", "poisson", "gamma")
MIN_REQUESTS_FOR_ERROR_STOP = 10


@dataclass(frozen=True)
class LoadSettings:
    concurrency: int = 1
    rate: float | None = None  # requests/s; None = closed loop at `concurrency`
    arrival: str = "constant"
    burstiness: float = 1.0  # gamma shape; 1.0 = poisson
    requests: int | None = None
    duration_s: float | None = None
    warmup: int = 0
    timeout_s: float = 120.0
    max_retries: int = 0
    max_error_rate: float | None = None
    max_concurrency: int | None = None  # cap on in-flight requests in an open loop
    seed: int = 0

    def describe(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items()}


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
    """What one target's measured phase produced. `records` fills in while it runs."""

    records: list[RequestRecord] = field(default_factory=list)
    stopped: str | None = None  # why it stopped early: "max_error_rate", "interrupted"
    failed: int = field(init=False)  # how many of `records` failed, kept as they come

    def __post_init__(self) -> None:
        self.failed = sum(1 for r in self.records if not r.ok)

    def add(self, record: RequestRecord) -> None:
        self.records.append(record)
        self.failed += not record.ok

    def error_rate(self) -> float:
        return self.failed / len(self.records) if self.records else 0.0


# --- one request -------------------------------------------------------------------------


async def _consume(adapter: Adapter, spec: RequestSpec, rec: RequestRecord) -> str:
    """Read one attempt's events into `rec`; returns the answer text (kept only for checks)."""
    keep_text = spec.schema is not None
    parts: list[str] = []
    text_chunks = 0
    rec.sent_ns = rec.sent_ns or perf_ns()
    async for event in adapter.stream(spec):
        if isinstance(event, TextDelta):
            if rec.first_token_ns is None:
                rec.first_token_ns = event.t_ns
            rec.chunk_ns.append(event.t_ns)
            text_chunks += 1
            if keep_text and not event.reasoning:
                parts.append(event.text)
        elif isinstance(event, FirstByte):
            if rec.first_byte_ns is None:
                rec.first_byte_ns = event.t_ns
        elif isinstance(event, Usage):
            rec.input_tokens = (
                event.input_tokens if event.input_tokens is not None else rec.input_tokens
            )
            rec.output_tokens = (
                event.output_tokens if event.output_tokens is not None else rec.output_tokens
            )
            rec.cached_input_tokens = event.cached_input_tokens
            rec.reasoning_tokens = event.reasoning_tokens
        elif isinstance(event, Telemetry):
            rec.queue_ms = event.queue_ms if event.queue_ms is not None else rec.queue_ms
            rec.prefill_ms = event.prefill_ms if event.prefill_ms is not None else rec.prefill_ms
            rec.decode_ms = event.decode_ms if event.decode_ms is not None else rec.decode_ms
        else:  # Finish
            rec.finish_reason = event.reason
            rec.end_ns = event.t_ns
    if rec.output_tokens is None:
        rec.output_tokens = text_chunks
        rec.tokens_estimated = True
    return "".join(parts)


def _reset_attempt(rec: RequestRecord) -> None:
    """Forget a failed attempt: only `retries` and the original schedule carry over."""
    rec.first_byte_ns = rec.first_token_ns = None
    rec.chunk_ns = []
    rec.input_tokens = rec.output_tokens = rec.cached_input_tokens = rec.reasoning_tokens = None
    rec.tokens_estimated = False
    rec.finish_reason = rec.status = rec.error = rec.error_message = None
    rec.queue_ms = rec.prefill_ms = rec.decode_ms = None
    rec.end_ns = 0


async def measure(
    adapter: Adapter, spec: RequestSpec, scheduled_ns: int, settings: LoadSettings
) -> RequestRecord:
    """Send one request (with retries on rate limits) and record what happened."""
    rec = RequestRecord(index=spec.index, scheduled_ns=scheduled_ns, tags=spec.tags)
    rec.sent_ns = perf_ns()
    for attempt in range(settings.max_retries + 1):
        try:
            answer = await asyncio.wait_for(_consume(adapter, spec, rec), settings.timeout_s)
            rec.end_ns = rec.end_ns or perf_ns()
            if spec.schema is not None:
                problem = check_answer(answer, spec.schema)
                rec.output_valid = problem is None
                if problem:
                    rec.error, rec.error_message = "invalid_output", problem
            return rec
        except RateLimitedError as exc:
            rec.end_ns, rec.status = perf_ns(), exc.status
            rec.error, rec.error_message = exc.error_class, str(exc)
            if attempt < settings.max_retries:
                rec.retries += 1
                _reset_attempt(rec)
                await asyncio.sleep(
                    exc.retry_after_s if exc.retry_after_s is not None else 2**attempt
                )
                continue
            return rec
        except ProviderError as exc:
            rec.error, rec.error_message, rec.status = exc.error_class, str(exc), exc.status
        except (asyncio.TimeoutError, TimeoutError):
            rec.error, rec.error_message = (
                "timeout",
                f"no complete answer within {settings.timeout_s:g} s",
            )
        rec.end_ns = perf_ns()
        return rec
    return rec  # pragma: no cover - the loop always returns


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


# --- arrivals ------------------------------------------------------------------------------


def interarrival_s(settings: LoadSettings) -> Callable[[], float]:
    """Gaps between planned sends in an open loop; gamma(shape=burstiness) keeps the mean."""
    rate = settings.rate or 1.0
    rng = random.Random(settings.seed)
    if settings.arrival == "constant":
        return lambda: 1.0 / rate
    if settings.arrival == "poisson":
        return lambda: rng.expovariate(rate)
    shape = settings.burstiness
    return lambda: rng.gammavariate(shape, 1.0 / (rate * shape))


# --- a phase: N requests or a duration, closed or open loop ------------------------------


class _Phase:
    def __init__(
        self,
        adapter: Adapter,
        specs: Iterator[RequestSpec],
        settings: LoadSettings,
        on_record: Callable[[RequestRecord], None],
        limit: int | None,
        duration_s: float | None,
    ) -> None:
        self.adapter, self.specs, self.settings = adapter, specs, settings
        self.on_record, self.limit = on_record, limit
        self.duration_ns = int(duration_s * 1e9) if duration_s else None
        self.sent = 0
        self.stop = False
        self.start_ns = 0

    def next_spec(self) -> RequestSpec | None:
        if self.stop or (self.limit is not None and self.sent >= self.limit):
            return None
        if self.duration_ns is not None and perf_ns() - self.start_ns >= self.duration_ns:
            return None
        self.sent += 1
        return next(self.specs)

    async def closed_loop(self) -> None:
        async def worker() -> None:
            while (spec := self.next_spec()) is not None:
                self.on_record(await measure(self.adapter, spec, perf_ns(), self.settings))

        self.start_ns = perf_ns()
        await asyncio.gather(*(worker() for _ in range(max(1, self.settings.concurrency))))

    async def open_loop(self) -> None:
        gap = interarrival_s(self.settings)
        cap = asyncio.Semaphore(self.settings.max_concurrency or 1_000_000)
        tasks: set[asyncio.Task[None]] = set()

        async def one(spec: RequestSpec, at_ns: int) -> None:
            async with cap:
                self.on_record(await measure(self.adapter, spec, at_ns, self.settings))

        self.start_ns = due = perf_ns() + 2_000_000
        while (spec := self.next_spec()) is not None:
            delay = (due - perf_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(spec, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            due += int(gap() * 1e9)
        if tasks:
            await asyncio.gather(*tasks)

    async def run(self) -> None:
        if self.settings.rate:
            await self.open_loop()
        else:
            await self.closed_loop()


async def run_target(
    adapter: Adapter,
    workload: Workload,
    settings: LoadSettings,
    label: str,
    observer: ProgressObserver,
    run: TargetRun,
) -> TargetRun:
    """Warm up, then measure. Records land in `run.records` as they complete."""
    if settings.warmup:
        warm = (workload.request(i) for i in range(settings.warmup))
        await _Phase(adapter, warm, settings, lambda r: None, settings.warmup, None).run()

    def measured() -> Iterator[RequestSpec]:
        i = settings.warmup
        while True:
            yield workload.request(i)
            i += 1

    phase: _Phase

    def on_record(record: RequestRecord) -> None:
        run.add(record)
        observer.request_done(label, record)
        limit = settings.max_error_rate
        if (
            limit is not None
            and len(run.records) >= MIN_REQUESTS_FOR_ERROR_STOP
            and run.error_rate() > limit
            and not phase.stop
        ):
            phase.stop = True
            run.stopped = "max_error_rate"

    observer.target_started(label, settings.requests)
    phase = _Phase(adapter, measured(), settings, on_record, settings.requests, settings.duration_s)
    try:
        with quiet_gc():
            await phase.run()
    finally:
        observer.target_finished(label)
    limit = settings.max_error_rate
    if limit is not None and run.stopped is None and run.error_rate() > limit:
        run.stopped = "max_error_rate"
    return run
