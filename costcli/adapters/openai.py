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

import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from costcli.adapters.base import (
    ConnectError,
    Finish,
    FirstByte,
    ProviderError,
    RequestTimeoutError,
    StreamAbortedError,
    StreamEvent,
    TextDelta,
    TransportOptions,
    Usage,
    error_for_status,
)
from costcli.adapters.sse import SSEParser
from costcli.catalog import Target
from costcli.workload import RequestSpec

try:  # orjson is optional: roughly 3x faster per chunk where installed
    from orjson import loads as json_loads
except ImportError:  # pragma: no cover - depends on the environment
    json_loads = json.loads

perf_ns = time.perf_counter_ns


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_message(body: bytes) -> str:
    """The provider's own error text, if the body is OpenAI-style JSON; else a short excerpt."""
    try:
        err = json_loads(body).get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    except (ValueError, AttributeError):
        pass
    return body[:200].decode("utf-8", "replace").strip()


class OpenAIAdapter:
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
        self.url = target.base_url.rstrip("/") + "/chat/completions"
        settings = target.settings
        self.max_tokens_param = settings.max_tokens_param if settings else "max_tokens"
        self._pools: list[httpx.AsyncClient] = []
        self._in_flight: list[int] = []

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
        self._pools = [
            httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers)
            for _ in range(n_pools)
        ]
        self._in_flight = [0] * n_pools

    async def close(self) -> None:
        pools, self._pools = self._pools, []
        for pool in pools:
            await pool.aclose()

    def describe(self) -> dict[str, Any]:
        return {}

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
        return body

    def chunk_events(self, chunk: dict[str, Any], t_ns: int) -> list[StreamEvent]:
        """Events in one decoded chunk. Text-bearing deltas only: a role-only chunk is none."""
        events: list[StreamEvent] = []
        if chunk.get("error"):
            err = chunk["error"]
            message = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            code = err.get("code") if isinstance(err, dict) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            raise error_for_status(status, f"error inside the stream: {message[:300]}")
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                events.append(TextDelta(t_ns, content))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                events.append(TextDelta(t_ns, reasoning, reasoning=True))
            if choice.get("finish_reason"):
                events.append(Finish(t_ns, choice["finish_reason"]))
        usage = chunk.get("usage")
        if usage:
            prompt_details = usage.get("prompt_tokens_details") or {}
            completion_details = usage.get("completion_tokens_details") or {}
            events.append(
                Usage(
                    t_ns,
                    input_tokens=usage.get("prompt_tokens"),
                    output_tokens=usage.get("completion_tokens"),
                    cached_input_tokens=prompt_details.get("cached_tokens"),
                    reasoning_tokens=completion_details.get("reasoning_tokens"),
                )
            )
        return events

    def _pick_pool(self) -> int:
        counts = self._in_flight
        return counts.index(min(counts))

    async def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
        if not self._pools:
            raise ConnectError("adapter used before start()")
        pool = self._pick_pool()
        self._in_flight[pool] += 1
        got_byte = False
        finished: str | None = None
        try:
            async with self._pools[pool].stream(
                "POST", self.url, json=self.request_body(spec)
            ) as resp:
                if resp.status_code != 200:
                    body = await resp.aread()
                    raise error_for_status(
                        resp.status_code,
                        f"HTTP {resp.status_code}: {error_message(body)}",
                        parse_retry_after(resp.headers.get("retry-after")),
                    )
                parser = SSEParser()
                async for raw in resp.aiter_raw():
                    t_ns = perf_ns()
                    if not got_byte:
                        got_byte = True
                        yield FirstByte(t_ns)
                    for data in parser.feed(raw):
                        if data == b"[DONE]":
                            yield Finish(t_ns, finished)
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
            raise ConnectError(f"cannot connect to {self.url}: {exc}") from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if got_byte:
                raise StreamAbortedError(f"the stream was cut: {exc}") from exc
            raise ConnectError(f"connection to {self.url} failed: {exc}") from exc
        except ValueError as exc:
            raise StreamAbortedError(f"a chunk was not valid JSON: {exc}") from exc
        finally:
            self._in_flight[pool] -= 1
