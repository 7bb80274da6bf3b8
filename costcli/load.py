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
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from costcli.adapters.base import (
    Adapter,
    FirstByte,
    ProviderError,
    RateLimitedError,
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
    sent_ns: int = 0
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


async def _consume(adapter: Adapter, spec: RequestSpec, rec: Measurement) -> str:
    """Read one attempt's events into `rec`; returns the answer text (kept only for checks)."""
    keep_text = spec.keeps_answer
    parts: list[str] = []
    text_chunks = 0
    rec.sent_ns = rec.sent_ns or perf_ns()
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
        elif isinstance(event, FirstByte):
            if rec.first_byte_ns is None:
                rec.first_byte_ns = event.t_ns
        elif isinstance(event, Usage | Telemetry):
            _apply(rec, event)
        else:  # Finish
            rec.finish_reason = event.reason
            rec.end_ns = event.t_ns
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


async def measure(
    adapter: Adapter, spec: RequestSpec, scheduled_ns: int, settings: LoadSettings
) -> Measurement:
    """Send one request (with retries on rate limits) and record what happened."""
    rec = Measurement(
        index=spec.index, scheduled_ns=scheduled_ns, tags=spec.tags, session=spec.session
    )
    rec.turn = spec.turn
    rec.correct = False if spec.expected is not None else None  # graded wrong unless answered
    rec.sent_ns = perf_ns()
    for attempt in range(settings.max_retries + 1):
        try:
            answer = await asyncio.wait_for(_consume(adapter, spec, rec), settings.timeout_s)
            rec.end_ns = rec.end_ns or perf_ns()
            grade(rec, spec, answer)
            return rec
        except RateLimitedError as exc:
            rec.end_ns, rec.status = perf_ns(), exc.status
            rec.error, rec.error_message = exc.error_class, str(exc)
            if attempt == settings.max_retries:
                return rec
            rec.retries += 1
            _reset_attempt(rec)
            await asyncio.sleep(exc.retry_after_s if exc.retry_after_s is not None else 2**attempt)
        except ProviderError as exc:
            rec.error, rec.error_message, rec.status = exc.error_class, str(exc), exc.status
            break
        except (asyncio.TimeoutError, TimeoutError):
            rec.error = "timeout"
            rec.error_message = f"no complete answer within {settings.timeout_s:g} s"
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
        on_record: Callable[[Measurement], None],
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
    if workload.sessions:  # conversations: costcli/sessions.py drives the turns
        from costcli.sessions import run_conversations

        return await run_conversations(adapter, workload, settings, (label, observer), run)
    if settings.warmup:
        warm = (workload.request(i) for i in range(settings.warmup))
        await _Phase(adapter, warm, settings, lambda r: None, settings.warmup, None).run()

    def measured() -> Iterator[RequestSpec]:
        i = settings.warmup
        while True:
            yield workload.request(i)
            i += 1

    observer.target_started(label, settings.requests)
    run.epoch_ns = perf_ns()
    phase = _Phase(
        adapter, measured(), settings, lambda r: None, settings.requests, settings.duration_s
    )
    phase.on_record = recorder(run, settings, (label, observer), phase)
    await measured_phase(phase, run, settings, (label, observer))
    return run


class Stoppable(Protocol):
    stop: bool

    async def run(self) -> None: ...


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


async def measured_phase(
    phase: Stoppable, run: TargetRun, settings: LoadSettings, progress: tuple[str, ProgressObserver]
) -> None:
    """Run the measured phase with the collector quiet; note an error-rate stop at its end."""
    try:
        with quiet_gc():
            await phase.run()
    finally:
        progress[1].target_finished(progress[0])
    limit = settings.max_error_rate
    if limit is not None and run.stopped is None and run.error_rate() > limit:
        run.stopped = "max_error_rate"
