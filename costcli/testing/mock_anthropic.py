"""The mock server's Anthropic Messages dialect: POST /v1/messages, streamed as Anthropic
streams (`event: <type>` + `data: <json>` per event), with the same scripted timing,
tokens and faults as the chat-completions dialect (costcli/testing/mock_server.py).

    message_start (usage) . ping . [thinking block] . text or tool_use block
    . message_delta (stop_reason, cumulative output_tokens) . message_stop

Prompt caching (`prompt_cache_min`): a request that marks `cache_control` on a block
(system or message content) reads from the cache the prefix up to that block when an
earlier request sent the same prefix (`cache_read_input_tokens`), else writes it
(`cache_creation_input_tokens`, by its ttl: "5m" by default or "1h"); a prefix shorter than
`prompt_cache_min` words is neither. `input_tokens` is the rest, as Anthropic reports it.
Faults: rate_limit_every -> 429 rate_limit_error with retry-after, error_rate -> 500
api_error, abort_every -> the connection cut before message_stop, stream_error_every -> an
`error` event (overloaded_error) mid-stream. Streaming only: `stream: false` is a 400.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costcli.testing.mock_server import (
    COMPACT,
    VOCABULARY,
    Script,
    _Abort,
    _frame,
    _message_words,
    _Request,
    _sleep_until,
)

if TYPE_CHECKING:
    from costcli.testing.mock_server import MockServer


def error_body(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def event(kind: str, **fields: Any) -> bytes:
    """One SSE event as Anthropic sends it, in one chunked-transfer frame."""
    data = json.dumps({"type": kind, **fields}, **COMPACT)
    return _frame(f"event: {kind}\ndata: {data}\n\n".encode())


async def dispatch(server: MockServer, request: _Request, writer: asyncio.StreamWriter) -> bool:
    """Route one request of the Anthropic dialect: /v1/messages and /v1/models."""
    routes = {"/v1/messages": "POST", "/v1/models": "GET"}
    path, keep = request.path.rstrip("/"), request.keep_alive
    if path not in routes:
        body = error_body("not_found_error", f"unknown path {request.path}")
        return await server._respond(writer, 404, body, keep_alive=keep)
    if request.method != routes[path]:
        body = error_body("invalid_request_error", f"{request.method} not allowed")
        return await server._respond(writer, 405, body, keep_alive=keep)
    key = server.config.require_key
    if key is not None and request.headers.get("x-api-key") != key:
        body = error_body("authentication_error", "invalid x-api-key")
        return await server._respond(writer, 401, body, keep_alive=keep)
    if path == "/v1/models":
        model = {"type": "model", "id": server.config.model, "display_name": "Mock"}
        body = json.dumps({"data": [model], "has_more": False}).encode()
        return await server._respond(writer, 200, body, keep_alive=keep)
    return await messages(server, request, writer)


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if isinstance(content, str) else []


def _marked(block: Any) -> str | None:
    """The ttl of a block marked for the prompt cache ("5m" or "1h"); None if unmarked."""
    control = block.get("cache_control") if isinstance(block, dict) else None
    return str(control.get("ttl") or "5m") if isinstance(control, dict) else None


@dataclass(frozen=True)
class CacheUse:
    read: int = 0
    written: int = 0
    ttl: str = "5m"


def cache_use(server: MockServer, body: dict[str, Any]) -> CacheUse:
    """What the prompt cache serves and stores of this request (see the module doc)."""
    minimum = server.config.prompt_cache_min
    if not minimum:
        return CacheUse()
    parts: list[Any] = [("system", b) for b in _blocks(body.get("system"))]
    for message in body.get("messages") or []:
        role = message.get("role") if isinstance(message, dict) else None
        parts += [(role, b) for b in _blocks(_object(message).get("content"))]
    last = max((i for i, (_, b) in enumerate(parts) if _marked(b)), default=None)
    if last is None:
        return CacheUse()
    prefix = parts[: last + 1]
    words = sum(_message_words({"content": [b]}) for _, b in prefix)
    if words < minimum:
        return CacheUse()
    key = "anthropic:" + json.dumps(
        [(r, {k: v for k, v in _object(b).items() if k != "cache_control"}) for r, b in prefix],
        sort_keys=True,
    )
    if key in server.seen_prefixes:
        return CacheUse(read=words)
    server.seen_prefixes.add(key)
    return CacheUse(written=words, ttl=_marked(prefix[-1][1]) or "5m")


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _prompt_words(body: dict[str, Any]) -> int:
    words = sum(_message_words({"content": [b]}) for b in _blocks(body.get("system")))
    words += sum(_message_words(m) for m in body.get("messages") or [])
    return max(words, 1)


def _as_openai_tools(body: dict[str, Any]) -> dict[str, Any]:
    """The body with Anthropic tools in the OpenAI shape `Script.for_request` reads."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return body
    choice = _object(body.get("tool_choice")).get("type")
    converted = [
        {
            "type": "function",
            "function": {"name": t.get("name"), "parameters": t.get("input_schema")},
        }
        for t in tools
        if isinstance(t, dict)
    ]
    return {**body, "tools": converted, "tool_choice": "none" if choice == "none" else "auto"}


async def messages(server: MockServer, request: _Request, writer: asyncio.StreamWriter) -> bool:
    arrived = time.monotonic_ns()
    server.counter += 1
    number, cfg, keep = server.counter, server.config, request.keep_alive
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise TypeError("not an object")
    except (ValueError, TypeError) as exc:
        error = error_body("invalid_request_error", f"invalid JSON body: {exc}")
        return await server._respond(writer, 400, error, keep_alive=keep)
    server.log_request(number, body)
    rng = random.Random(cfg.seed * 1_000_003 + number)
    if cfg.rate_limit_every and number % cfg.rate_limit_every == 0:
        message = f"Rate limit reached (mock: every {cfg.rate_limit_every}th request)."
        extra = f"retry-after: {cfg.retry_after:g}\r\n"
        error = error_body("rate_limit_error", message)
        return await server._respond(writer, 429, error, keep_alive=keep, extra=extra)
    if cfg.error_rate and rng.random() < cfg.error_rate:
        error = error_body("api_error", "Internal server error (mock).")
        return await server._respond(writer, 500, error, keep_alive=keep)
    if not body.get("stream"):
        error = error_body("invalid_request_error", "the mock streams only: send stream: true")
        return await server._respond(writer, 400, error, keep_alive=keep)
    limit = body.get("max_tokens")
    n_tokens = min(cfg.output_tokens, limit) if isinstance(limit, int) else cfg.output_tokens
    capped = n_tokens < cfg.output_tokens
    script = Script.for_request(server, _as_openai_tools(body), number)
    n_chunks = script.output_chunks(max(n_tokens, 1))
    stream = MessagesStream(
        server,
        writer,
        model=str(body.get("model") or cfg.model),
        prompt_words=_prompt_words(body),
        cache=cache_use(server, body),
        script=script,
        deadlines=server.deadlines(arrived, n_chunks, script.reasoning, rng),
    )
    stop = "tool_use" if script.tool_call else ("max_tokens" if capped else "end_turn")
    if cfg.abort_every and number % cfg.abort_every == 0:
        await stream.run(n_chunks // 2, ending="abort", stop=stop)
    elif cfg.stream_error_every and number % cfg.stream_error_every == 0:
        await stream.run(min(3, n_chunks // 2), ending="error", stop=stop)
    else:
        await stream.run(n_chunks, ending="done", stop=stop)
    return keep


@dataclass
class MessagesStream:
    """One streamed message: its schedule and its events."""

    server: MockServer
    writer: asyncio.StreamWriter
    model: str
    prompt_words: int
    cache: CacheUse
    script: Script
    deadlines: list[int]

    def usage(self) -> dict[str, Any]:
        cache = self.cache
        uncached = max(self.prompt_words - cache.read - cache.written, 0)
        one_hour = cache.written if cache.ttl == "1h" else 0
        return {
            "input_tokens": uncached,
            "cache_creation_input_tokens": cache.written,
            "cache_read_input_tokens": cache.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache.written - one_hour,
                "ephemeral_1h_input_tokens": one_hour,
            },
            "output_tokens": 1,
            "service_tier": "standard",
        }

    async def _send(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise _Abort
        self.writer.write(data)
        await self.writer.drain()

    def _piece(self, index: int) -> bytes:
        """Output chunk `index` with the block start or stop it opens or closes."""
        script, out = self.script, b""
        reasoning = script.reasoning
        if index < reasoning:
            if index == 0:
                thinking = {"type": "thinking", "thinking": "", "signature": ""}
                out += event("content_block_start", index=0, content_block=thinking)
            word = VOCABULARY[index % len(VOCABULARY)] + " "
            delta = {"type": "thinking_delta", "thinking": word}
            return out + event("content_block_delta", index=0, delta=delta)
        block_index = 1 if reasoning else 0
        answer = index - reasoning
        if answer == 0:
            if reasoning:
                signature = {"type": "signature_delta", "signature": "bW9jaw=="}
                out += event("content_block_delta", index=0, delta=signature)
                out += event("content_block_stop", index=0)
            if script.tool_call is not None:
                block: dict[str, Any] = {
                    "type": "tool_use",
                    "id": f"toolu_{uuid.uuid4().hex[:24]}",
                    "name": script.tool_call[0],
                    "input": {},
                }
            else:
                block = {"type": "text", "text": ""}
            out += event("content_block_start", index=block_index, content_block=block)
        if script.tool_call is not None:
            delta = {"type": "input_json_delta", "partial_json": script.tool_call[1][answer]}
        else:
            word = VOCABULARY[answer % len(VOCABULARY)] + " "
            text = f"{script.tag} " if answer == 0 and script.tag else word
            delta = {"type": "text_delta", "text": text}
        return out + event("content_block_delta", index=block_index, delta=delta)

    async def run(self, n_chunks: int, ending: str, stop: str) -> None:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        )
        message: dict[str, Any] = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage(),
        }
        start = event("message_start", message=message) + event("ping")
        await self._send(head.encode() + start)
        for index in range(n_chunks):
            await _sleep_until(self.deadlines[index])
            await self._send(self._piece(index))
        if ending == "abort":
            self.writer.transport.abort()
            raise _Abort
        if ending == "error":
            error = {"type": "overloaded_error", "message": "Overloaded (mock)"}
            await self._send(event("error", error=error) + b"0\r\n\r\n")
            return
        last = 1 if self.script.reasoning else 0
        tail = event("content_block_stop", index=last)
        delta = {"stop_reason": stop, "stop_sequence": None}
        tail += event("message_delta", delta=delta, usage={"output_tokens": n_chunks})
        await self._send(tail + event("message_stop") + b"0\r\n\r\n")
