"""One request, measured: adapter events in, a Measurement (ns, in flight) out.

The scheduler knows nothing of providers: adapters turn the wire into StreamEvents and
this module turns events into a Measurement, frozen once into a RequestRecord. Latencies
run from the request's planned time, so a stalled client cannot hide its own delay.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field, fields
from typing import Any

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
    TextRun,
    ToolCallDelta,
    Usage,
)
from costcli.load import clock
from costcli.load.schedule import LoadSettings
from costcli.results.metrics import NS_PER_MS, RequestRecord
from costcli.workloads.grading import grade
from costcli.workloads.spec import RequestSpec


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
    cache_write_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    reasoning_tokens: int | None = None
    provider_cost_usd: float | None = None  # the provider's own bill for the request
    service_tier: str | None = None
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
            # to 0.1 us (4 decimals of a ms), in integers: round() a chunk is 5% of the CPU
            itl_ms=[(b - a + 50) // 100 / 10_000 for a, b in itertools.pairwise(c)],
            input_tokens=self.input_tokens,
            output_tokens=out,
            tokens_estimated=self.tokens_estimated,
            cached_input_tokens=self.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens,
            reasoning_tokens=self.reasoning_tokens,
            provider_cost_usd=self.provider_cost_usd,
            service_tier=self.service_tier,
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


# what a Usage event reports, each a Measurement field of the same name
USAGE_FIELDS = tuple(f.name for f in fields(Usage) if f.name != "t_ns")


def _apply(rec: Measurement, event: Usage | Telemetry) -> None:
    """Fold a usage or telemetry event into the measurement (later figures win)."""
    if isinstance(event, Usage):
        for name in USAGE_FIELDS:
            value = getattr(event, name)
            if value is not None:
                setattr(rec, name, value)
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
        if type(event) is TextRun:  # answer text of several chunks (no reasoning)
            times = event.t_ns
            if rec.first_output_ns is None:
                rec.first_token_ns = rec.first_token_ns or times[0]
                rec.first_output_ns = times[0]
            rec.chunk_ns.extend(times)
            text_chunks += len(times)
            if keep_text:
                parts.extend(event.texts)
        elif isinstance(event, TextDelta):
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
    for name in USAGE_FIELDS:
        setattr(rec, name, None)
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
    rec.sent_ns = clock.perf_ns()
    deadline_ns = rec.sent_ns + int(settings.timeout_s * 1e9)
    for attempt in range(settings.max_retries + 1):
        try:
            left_s = max(0.0, (deadline_ns - clock.perf_ns()) / 1e9)
            answer = await _within(_consume(adapter, spec, rec), left_s)
            rec.end_ns = rec.end_ns or clock.perf_ns()
            grade(rec, spec, answer)
            return rec
        except RateLimitedError as exc:
            rec.end_ns, rec.status = clock.perf_ns(), exc.status
            rec.error, rec.error_message = exc.error_class, str(exc)
            wait_s = retry_wait_s(exc.retry_after_s, attempt)
            if attempt == settings.max_retries:
                return rec
            if clock.perf_ns() + int(wait_s * 1e9) >= deadline_ns:
                rec.error_message += f" (a retry after {wait_s:g} s would pass --timeout)"
                return rec
            rec.retries += 1
            _reset_attempt(rec)
            await asyncio.sleep(wait_s)
        except Exception as exc:  # every failure is a record, never a crash
            _failed(rec, exc, settings)
            break
    rec.end_ns = clock.perf_ns()
    return rec
