"""OpenAI chat completions over SSE: OpenAI itself and any compatible server.

Wire format: POST {base_url}/chat/completions with `stream: true` and
`stream_options: {include_usage: true}`; `data: {chat.completion.chunk}` events, a final
chunk with `choices: []` and `usage`, then `data: [DONE]`. Only documented parameters are
sent. The key travels only in the Authorization header.

Transport: connections are sharded over several small httpx pools (one per
`streams_per_pool` concurrent streams). One pool serving hundreds of streams spends most
of its CPU scanning its idle connections; small pools keep that scan short.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import httpx

from costcli.adapters.base import (
    AdapterBase,
    ConnectError,
    Finish,
    FirstByte,
    ProviderError,
    RequestTimeoutError,
    StreamAbortedError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    TransportOptions,
    Usage,
    error_for_status,
)
from costcli.adapters.sse import SSEParser
from costcli.catalog import Target
from costcli.redact import for_target
from costcli.workload import RequestSpec

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
# how a connection that the server closed under us shows itself
STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
DRAIN_TIMEOUT_S = 0.5


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


MAX_ERROR_BODY = 1 << 20  # bytes of an error body read for its message


def error_message(body: bytes, redact: Callable[[str], str] = str) -> str:
    """The provider's own error text, if the body is OpenAI-style JSON; else a short excerpt.

    Redacted whole, then cut: a key straddling the cut cannot leave a piece behind."""
    try:
        err = json_loads(body).get("error")
        if isinstance(err, dict) and err.get("message"):
            return redact(str(err["message"]))[:300]
    except (ValueError, AttributeError, TypeError):
        pass
    return redact(body[:MAX_ERROR_BODY].decode("utf-8", "replace")).strip()[:200]


async def _drain(reads: AsyncIterator[bytes]) -> None:
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
    """`usage` with its details: cached input (prompt caching) and reasoning tokens."""
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(
        t_ns,
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
        cached_input_tokens=prompt_details.get("cached_tokens"),
        reasoning_tokens=completion_details.get("reasoning_tokens"),
    )


class OpenAIAdapter(AdapterBase):
    """Chat completions, streamed. Subclasses add what their dialect adds (see `chunk_events`)."""

    name = "openai"

    def __init__(self, target: Target, transport: TransportOptions) -> None:
        if not target.base_url:
            from costcli.errors import BadInputError

            raise BadInputError(
                f"{target.source_file}: key 'base_url' is missing; add the endpoint's URL"
            )
        self.target = target
        self.transport = transport
        self._redactor = for_target(target)
        self.url = target.base_url.rstrip("/") + "/chat/completions"
        settings = target.settings
        self.max_tokens_param = settings.max_tokens_param if settings else "max_tokens"
        self._pools: list[httpx.AsyncClient] = []
        self._in_flight: list[int] = []
        self.stale_connection_retries = 0

    # --- lifecycle -------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        headers.update(self.target.headers)
        key = self.target.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def start(self) -> None:
        per_pool = max(1, self.transport.streams_per_pool)
        n_pools = max(1, math.ceil(self.transport.concurrency / per_pool))
        limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        timeout = httpx.Timeout(
            self.transport.timeout_s, connect=min(10.0, self.transport.timeout_s)
        )
        headers = self.headers()
        # One SSL context for every pool: building one costs ~20 ms (certificate store).
        ssl_context = httpx.create_ssl_context()
        self._pools = [
            httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers, verify=ssl_context)
            for _ in range(n_pools)
        ]
        self._in_flight = [0] * n_pools

    async def close(self) -> None:
        pools, self._pools = self._pools, []
        for pool in pools:
            await pool.aclose()

    def describe(self) -> dict[str, Any]:
        return {"stale_connection_retries": self.stale_connection_retries}

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

        Reasoning comes as `delta.reasoning_content` (llama.cpp, DeepSeek, older vLLM) or
        `delta.reasoning` (Groq, newer vLLM, OpenRouter); tool calls as `delta.tool_calls`."""
        if chunk.get("error"):
            err = chunk["error"]
            message = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            raise error_for_status(
                in_stream_status(err), f"error inside the stream: {self.redact(message)[:300]}"
            )
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                events.append(TextDelta(t_ns, reasoning, reasoning=True))
            content = delta.get("content")
            if content:
                events.append(TextDelta(t_ns, content))
            events.extend(tool_call_deltas(delta.get("tool_calls"), t_ns))
            if choice.get("finish_reason"):
                events.append(Finish(t_ns, choice["finish_reason"]))
        usage = chunk.get("usage")
        if usage:
            events.append(usage_event(usage, t_ns))
        return events

    def _pick_pool(self) -> int:
        counts = self._in_flight
        return counts.index(min(counts))

    async def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
        """The request's events, resent once when a kept-alive connection turns out closed.

        Servers (llama.cpp's cpp-httplib among them) may close an idle keep-alive connection
        just as the client reuses it; the request then fails before a single response byte
        ("Server disconnected without sending a response", encode/httpx#2983). Nothing was
        answered, so sending it again is safe; the time lost stays in the request's latency
        (measured from scheduled_at) and the count is reported in `describe()`.
        """
        for attempt in (0, 1):
            answered = False
            try:
                async with contextlib.aclosing(self._stream_once(spec)) as events:
                    async for event in events:
                        answered = True
                        yield event
                return
            except ConnectError as exc:
                if answered or attempt or not isinstance(exc.__cause__, STALE_CONNECTION):
                    raise
                self.stale_connection_retries += 1

    async def _stream_once(self, spec: RequestSpec) -> AsyncGenerator[StreamEvent, None]:  # noqa: C901 (split by the load-engine work, issue 11)
        if not self._pools:
            raise ConnectError("adapter used before start()")
        pool = self._pick_pool()
        self._in_flight[pool] += 1
        got_byte = False
        finished: str | None = None
        try:
            # the body is encoded here (orjson where installed); Content-Type is a client header
            content = json_dumps(self.request_body(spec))
            async with self._pools[pool].stream(
                "POST", self.url, content=content, headers=self.request_headers(spec)
            ) as resp:
                if resp.status_code != 200:
                    body = await resp.aread()
                    raise error_for_status(
                        resp.status_code,
                        f"HTTP {resp.status_code}: {error_message(body, self.redact)}",
                        parse_retry_after(resp.headers.get("retry-after")),
                    )
                parser = SSEParser()
                reads = resp.aiter_raw()
                async for raw in reads:
                    t_ns = perf_ns()
                    if not got_byte:
                        got_byte = True
                        yield FirstByte(t_ns)
                    for data in parser.feed(raw):
                        if data == b"[DONE]":
                            yield Finish(t_ns, finished)
                            await _drain(reads)
                            return
                        for event in self.chunk_events(json_loads(data), t_ns):
                            if isinstance(event, Finish):
                                finished = event.reason
                            else:
                                yield event
                t_ns = perf_ns()
                for data in parser.close():
                    if data != b"[DONE]":
                        for event in self.chunk_events(json_loads(data), t_ns):
                            if not isinstance(event, Finish):
                                yield event
                if finished is None:
                    raise StreamAbortedError("the stream ended without a finish_reason or [DONE]")
                yield Finish(t_ns, finished)
        except ProviderError:
            raise
        except httpx.TimeoutException as exc:
            raise RequestTimeoutError(f"timed out: {type(exc).__name__}") from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ConnectError(self.redact(f"cannot connect to {self.url}: {exc}")) from exc
        except STALE_CONNECTION as exc:
            if got_byte:
                raise StreamAbortedError(self.redact(f"the stream was cut: {exc}")) from exc
            raise ConnectError(self.redact(f"connection to {self.url} failed: {exc}")) from exc
        except ValueError as exc:
            raise StreamAbortedError(self.redact(f"a chunk was not valid JSON: {exc}")) from exc
        except httpx.HTTPError as exc:  # redirects, protocol errors, bad header values...
            raise ConnectError(self.redact(f"request to {self.url} failed: {exc}")) from exc
        finally:
            self._in_flight[pool] -= 1
