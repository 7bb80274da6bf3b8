"""OpenAI chat completions over SSE: OpenAI itself and any compatible server.

Wire format: POST {base_url}/chat/completions with `stream: true` and
`stream_options: {include_usage: true}`; `data: {chat.completion.chunk}` events, a final
chunk with `choices: []` and `usage`, then `data: [DONE]`. Only documented parameters are
sent. The key travels only in the Authorization header.

Transport: `costcli/adapters/transport.py` (aiohttp where the `fast` extra is installed,
else httpx), shared by every OpenAI-dialect adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.utils
import json
import math
import sys
import time
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from costcli.adapters.base import (
    MAX_RETRY_AFTER_S,
    AdapterBase,
    ConnectError,
    Finish,
    FirstByte,
    ProviderError,
    Sent,
    StreamAbortedError,
    StreamEvent,
    Telemetry,
    TextDelta,
    TextRun,
    ToolCallDelta,
    TransportOptions,
    Usage,
    error_for_status,
)
from costcli.adapters.catalog import Target, for_target
from costcli.adapters.sse import SSEParser
from costcli.adapters.transport import Response, Transport, closed_unanswered, create_transport
from costcli.workloads.spec import RequestSpec

json_loads: Callable[[bytes], Any]
json_dumps: Callable[[Any], bytes]
try:  # orjson is optional: roughly 3x faster per chunk where installed
    import orjson

    json_loads, json_dumps = orjson.loads, orjson.dumps
except ImportError:  # pragma: no cover - depends on the environment
    json_loads = json.loads

    def json_dumps(obj: Any) -> bytes:
        """Compact UTF-8 JSON, as httpx's `json=` sends it."""
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


perf_ns = time.perf_counter_ns
DRAIN_TIMEOUT_S = 0.5
# Connections opened before the first scheduled request: one per expected stream, capped.
MAX_WARM_CONNECTIONS = 4096
# Response encodings decoded here; the request asks for none (`Accept-Encoding: identity`),
# since a compressing proxy would hold chunks back to fill its blocks and shift every TTFT.
DECODED_ENCODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `retry-after` header: seconds or an HTTP date (RFC 9110).

    Negative or past: 0. Absurd (99999, inf): MAX_RETRY_AFTER_S. Unreadable (nan, words):
    None, and the scheduler backs off on its own."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


MAX_ERROR_BODY = 1 << 20  # bytes of an error body read for its message
EXCERPT_WINDOW = 4096  # bytes of a non-JSON error body redacted for its 200-character excerpt


def error_message(body: bytes, redact: Callable[[str], str] = str) -> str:
    """The provider's own error text, if the body is OpenAI-style JSON; else a short excerpt.

    Redacted whole, then cut: a key straddling the cut cannot leave a piece behind."""
    try:
        err = json_loads(body).get("error")
        if isinstance(err, dict) and err.get("message"):
            return redact(str(err["message"]))[:300]
    except (ValueError, AttributeError, TypeError):
        pass
    # an excerpt: redacted whole within its window, then cut (a secret straddling the
    # window's end lies far past the 200 characters kept)
    return redact(body[:EXCERPT_WINDOW].decode("utf-8", "replace")).strip()[:200]


async def _drain(reads: AsyncIterator[Any]) -> None:
    """Read what follows `[DONE]` (the chunked-encoding terminator, normally in the same read).

    httpcore returns a connection to its pool only when the response was read to its end;
    closing it right at `[DONE]` would cost every request a new TCP (and TLS) connection.
    A server that keeps the stream open after `[DONE]` gets DRAIN_TIMEOUT_S, then the
    connection is dropped, as before."""

    async def read_rest() -> None:
        async for _ in reads:
            pass

    with contextlib.suppress(Exception):
        if sys.version_info >= (3, 11):  # a timeout scope, no extra task
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                await read_rest()
        else:  # pragma: no cover - Python 3.10
            await asyncio.wait_for(read_rest(), DRAIN_TIMEOUT_S)


async def _rest(resp: Response, reads: AsyncIterator[Any]) -> None:
    """What follows the terminal event: read at once where the body's end came with it
    (nothing to wait for, no timeout to arm), else drained (`_drain`)."""
    if resp.ended():
        async for _ in reads:
            pass
    else:
        await _drain(reads)


def in_stream_status(err: Any) -> int:
    """The HTTP status an in-stream error stands for: a numeric `code`, else its type/code
    words (OpenAI sends `"code": "rate_limit_exceeded"`), else 500."""
    if not isinstance(err, dict):
        return 500
    code = err.get("code")
    if isinstance(code, int) and 400 <= code < 600:
        return code
    words = f"{code} {err.get('type')}".lower()
    if "rate_limit" in words:
        return 429
    if "invalid_request" in words or "context_length" in words:
        return 400
    return 500


def tool_call_deltas(calls: Any, t_ns: int) -> list[ToolCallDelta]:
    """`delta.tool_calls` as events: one per call piece that carries a name or arguments."""
    out = []
    for position, call in enumerate(calls if isinstance(calls, list) else ()):
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        name, arguments = function.get("name"), function.get("arguments")
        if not name and not arguments:
            continue
        index = call.get("index")
        out.append(
            ToolCallDelta(
                t_ns,
                index if isinstance(index, int) else position,
                arguments if isinstance(arguments, str) else "",
                name if isinstance(name, str) else None,
                call.get("id") if isinstance(call.get("id"), str) else None,
            )
        )
    return out


def usage_event(usage: dict[str, Any], t_ns: int) -> Usage:
    """`usage` with its details: cached input (prompt caching), reasoning tokens, and the
    provider's own bill where it sends one.

    Reasoning is part of `completion_tokens` as OpenAI documents it; xAI counts it outside
    (its `total_tokens` = prompt + completion + reasoning): there output is completion +
    reasoning, so that cost, TPOT and tok/s rest on every token generated."""
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    reasoning = completion_details.get("reasoning_tokens")
    total = usage.get("total_tokens")
    if (
        reasoning
        and isinstance(prompt, int)
        and isinstance(completion, int)
        and total == prompt + completion + reasoning
    ):
        completion += reasoning
    return Usage(
        t_ns,
        input_tokens=prompt,
        output_tokens=completion,
        cached_input_tokens=prompt_details.get("cached_tokens"),
        reasoning_tokens=reasoning,
        provider_cost_usd=provider_bill(usage),
    )


USD_TICKS = 10**10  # xAI: usage.cost_in_usd_ticks, 1 USD = 10^10 ticks


def provider_bill(usage: dict[str, Any]) -> float | None:
    """What the provider says the request cost, in USD: xAI's `cost_in_usd_ticks`,
    OpenRouter's `cost` (USD); None where it sends no bill."""
    ticks = usage.get("cost_in_usd_ticks")
    if type(ticks) is int and ticks >= 0:
        return ticks / USD_TICKS
    cost = usage.get("cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        return float(cost) if math.isfinite(cost) and cost >= 0 else None
    return None


def content_deltas(content: Any, t_ns: int) -> list[TextDelta]:
    """`delta.content`: a string, or a list of typed parts (Mistral: `text` parts for the
    answer, `thinking` parts whose `thinking` holds text parts for the reasoning). A part of
    any other type (an image, a reference) is no text and is skipped."""
    if isinstance(content, str):
        return [TextDelta(t_ns, content)] if content else []
    out = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str) and part["text"]:
            out.append(TextDelta(t_ns, part["text"]))
        elif kind == "thinking":
            thought = part.get("thinking")
            texts = [thought] if isinstance(thought, str) else _part_texts(thought)
            out.extend(TextDelta(t_ns, text, reasoning=True) for text in texts if text)
    return out


def _part_texts(parts: Any) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]


REASONING_DETAIL_TEXT = {"reasoning.text": "text", "reasoning.summary": "summary"}


def reasoning_text(delta: dict[str, Any]) -> str:
    """The delta's reasoning: `reasoning_content` (llama.cpp, DeepSeek, older vLLM),
    `reasoning` (Groq, newer vLLM, OpenRouter), else OpenRouter's `reasoning_details`
    (text and summary pieces; encrypted ones carry no text)."""
    for key in ("reasoning_content", "reasoning"):
        value = delta.get(key)
        if isinstance(value, str) and value:
            return value
    details = delta.get("reasoning_details")
    texts = []
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        field = REASONING_DETAIL_TEXT.get(str(detail.get("type")))
        if field and isinstance(detail.get(field), str):
            texts.append(detail[field])
    return "".join(texts)


# --- the shape of a chunk -----------------------------------------------------------------
# Valid JSON is not yet a chunk. `chunk_events` reads a chunk by its documented shape; what
# breaks that shape is named here, before it is read, and the request is recorded as
# stream_aborted with the reason (the run goes on).

USAGE_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")
DETAIL_COUNTS = {
    "prompt_tokens_details": ("cached_tokens",),
    "completion_tokens_details": ("reasoning_tokens",),
}


def _count_problem(where: str, value: Any) -> str | None:
    if value is None or (type(value) is int and value >= 0):
        return None
    return f"{where} is {_excerpt(value)}, not a count"


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _usage_problem(usage: Any) -> str | None:
    if usage is None:
        return None
    if not isinstance(usage, dict):
        return f"usage is {_excerpt(usage)}, not an object"
    for key in USAGE_COUNTS:
        if problem := _count_problem(f"usage.{key}", usage.get(key)):
            return problem
    for detail, keys in DETAIL_COUNTS.items():
        block = usage.get(detail)
        if block is None:
            continue
        if not isinstance(block, dict):
            return f"usage.{detail} is {_excerpt(block)}, not an object"
        for key in keys:
            if problem := _count_problem(f"usage.{detail}.{key}", block.get(key)):
                return problem
    return None


def _choice_problem(i: int, choice: Any) -> str | None:
    if not isinstance(choice, dict):
        return f"choices[{i}] is {_excerpt(choice)}, not an object"
    delta = choice.get("delta")
    if delta is not None and not isinstance(delta, dict):
        return f"choices[{i}].delta is {_excerpt(delta)}, not an object"
    reason = choice.get("finish_reason")
    if reason is not None and not isinstance(reason, str):
        return f"choices[{i}].finish_reason is {_excerpt(reason)}, not a string"
    content = (delta or {}).get("content")
    if content is not None and not isinstance(content, (str, list)):
        return f"choices[{i}].delta.content is {_excerpt(content)}, not text or a list of parts"
    return None


def chunk_shape_problem(chunk: Any) -> str | None:
    """What makes a decoded `data:` payload not a chat.completion.chunk; None if nothing."""
    if not isinstance(chunk, dict):
        return f"a chunk is {_excerpt(chunk)}, not a JSON object"
    if chunk.get("error"):
        return None  # an in-stream error: chunk_events reports it with its own class
    choices = chunk.get("choices")
    if choices is not None and not isinstance(choices, list):
        return f"choices is {_excerpt(choices)}, not a list"
    for i, choice in enumerate(choices or ()):
        if problem := _choice_problem(i, choice):
            return problem
    return _usage_problem(chunk.get("usage"))


# --- the commonest chunk, read at once ------------------------------------------------
# Nearly every chunk of an answer is one choice whose delta carries a piece of text and
# nothing else. `plain_text` reads that chunk without the general reader's checks and
# events, with the same result; any other chunk (more keys, more choices, a finish, usage,
# reasoning, tool calls, parts) returns None and goes the general way.

CHUNK_KEYS = frozenset(
    (
        "id",
        "object",
        "created",
        "model",
        "choices",
        "system_fingerprint",
        "service_tier",
        "obfuscation",
        "usage",
    )
)  # fmt: skip  ("usage": null on every chunk but the last, as OpenAI sends it)
CHOICE_KEYS = frozenset(("index", "delta", "finish_reason", "logprobs"))
DELTA_KEYS = frozenset(("content", "role", "refusal"))


def plain_text(chunk: Any) -> str | None:
    """The text of a chunk that is one choice's content delta and nothing else; else None."""
    if type(chunk) is not dict or not chunk.keys() <= CHUNK_KEYS or chunk.get("usage") is not None:
        return None
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict or not choice.keys() <= CHOICE_KEYS:
        return None
    delta = choice.get("delta")
    if choice.get("finish_reason") is not None or type(delta) is not dict:
        return None
    content = delta.get("content")
    return content if type(content) is str and delta.keys() <= DELTA_KEYS else None


def top_level_extras(method: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a `chunk_events` override that reads only top-level fields outside CHUNK_KEYS
    (Groq's `x_groq`, llama.cpp's `timings`): `plain_text` stays on for it. An override
    without it gets every chunk through `chunk_events`."""
    method.top_level_extras = True  # type: ignore[attr-defined]
    return method


class StreamDone:
    """A dialect's terminal event (chat completions: `[DONE]`; Anthropic: `message_stop`;
    Responses: `response.completed`), returned by `events_of` among a payload's events: the
    body reader ends the stream there, as at `[DONE]`."""

    __slots__ = ()


STREAM_DONE = StreamDone()


class OpenAIAdapter(AdapterBase):
    """Chat completions, streamed. Subclasses add what their dialect adds (see `chunk_events`).

    Another dialect over the same transport (Anthropic Messages, OpenAI Responses) sets
    `path` and `terminator`, and overrides `headers`, `request_body` and `events_of`; its
    `events_of` returns STREAM_DONE at its terminal event."""

    name = "openai"
    dialect = "chat completions"
    path = "/chat/completions"  # appended to base_url
    terminator = "[DONE]"  # named in the error when a stream ends without it
    # bytes of a body piece that may end the stream: the httptools transport wakes the
    # reader for them at once (lean.py); any other piece waits for the body's end
    wake_on: tuple[bytes, ...] = (b"[DONE]", b'"error"')

    def __init__(self, target: Target, transport: TransportOptions) -> None:
        if not target.base_url:
            from costcli.files.errors import BadInputError

            raise BadInputError(
                f"{target.source_file}: key 'base_url' is missing; add the endpoint's URL"
            )
        self.target = target
        self.transport = transport
        self._redactor = for_target(target)
        self.base_url = target.base_url.rstrip("/")
        self.url = self.base_url + self.path
        settings = target.settings
        self.max_tokens_param = settings.max_tokens_param if settings else "max_tokens"
        self.fixed_length = bool(settings and settings.fixed_length_params)
        self._wire: Transport = create_transport(self.wake_on, target.headers, self.base_url)
        reader = type(self).chunk_events
        self._plain = type(self).events_of is OpenAIAdapter.events_of and (
            reader is OpenAIAdapter.chunk_events or hasattr(reader, "top_level_extras")
        )
        self.stale_connection_retries = 0

    # --- lifecycle -------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "Accept-Encoding": "identity",
        }
        headers.update(self.target.headers)
        key = self.target.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def start(self) -> None:
        """Pools sized from the load, then connections opened before the first request.

        `transport.concurrency` streams are expected (closed loop: --concurrency; open loop:
        rate x expected latency); `transport.max_streams` may be in flight at once. Pools
        hold `streams_per_pool` connections each; beyond the expected streams they may grow
        up to their share of `max_streams`. One connection per expected stream (at most
        MAX_WARM_CONNECTIONS) is opened here, so no measured request pays for the client's
        own set-up: TCP (and TLS) handshakes, the HTTP library's lazy imports and paths."""
        options = self.transport
        await self._wire.start(options, self.headers())
        json_dumps({"messages": [{"role": "user", "content": "."}], "stream": True})  # encoder
        await self.warm_connections(min(options.concurrency, MAX_WARM_CONNECTIONS))

    async def warm_connections(self, n: int) -> None:
        """Open `n` keep-alive connections by `GET {base_url}/models` (free at every
        provider). Any answer, even an error, leaves its connection open; a failure here is
        not the run's: the measured requests will report their own."""
        await self._wire.warm(self.base_url + "/models", n)

    async def close(self) -> None:
        await self._wire.close()

    def describe(self) -> dict[str, Any]:
        return {
            "stale_connection_retries": self.stale_connection_retries,
            "transport": self._wire.name,
        }

    # --- one request -------------------------------------------------------------------------

    def request_body(self, spec: RequestSpec) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.target.model,
            "messages": list(spec.messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if spec.max_tokens is not None:
            body[self.max_tokens_param] = spec.max_tokens
            if spec.exact_output_tokens and self.fixed_length:  # vLLM's SamplingParams
                body["ignore_eos"], body["min_tokens"] = True, spec.max_tokens
        if spec.response_format is not None:
            body["response_format"] = spec.response_format
        if spec.tools:
            body["tools"] = list(spec.tools)
        if spec.tool_choice is not None:
            body["tool_choice"] = spec.tool_choice
        return body

    def request_headers(self, spec: RequestSpec) -> dict[str, str] | None:
        """Per-request headers beside the client's own; none by default.

        The client-overhead benchmark sends `X-Request-Id` here to match each stream with
        the server's send log."""
        return None

    def redact(self, text: str) -> str:
        """Provider text without any secret of the target (costcli/redact.py): a proxy may
        echo the Authorization header, a URL's credentials or a piece of the key back."""
        return self._redactor(text)

    def chunk_events(self, chunk: dict[str, Any], t_ns: int) -> list[StreamEvent]:
        """Events in one decoded chunk. Text-bearing deltas only: a role-only chunk is none.

        Reasoning: `reasoning_text`; content: a string or typed parts (`content_deltas`);
        tool calls as `delta.tool_calls`. Fields the reader does not use (OpenAI's
        `obfuscation`, Azure's `prompt_filter_results` on a chunk with no choices) are
        ignored."""
        if chunk.get("error"):
            err = chunk["error"]
            message = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            raise error_for_status(
                in_stream_status(err), f"error inside the stream: {self.redact(message)[:300]}"
            )
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = reasoning_text(delta)
            if reasoning:
                events.append(TextDelta(t_ns, reasoning, reasoning=True))
            events.extend(content_deltas(delta.get("content"), t_ns))
            events.extend(tool_call_deltas(delta.get("tool_calls"), t_ns))
            if choice.get("finish_reason"):
                events.append(Finish(t_ns, choice["finish_reason"]))
        usage = chunk.get("usage")
        if usage:
            events.append(usage_event(usage, t_ns))
        return events

    async def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
        """The request's events; sent once more, on a fresh connection, when the server had
        closed the kept-alive connection it went out on.

        Servers close kept-alive connections, at times just as the client reuses one;
        llama-server closes each right after a streamed answer (its headers say keep-alive).
        The request then fails before any byte of an answer ("Server disconnected",
        encode/httpx#2983), so sending it again is safe; but not on another pooled
        connection: streams that ended together left theirs as dead. Once the response has
        begun (its head came: `Sent` comes with it), a cut is the request's error. The time
        lost stays in the request's latency (measured from scheduled_at); the resend's
        `Sent` ends client_delay, its connect before it as for any request; the count is
        reported in `describe()`.
        """
        for attempt in (0, 1):
            answered = False
            try:
                once = self._stream_once(spec, fresh=attempt == 1)
                async with contextlib.aclosing(once) as events:
                    async for event in events:
                        answered = True
                        yield event
                return
            except ConnectError as exc:
                if answered or attempt or not closed_unanswered(exc.__cause__):
                    raise
                self.stale_connection_retries += 1

    def events_of(self, data: bytes, t_ns: int) -> list[StreamEvent | StreamDone]:
        """One `data:` payload -> events: decoded, its shape checked, then `chunk_events`.

        Whatever a payload is (JSON of another shape, nested past any depth, a chunk a
        dialect's reader trips on), the request ends as stream_aborted with the reason."""
        chunk = self.decoded(data)
        problem = chunk_shape_problem(chunk)
        if problem is not None:
            raise StreamAbortedError(self.redact(f"not a chat.completion.chunk: {problem}"))
        try:
            return list(self.chunk_events(chunk, t_ns))
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            reason = f"a chunk the {self.name} dialect cannot read: {type(exc).__name__}: {exc}"
            raise StreamAbortedError(self.redact(reason)) from None

    def quick_text(self, data: bytes) -> str | None:
        """The text of a payload that is the commonest chunk (`plain_text`); None for any
        other, which `events_of` then reads (and judges)."""
        if data == b"[DONE]":
            return None
        try:
            return plain_text(json_loads(data))
        except (ValueError, RecursionError):
            return None

    def reader(self) -> Callable[[bytes, int], list[StreamEvent | StreamDone]]:
        """What reads one stream's payloads: `events_of`, or a fresh per-stream reader in a
        dialect whose events refer to earlier ones (Anthropic's content-block indices)."""
        return self.events_of

    def decoded(self, data: bytes) -> Any:
        """One `data:` payload as JSON; one that is not (or nests past any depth) ends the
        request as stream_aborted, with the reason."""
        try:
            return json_loads(data)
        except RecursionError:
            raise StreamAbortedError("a chunk was nested too deep to decode") from None
        except ValueError as exc:
            raise StreamAbortedError(self.redact(f"a chunk was not valid JSON: {exc}")) from None

    async def _stream_once(
        self, spec: RequestSpec, fresh: bool = False
    ) -> AsyncGenerator[StreamEvent, None]:
        body = _Body(self)
        try:
            content = json_dumps(self.request_body(spec))
            headers = self.request_headers(spec)
            async with self._wire.post(self.url, content, headers, fresh) as resp:
                yield Sent(resp.sent_ns or perf_ns())
                if resp.status != 200:
                    raise await self._status_error(resp)
                async for event in body.read(resp):
                    yield event
        except ProviderError:
            raise
        except Exception as exc:
            error = self._wire.error(exc, body.got_byte, self.url, self.redact)
            if error is None:
                raise
            raise error from exc

    async def _status_error(self, resp: Response) -> ProviderError:
        body = await resp.read(MAX_ERROR_BODY)
        return error_for_status(
            resp.status,
            f"HTTP {resp.status}: {error_message(body, self.redact)}",
            parse_retry_after(resp.header("retry-after")),
        )


class _Body:
    """One response body -> events: raw reads (decoded where the server compressed them)
    through the SSE parser; a stream that ends without output is not a success.

    The transport hands over the reads of each wake-up at once (the httptools transport
    wakes the reader seldom: lean.py); their answer text comes out as one TextRun, each
    piece with its own read's arrival time, and every other event in its place."""

    __slots__ = ("adapter", "events_of", "finished", "got_byte", "output", "quick", "t_ns")

    def __init__(self, adapter: OpenAIAdapter) -> None:
        self.adapter = adapter
        self.events_of = adapter.reader()
        # the commonest chunk's text, read without events (chat completions only)
        self.quick = adapter.quick_text if adapter._plain else None
        self.got_byte = False
        self.output = False  # any event that carries output (not usage, telemetry, finish)
        self.finished: str | None = None
        self.t_ns = 0  # the arrival of the last read looked at

    def _events(self, data: bytes, t_ns: int) -> list[StreamEvent | StreamDone]:
        events = [STREAM_DONE] if data == b"[DONE]" else self.events_of(data, t_ns)
        kept: list[StreamEvent | StreamDone] = []
        for event in events:
            if isinstance(event, StreamDone):
                kept.append(event)
                break  # nothing after a terminal event counts
            if isinstance(event, Finish):
                self.finished = event.reason
            else:
                self.output = self.output or not isinstance(event, _NOT_OUTPUT)
                kept.append(event)
        return kept

    def _batch(
        self, parser: SSEParser, reads: list[tuple[int, bytes]]
    ) -> tuple[list[StreamEvent | StreamDone], ProviderError | None]:
        """One wake-up's reads -> events, consecutive answer text as one TextRun; up to the
        terminal event, if one came. A payload that ends the request (an in-stream error,
        a chunk that is none) ends the list: the events before it are kept, then it."""
        out: list[StreamEvent | StreamDone] = []
        try:
            self._fill(parser, reads, out)
        except ProviderError as exc:
            return out, exc
        return out, None

    def _fill(
        self, parser: SSEParser, reads: list[tuple[int, bytes]], out: list[StreamEvent | StreamDone]
    ) -> None:
        texts = _Texts(out)
        quick = self.quick
        for t_ns, raw in reads:
            self.t_ns = t_ns
            if not self.got_byte:
                self.got_byte = True
                out.append(FirstByte(t_ns))
            for data in parser.feed(raw):
                if quick is not None and (text := quick(data)) is not None:
                    if text:  # a role-only chunk ("") is no output
                        self.output = True
                        texts.add(t_ns, text)
                    continue
                for event in self._events(data, t_ns):
                    if type(event) is TextDelta and not event.reasoning:
                        texts.add(event.t_ns, event.text)
                        continue
                    texts.other(event)
                    if isinstance(event, StreamDone):
                        return

    def _end(self, t_ns: int, done: bool) -> Finish:
        terminator = self.adapter.terminator
        if not self.output:
            how = terminator if done else f"finish_reason {self.finished!r}"
            raise StreamAbortedError(f"the stream ended ({how}) before any output")
        if not done and (self.finished is None or terminator != "[DONE]"):
            # chat completions may end at a finish_reason; the event dialects need their end
            raise StreamAbortedError(f"the stream ended without a finish_reason or {terminator}")
        return Finish(t_ns, self.finished)

    async def read(self, resp: Response) -> AsyncGenerator[StreamEvent, None]:
        """Each read's events carry that read's arrival time (the transport stamps it)."""
        parser = SSEParser()
        reads = _decoded(resp)
        async for batch in reads:
            events, error = self._batch(parser, batch)
            for event in events:
                if isinstance(event, StreamDone):
                    yield self._end(self.t_ns, done=True)
                    await _rest(resp, reads)
                    return
                yield event
            if error is not None:
                raise error
        # the body ended (at its last read) without a terminal event
        t_ns, done = (self.t_ns if self.got_byte else perf_ns()), False
        for data in parser.close():  # a last event the stream ended before its blank line
            for event in self._events(data, t_ns):
                if isinstance(event, StreamDone):
                    done = True
                    break
                yield event
            if done:
                break
        yield self._end(t_ns, done=done)


class _Texts:
    """One wake-up's events: consecutive answer text as one TextRun, in its place."""

    __slots__ = ("out", "run")

    def __init__(self, out: list[StreamEvent | StreamDone]) -> None:
        self.out = out
        self.run: TextRun | None = None

    def add(self, t_ns: int, text: str) -> None:
        run = self.run
        if run is None:
            run = self.run = TextRun([], [])
            self.out.append(run)
        run.t_ns.append(t_ns)
        run.texts.append(text)

    def other(self, event: StreamEvent | StreamDone) -> None:
        self.run = None
        self.out.append(event)


_NOT_OUTPUT = (FirstByte, Sent, Usage, Telemetry, Finish)


def _inflater(encoding: str, first: bytes) -> Any:
    """A zlib decompressor for the body: gzip, or deflate (zlib-wrapped as RFC 9110 says,
    or raw as some servers send it: the first two bytes tell)."""
    if encoding != "deflate":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    wrapped = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
    return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)


def _decoded(resp: Response) -> AsyncIterator[list[tuple[int, bytes]]]:
    """The body's reads with their arrival times (see `_inflated`)."""
    encoding = resp.header("content-encoding")
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        return resp.reads()  # as they came: no generator of its own between
    return _inflated(resp)


async def _inflated(resp: Response) -> AsyncIterator[list[tuple[int, bytes]]]:
    """The body's bytes with their arrival times; gzip or deflate undone where the server
    sent it although the request asked for identity. Another encoding is refused."""
    encoding = (resp.header("content-encoding") or "identity").strip().lower()
    if encoding not in DECODED_ENCODINGS:
        raise StreamAbortedError(f"the response is {encoding}-encoded, which costcli cannot read")
    inflate = None
    try:
        async for batch in resp.reads():
            for t_ns, raw in batch:
                inflate = inflate or _inflater(DECODED_ENCODINGS[encoding], raw)
                if out := inflate.decompress(raw):
                    yield [(t_ns, out)]
        if inflate is not None and (tail := inflate.flush()):
            yield [(perf_ns(), tail)]
    except zlib.error as exc:
        raise StreamAbortedError(f"the {encoding}-encoded response is corrupt: {exc}") from None
