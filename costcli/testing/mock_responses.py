"""The mock server's OpenAI Responses dialect: `POST /v1/responses`, streamed.

The same scripted timing, tokens and faults as chat completions (mock_server.py), written
as OpenAI sends them: `event: <type>` then `data: {"type", "sequence_number", ...}`.
Reasoning (`reasoning_chunks`) comes first as reasoning-summary deltas; a request with
tools gets a call of its first tool (Responses' flat `{type: function, name, parameters}`)
as a function_call item whose arguments arrive in pieces. Faults: a 429 with retry-after
(`rate_limit_every`), a 500 (`error_rate`), a stream cut half-way (`abort_every`), a
`response.failed` mid-stream (`stream_error_every`).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any

from costcli.testing.mock_server import COMPACT, VOCABULARY, _frame, _object, _sleep_until
from costcli.testing.mock_server import MockServer as Server
from costcli.testing.mock_server import _Request as Request
from costcli.testing.mock_server import _tool_call as _chat_tool_call

WORDS = VOCABULARY[:10]


def _error_body(message: str, kind: str, code: str | None = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}
    ).encode()


def _tool_call(tool: Any, bad: bool, n: int) -> tuple[str, tuple[str, ...]]:
    """A call of a Responses function tool (`{type, name, parameters}`), scripted as the
    chat dialect's calls are (its tools nest the same fields under `function`)."""
    return _chat_tool_call({"function": _object(tool)}, bad, n)


HEAD = (
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
)


def _input_messages(body: dict[str, Any]) -> list[Any]:
    """The request's `input` as a list of message items (a plain string: one user item),
    with `instructions` first: what the prompt-cache prefix is made of."""
    found = body.get("input")
    items: list[Any] = [{"role": "user", "content": found}] if isinstance(found, str) else []
    if isinstance(found, list):
        items = list(found)
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        items.insert(0, {"role": "system", "content": instructions})
    return items


def _parts_words(message: Any) -> int:
    """Words of a message item: string content, or its input_text/output_text parts."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(
            len(part["text"].split())
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return 0


class ResponsesStream:
    """One streamed response: its items, usage and ending, on mock_server's schedule."""

    def __init__(
        self, server: Server, writer: asyncio.StreamWriter, body: dict[str, Any], rid: str
    ) -> None:
        self.server, self.writer, self.body, self.request_id = server, writer, body, rid
        self.id = f"resp_{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.sequence = 0
        self.model = str(body.get("model") or server.config.model)
        messages = _input_messages(body)
        self.input_tokens = max(sum(_parts_words(m) for m in messages), 1)
        self.cached = self._cached(messages) if server.config.prompt_cache_min else 0
        self.call: tuple[str, tuple[str, ...]] | None = None
        tools = body.get("tools")
        if isinstance(tools, list) and tools and body.get("tool_choice") != "none":
            server.tool_calls += 1
            every = server.config.bad_tool_args_every
            bad = bool(every) and server.tool_calls % every == 0
            self.call = _tool_call(tools[0], bad, server.tool_calls)

    def _cached(self, messages: list[Any]) -> int:
        cached, words = 0, 0
        for n in range(1, len(messages) + 1):
            key = "responses:" + json.dumps(messages[:n], sort_keys=True)
            words += _parts_words(messages[n - 1])
            if key in self.server.seen_prefixes:
                cached = words
            self.server.seen_prefixes.add(key)
        return cached if cached >= self.server.config.prompt_cache_min else 0

    def event(self, kind: str, **fields: Any) -> bytes:
        data = json.dumps({"type": kind, "sequence_number": self.sequence, **fields}, **COMPACT)
        self.sequence += 1
        return f"event: {kind}\ndata: {data}\n\n".encode()

    def response(self, status: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "model": self.model,
            "output": [],
            "service_tier": self.body.get("service_tier") or "default",
            **fields,
        }

    def usage(self, output_tokens: int, reasoning: int) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": self.input_tokens + output_tokens,
        }

    async def send(self, *events: bytes) -> int:
        if self.writer.is_closing():
            raise ConnectionResetError("the mock dropped the stream")
        self.writer.write(_frame(b"".join(events)))
        await self.writer.drain()
        return time.monotonic_ns()

    def chunk(self, index: int, reasoning: int) -> list[bytes]:
        """The events of output chunk `index`: a reasoning delta, a text delta or a piece of
        the tool call, each opened by its item where it is the item's first."""
        word = WORDS[index % len(WORDS)] + " "
        out: list[bytes] = []
        if index < reasoning:
            if index == 0:
                item = {"type": "reasoning", "id": "rs_mock", "summary": []}
                out.append(self.event("response.output_item.added", output_index=0, item=item))
            delta = {"item_id": "rs_mock", "output_index": 0, "summary_index": 0, "delta": word}
            return [*out, self.event("response.reasoning_summary_text.delta", **delta)]
        position, index = (1 if reasoning else 0), index - reasoning
        word = WORDS[index % len(WORDS)] + " "
        if self.call is not None:
            name, pieces = self.call
            if index == 0:
                item = {"type": "function_call", "id": "fc_mock", "call_id": "call_mock"}
                item.update(name=name, arguments="", status="in_progress")
                out.append(
                    self.event("response.output_item.added", output_index=position, item=item)
                )
            fields = {"item_id": "fc_mock", "output_index": position, "delta": pieces[index]}
            return [*out, self.event("response.function_call_arguments.delta", **fields)]
        if index == 0:
            item = {"type": "message", "id": "msg_mock", "role": "assistant", "content": []}
            out.append(self.event("response.output_item.added", output_index=position, item=item))
        fields = {"item_id": "msg_mock", "output_index": position, "content_index": 0}
        return [*out, self.event("response.output_text.delta", **fields, delta=word)]

    def output(self, n_answer: int, reasoning: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if reasoning:
            items.append({"type": "reasoning", "id": "rs_mock", "summary": []})
        if self.call is not None:
            name, pieces = self.call
            call = {"type": "function_call", "id": "fc_mock", "call_id": "call_mock"}
            items.append({**call, "name": name, "arguments": "".join(pieces)})
        else:
            text = "".join(WORDS[i % len(WORDS)] + " " for i in range(n_answer))
            content = [{"type": "output_text", "text": text, "annotations": []}]
            message = {"type": "message", "id": "msg_mock", "role": "assistant"}
            items.append({**message, "content": content})
        return items

    async def run(self, deadlines: list[int], reasoning: int, cut: bool, ending: str) -> None:
        """Stream the scheduled chunks, then end as `done`, `error` (response.failed) or
        `abort`; `cut` (max_output_tokens reached) ends a done stream response.incomplete."""
        created = self.event("response.created", response=self.response("in_progress"))
        progress = self.event("response.in_progress", response=self.response("in_progress"))
        self.writer.write(HEAD.encode())
        await self.send(created, progress)
        sent = len(deadlines) if ending == "done" else min(3, len(deadlines) // 2)
        if ending == "abort":
            sent = len(deadlines) // 2
        for index in range(sent):
            await _sleep_until(deadlines[index])
            at = await self.send(*self.chunk(index, reasoning))
            self.server.log_send(self.request_id, index, at)
        if ending == "abort":
            self.writer.transport.abort()
            raise ConnectionResetError("the mock dropped the stream")
        if ending == "error":
            error = {"code": "server_error", "message": "The server had an error (mock)."}
            failed = self.response("failed", error=error)
            await self.send(self.event("response.failed", response=failed))
            self.writer.write(b"0\r\n\r\n")
            await self.writer.drain()
            return
        n_answer = len(deadlines) - reasoning
        usage = self.usage(len(deadlines), min(reasoning, len(deadlines)))
        fields: dict[str, Any] = {"usage": usage, "output": self.output(n_answer, reasoning)}
        if cut and self.call is None:
            details = {"reason": "max_output_tokens"}
            end = self.response("incomplete", incomplete_details=details, **fields)
            tail = self.event("response.incomplete", response=end)
        else:
            tail = self.event("response.completed", response=self.response("completed", **fields))
        await self.send(tail)
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()


async def respond(server: Server, request: Request, writer: asyncio.StreamWriter) -> bool:
    """`POST /v1/responses`: the mock's faults first, then the stream (or, unstreamed, the
    whole response at the last deadline)."""
    arrived = time.monotonic_ns()
    server.counter += 1
    number, cfg, keep = server.counter, server.config, request.keep_alive
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise TypeError("not an object")
    except (ValueError, TypeError) as exc:
        error = _error_body(f"invalid JSON body: {exc}", "invalid_request_error")
        return await server._respond(writer, 400, error, keep_alive=keep)
    server.log_request(number, body)
    rng = random.Random(cfg.seed * 1_000_003 + number)
    if cfg.rate_limit_every and number % cfg.rate_limit_every == 0:
        message = f"Rate limit reached (mock: every {cfg.rate_limit_every}th request)."
        error = _error_body(message, "rate_limit_exceeded", "rate_limit_exceeded")
        extra = f"retry-after: {cfg.retry_after:g}\r\n"
        return await server._respond(writer, 429, error, keep_alive=keep, extra=extra)
    if cfg.error_rate and rng.random() < cfg.error_rate:
        error = _error_body("The server had an error (mock).", "server_error", "server_error")
        return await server._respond(writer, 500, error, keep_alive=keep)
    limit = body.get("max_output_tokens")
    n_tokens = min(cfg.output_tokens, limit) if isinstance(limit, int) else cfg.output_tokens
    n_tokens = max(n_tokens, 1)
    rid = request.headers.get("x-request-id") or str(number)
    stream = ResponsesStream(server, writer, body, rid)
    reasoning = cfg.reasoning_chunks
    chunks = reasoning + (len(stream.call[1]) if stream.call else n_tokens)
    deadlines = server.deadlines(arrived, chunks, reasoning, rng)
    if not body.get("stream"):
        await _sleep_until(deadlines[-1])
        usage = stream.usage(chunks, reasoning)
        whole = stream.response("completed", usage=usage, output=stream.output(n_tokens, reasoning))
        return await server._respond(writer, 200, json.dumps(whole).encode(), keep_alive=keep)
    cut = n_tokens < cfg.output_tokens
    if cfg.abort_every and number % cfg.abort_every == 0:
        await stream.run(deadlines, reasoning, cut, ending="abort")
    elif cfg.stream_error_every and number % cfg.stream_error_every == 0:
        await stream.run(deadlines, reasoning, cut, ending="error")
    else:
        await stream.run(deadlines, reasoning, cut, ending="done")
    return keep
