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
import itertools
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from costcli.adapters.base import (
    MAX_RETRY_AFTER_S,
    Adapter,
    Finish,
    FirstByte,
    ProviderError,
    RateLimitedError,
    Sent,
    StreamEvent,
    Telemetry,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from costcli.grading import grade
from costcli.metrics import NS_PER_MS, RequestRecord
from costcli.workload import RequestSpec, Workload

perf_ns = time.perf_counter_ns
ARRIVALS = ("constant", "poisson", "gamma")
MIN_REQUESTS_FOR_ERROR_STOP = 10
DEFAULT_REQUESTS = 16  # measured requests when neither a count nor a duration is given
OPEN_LOOP_LEAD_NS = 2_000_000  # the first planned arrival, after the phase is set up


class LoadSettings(BaseModel):
    """How one load point is driven. Part of the serialisable RunPlan (costcli/api.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(1, ge=1)
    rate: float | None = Field(None, gt=0, allow_inf_nan=False)  # None: closed loop
    arrival: Literal["constant", "poisson", "gamma"] = "constant"
    burstiness: float = Field(1.0, gt=0, allow_inf_nan=False)  # gamma shape; 1.0 = poisson
    requests: int | None = Field(None, ge=1)
    duration_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    warmup: int = Field(0, ge=0)
    timeout_s: float = Field(120.0, gt=0, allow_inf_nan=False)
    max_retries: int = Field(0, ge=0)
    max_error_rate: float | None = Field(None, ge=0, le=1)
    max_concurrency: int | None = Field(None, ge=1)  # cap on in-flight requests (open loop)
    seed: int = 0
    sessions: int | None = Field(None, ge=1)  # conversations to run (conversational workloads)

    @model_validator(mode="before")
    @classmethod
    def _some_stop(cls, data: Any) -> Any:
        """Neither a request count nor a duration: DEFAULT_REQUESTS measured requests."""
        unbounded = isinstance(data, dict) and data.get("requests") is None
        if unbounded and data.get("duration_s") is None and data.get("sessions") is None:
            return {**data, "requests": DEFAULT_REQUESTS}
        return data

    def describe(self) -> dict[str, object]:
        return self.model_dump(mode="json")


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
    epoch_ns: int = 0  # start of the measured phase; records' `scheduled_ms` count from it
    capped: int = 0  # requests that waited for a free slot under --max-concurrency

    def __post_init__(self) -> None:
        self.failed = sum(1 for r in self.records if not r.ok)

    def add(self, record: RequestRecord) -> None:
        self.records.append(record)
        self.failed += not record.ok

    def error_rate(self) -> float:
        return self.failed / len(self.records) if self.records else 0.0


# --- one request -------------------------------------------------------------------------


@dataclass(slots=True)
class Measurement:
    """One request while it is in flight. Times are perf_counter_ns; None where none came."""

    index: int
    scheduled_ns: int
    tags: tuple[str, ...] = ()
    sent_ns: int = 0  # bytes handed to a connection (the adapter's `Sent`), else stream() called
    sent_by_adapter: bool = False
    first_byte_ns: int | None = None
    first_token_ns: int | None = None
    first_output_ns: int | None = None  # first answer token or tool-call delta (no reasoning)
    end_ns: int = 0
    chunk_ns: list[int] = field(default_factory=list)  # arrival of each text-bearing chunk
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_estimated: bool = False
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None
    error_message: str | None = None
    status: int | None = None
    retries: int = 0
    output_valid: bool | None = None
    queue_ms: float | None = None
    prefill_ms: float | None = None
    decode_ms: float | None = None
    session: str | None = None
    turn: int | None = None
    tool_calls: dict[int, list[str]] = field(default_factory=dict)  # index -> [name, args...]
    correct: bool | None = None  # graded answers (`expected`)
    answer: str | None = None  # kept when the spec needs it (checks, conversation history)

    def since_scheduled_ms(self, t_ns: int | None) -> float | None:
        return None if t_ns is None else (t_ns - self.scheduled_ns) / NS_PER_MS

    def record(self, epoch_ns: int) -> RequestRecord:
        """The finished request as the one record model (DESIGN.md's definitions)."""
        ttft = self.since_scheduled_ms(self.first_token_ns)
        e2e = (self.end_ns - self.scheduled_ns) / NS_PER_MS
        out = self.output_tokens
        decoding = ttft is not None and out is not None and out >= 2
        span_ms = e2e - ttft if decoding and ttft is not None else 0.0
        c = self.chunk_ns
        return RequestRecord.model_construct(
            index=self.index,
            ok=self.error is None,
            error=self.error,
            error_message=self.error_message,
            status=self.status,
            retries=self.retries,
            scheduled_ms=(self.scheduled_ns - epoch_ns) / NS_PER_MS,
            ttft_ms=ttft,
            ttfo_ms=self.since_scheduled_ms(self.first_output_ns),
            ttfb_ms=self.since_scheduled_ms(self.first_byte_ns),
            e2e_ms=e2e,
            client_delay_ms=(self.sent_ns - self.scheduled_ns) / NS_PER_MS,
            tpot_ms=span_ms / (out - 1) if decoding and out else None,
            decode_tokens_per_s=(out - 1) / (span_ms / 1000.0)
            if decoding and out and span_ms > 0
            else None,
            itl_ms=[round((c[i] - c[i - 1]) / NS_PER_MS, 4) for i in range(1, len(c))],
            input_tokens=self.input_tokens,
            output_tokens=out,
            tokens_estimated=self.tokens_estimated,
            cached_input_tokens=self.cached_input_tokens,
            reasoning_tokens=self.reasoning_tokens,
            finish_reason=self.finish_reason,
            output_valid=self.output_valid,
            queue_ms=self.queue_ms,
            prefill_ms=self.prefill_ms,
            decode_ms=self.decode_ms,
            tags=list(self.tags),
            session=self.session,
            turn=self.turn,
            tool_calls=len(self.tool_calls) if self.tool_calls else None,
            correct=self.correct,
        )


def _apply(rec: Measurement, event: Usage | Telemetry) -> None:
    """Fold a usage or telemetry event into the measurement (later figures win)."""
    if isinstance(event, Usage):
        if event.input_tokens is not None:
            rec.input_tokens = event.input_tokens
        if event.output_tokens is not None:
            rec.output_tokens = event.output_tokens
        if event.cached_input_tokens is not None:
            rec.cached_input_tokens = event.cached_input_tokens
        if event.reasoning_tokens is not None:
            rec.reasoning_tokens = event.reasoning_tokens
        return
    rec.queue_ms = event.queue_ms if event.queue_ms is not None else rec.queue_ms
    rec.prefill_ms = event.prefill_ms if event.prefill_ms is not None else rec.prefill_ms
    rec.decode_ms = event.decode_ms if event.decode_ms is not None else rec.decode_ms


def _first_text(rec: Measurement, event: TextDelta) -> None:
    """TTFT is the first output of any kind; TTFO the first that is not reasoning."""
    if rec.first_token_ns is None:
        rec.first_token_ns = event.t_ns
    if not event.reasoning:
        rec.first_output_ns = event.t_ns


def _tool_delta(rec: Measurement, event: ToolCallDelta) -> None:
    """A tool-call piece is output: it counts for TTFT, TTFO and ITL; its arguments add up."""
    rec.first_token_ns = rec.first_token_ns or event.t_ns
    rec.first_output_ns = rec.first_output_ns or event.t_ns
    rec.chunk_ns.append(event.t_ns)
    call = rec.tool_calls.setdefault(event.index, [""])
    call[0] = event.name or call[0]
    call.append(event.arguments)


def _note(rec: Measurement, event: StreamEvent) -> None:
    """Fold an event that carries no text into the measurement."""
    if isinstance(event, FirstByte):
        if rec.first_byte_ns is None:
            rec.first_byte_ns = event.t_ns
    elif isinstance(event, Sent):
        if not rec.sent_by_adapter:  # a retry's send is not the request's first
            rec.sent_ns, rec.sent_by_adapter = event.t_ns, True
    elif isinstance(event, Usage | Telemetry):
        _apply(rec, event)
    elif isinstance(event, Finish):
        rec.finish_reason = event.reason
        rec.end_ns = event.t_ns


async def _consume(adapter: Adapter, spec: RequestSpec, rec: Measurement) -> str:
    """Read one attempt's events into `rec`; returns the answer text (kept only for checks)."""
    keep_text = spec.keeps_answer
    parts: list[str] = []
    text_chunks = 0
    async for event in adapter.stream(spec):
        if isinstance(event, TextDelta):
            if rec.first_output_ns is None:
                _first_text(rec, event)
            rec.chunk_ns.append(event.t_ns)
            text_chunks += 1
            if keep_text and not event.reasoning:
                parts.append(event.text)
        elif isinstance(event, ToolCallDelta):
            _tool_delta(rec, event)
            text_chunks += 1
        else:
            _note(rec, event)
    if rec.output_tokens is None:
        rec.output_tokens = text_chunks
        rec.tokens_estimated = True
    return "".join(parts)


def _reset_attempt(rec: Measurement) -> None:
    """Forget a failed attempt: only `retries` and the original schedule carry over."""
    rec.first_byte_ns = rec.first_token_ns = rec.first_output_ns = None
    rec.chunk_ns = []
    rec.tool_calls = {}
    rec.input_tokens = rec.output_tokens = rec.cached_input_tokens = rec.reasoning_tokens = None
    rec.tokens_estimated = False
    rec.finish_reason = rec.status = rec.error = rec.error_message = None
    rec.queue_ms = rec.prefill_ms = rec.decode_ms = None
    rec.end_ns = 0


async def _within(coro: Coroutine[Any, Any, str], seconds: float) -> str:
    """`coro` with a deadline. On 3.11+ a timeout scope in this task: `wait_for` would run
    it in a new task, one more step of the event loop before the request even starts, which
    a burst of 64 requests pays 64 times over."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await coro
    return await asyncio.wait_for(coro, seconds)  # pragma: no cover - Python 3.10


def retry_wait_s(retry_after_s: float | None, attempt: int) -> float:
    """How long to wait before retrying a 429: the server's retry-after (never negative,
    at most MAX_RETRY_AFTER_S), else 1, 2, 4... seconds."""
    wait = 2.0**attempt if retry_after_s is None or math.isnan(retry_after_s) else retry_after_s
    return min(MAX_RETRY_AFTER_S, max(0.0, wait))


def _failed(rec: Measurement, exc: BaseException, settings: LoadSettings) -> None:
    """Record why the attempt failed, by DESIGN.md's error classes."""
    if isinstance(exc, ProviderError):
        rec.error, rec.error_message, rec.status = exc.error_class, str(exc), exc.status
    elif isinstance(exc, asyncio.TimeoutError | TimeoutError):
        rec.error = "timeout"
        rec.error_message = f"no complete answer within {settings.timeout_s:g} s"
    else:  # an adapter's own bug: the request is lost, the run is not
        rec.error = "stream_aborted"
        rec.error_message = f"the adapter failed: {type(exc).__name__}: {exc}"[:300]


async def measure(
    adapter: Adapter, spec: RequestSpec, scheduled_ns: int, settings: LoadSettings
) -> Measurement:
    """Send one request (with retries on rate limits) and record what happened.

    `--timeout` bounds the whole request, retries and their waits included; a retry-after
    that would pass it ends the request as rate_limited. Every wait counts in the latency
    (measured from `scheduled_ns`)."""
    rec = Measurement(
        index=spec.index, scheduled_ns=scheduled_ns, tags=spec.tags, session=spec.session
    )
    rec.turn = spec.turn
    rec.correct = False if spec.expected is not None else None  # graded wrong unless answered
    rec.sent_ns = perf_ns()
    deadline_ns = rec.sent_ns + int(settings.timeout_s * 1e9)
    for attempt in range(settings.max_retries + 1):
        try:
            left_s = max(0.0, (deadline_ns - perf_ns()) / 1e9)
            answer = await _within(_consume(adapter, spec, rec), left_s)
            rec.end_ns = rec.end_ns or perf_ns()
            grade(rec, spec, answer)
            return rec
        except RateLimitedError as exc:
            rec.end_ns, rec.status = perf_ns(), exc.status
            rec.error, rec.error_message = exc.error_class, str(exc)
            wait_s = retry_wait_s(exc.retry_after_s, attempt)
            if attempt == settings.max_retries:
                return rec
            if perf_ns() + int(wait_s * 1e9) >= deadline_ns:
                rec.error_message += f" (a retry after {wait_s:g} s would pass --timeout)"
                return rec
            rec.retries += 1
            _reset_attempt(rec)
            await asyncio.sleep(wait_s)
        except Exception as exc:  # every failure is a record, never a crash
            _failed(rec, exc, settings)
            break
    rec.end_ns = perf_ns()
    return rec


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


# --- arrivals and shards --------------------------------------------------------------


class Shard(BaseModel):
    """Part `index` of `count` (1-based) of a run's seeded schedule: the requests whose
    number k (0-based, warm-up and measured counted apart) has k % count == index - 1, at
    the same planned times as in the whole run, and its share of the concurrency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=1)
    count: int = Field(ge=1)

    @model_validator(mode="after")
    def _in_range(self) -> Shard:
        if self.index > self.count:
            raise ValueError(f"shard {self.index}/{self.count}: the index is past the count")
        return self

    def owns(self, k: int) -> bool:
        return k % self.count == self.index - 1

    def share(self, n: int) -> int:
        """How many of the requests 0..n-1 are this shard's."""
        return len(range(self.index - 1, n, self.count))

    def workers(self, concurrency: int) -> int:
        """This shard's part of a closed loop's concurrency (the parts add up to it)."""
        return self.share(concurrency)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard(index=1, count=1)


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


def arrivals(settings: LoadSettings, shard: Shard = WHOLE) -> Iterator[tuple[int, int]]:
    """The open loop's seeded schedule: (request number, planned offset in ns) for the
    shard's requests. Every shard walks the whole schedule, so its times are the run's."""
    gap = interarrival_s(settings)
    offset_ns, k = 0, 0
    while True:
        if shard.owns(k):
            yield k, offset_ns
        offset_ns += int(gap() * 1e9)
        k += 1


# --- a phase: N requests or a duration, closed or open loop ------------------------------


StartGate = Callable[[], Awaitable[int | None]]


@dataclass(frozen=True)
class PointJob:
    """One load point of one target, as `run_target` runs it: a plain, serialisable unit
    (with `shard`) that a worker process or a remote launcher can be handed.

    `start_gate`, where given, is awaited once everything is set up and returns the
    phase's start (perf_counter_ns; None: now): the parent of `--processes` uses it to
    start every worker's schedule at the same instant."""

    workload: Workload
    settings: LoadSettings
    label: str
    shard: Shard = WHOLE
    start_gate: StartGate | None = None


class _Phase:
    def __init__(
        self,
        adapter: Adapter,
        job: PointJob,
        on_record: Callable[[Measurement], None],
        warmup: bool,
    ) -> None:
        self.adapter, self.settings, self.on_record = adapter, job.settings, on_record
        self.workload, self.shard = job.workload, job.shard
        settings = job.settings
        self.first = 0 if warmup else settings.warmup  # request numbers count from here
        total = settings.warmup if warmup else settings.requests
        self.limit = None if total is None else job.shard.share(total)
        duration_s = None if warmup else settings.duration_s
        self.duration_ns = int(duration_s * 1e9) if duration_s else None
        self.sent = 0
        self.stop = False
        self.start_ns = 0
        self.capped = 0

    def _more(self, offset_ns: int) -> bool:
        if self.stop or (self.limit is not None and self.sent >= self.limit):
            return False
        return self.duration_ns is None or offset_ns < self.duration_ns

    def _spec(self, k: int) -> RequestSpec:
        self.sent += 1
        return self.workload.request(self.first + k)

    async def closed_loop(self) -> None:
        numbers = (k for k in itertools.count() if self.shard.owns(k))

        async def worker() -> None:
            while self._more(perf_ns() - self.start_ns):
                spec = self._spec(next(numbers))
                self.on_record(await measure(self.adapter, spec, perf_ns(), self.settings))

        workers = max(1, self.shard.workers(self.settings.concurrency))
        await asyncio.gather(*(worker() for _ in range(workers)))

    async def open_loop(self) -> None:
        limit = self.settings.max_concurrency
        # a shard holds its part of the cap (the parts add up to it), as of the concurrency
        cap = asyncio.Semaphore(max(1, self.shard.workers(limit)) if limit else 1_000_000)
        tasks: set[asyncio.Task[None]] = set()

        async def one(spec: RequestSpec, at_ns: int) -> None:
            if cap.locked():
                self.capped += 1
            async with cap:  # the wait is the client's: it lands in client_delay
                self.on_record(await measure(self.adapter, spec, at_ns, self.settings))

        for k, offset_ns in arrivals(self.settings, self.shard):
            if not self._more(offset_ns):
                break
            due = self.start_ns + offset_ns
            delay = (due - perf_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(self._spec(k), due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def run(self, start_ns: int | None = None) -> None:
        lead = OPEN_LOOP_LEAD_NS if self.settings.rate else 0
        self.start_ns = start_ns if start_ns is not None else perf_ns() + lead
        if not self.settings.rate and self.start_ns > perf_ns():
            await asyncio.sleep((self.start_ns - perf_ns()) / 1e9)
        if self.settings.rate:
            await self.open_loop()
        else:
            await self.closed_loop()


async def run_target(
    adapter: Adapter, job: PointJob, observer: ProgressObserver, run: TargetRun
) -> TargetRun:
    """Warm up, then measure. Records land in `run.records` as they complete."""
    settings, label = job.settings, job.label
    if job.workload.sessions:  # conversations: costcli/sessions.py drives the turns
        from costcli.sessions import run_conversations

        return await run_conversations(adapter, job.workload, settings, (label, observer), run)
    if settings.warmup:
        await _Phase(adapter, job, lambda r: None, warmup=True).run()
    observer.target_started(
        label, job.shard.share(settings.requests) if settings.requests else None
    )
    phase = _Phase(adapter, job, lambda r: None, warmup=False)
    phase.on_record = recorder(run, settings, (label, observer), phase)
    try:
        with quiet_gc():  # its full collection comes before the phase starts, not in it
            start_ns = await job.start_gate() if job.start_gate is not None else None
            lead = OPEN_LOOP_LEAD_NS if settings.rate else 0
            run.epoch_ns = start_ns if start_ns is not None else perf_ns() + lead
            await phase.run(run.epoch_ns)
    finally:
        run.capped += phase.capped
        observer.target_finished(label)
    note_error_stop(run, settings)
    return run


class Stoppable(Protocol):
    stop: bool


def recorder(
    run: TargetRun, settings: LoadSettings, progress: tuple[str, ProgressObserver], phase: Stoppable
) -> Callable[[Measurement], None]:
    """What a measured phase does with each finished request: record it, report it, and
    stop the phase once the error rate passes `max_error_rate`."""
    label, observer = progress

    def on_record(measurement: Measurement) -> None:
        record = measurement.record(run.epoch_ns)
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
