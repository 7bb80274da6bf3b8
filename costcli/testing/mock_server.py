"""An OpenAI-compatible mock server with scripted latency, tokens and faults.

It is the offline demo target, the integration-test fixture and the target of the
client-overhead benchmark, so it is written on raw asyncio streams (stdlib only) and
schedules every chunk against absolute deadlines measured from the moment the request
was read: `time.monotonic_ns()`, the same CLOCK_MONOTONIC that the client's
`time.perf_counter_ns()` reads on Linux.

    python -m costcli.testing.mock_server --port 0 --ttft-ms 120 --itl-ms 10 --dialect groq
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import random
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from http import HTTPStatus
from typing import Any, Literal, get_args

Dialect = Literal["openai", "groq", "llamacpp", "anthropic", "responses"]
# Dialects with their own routes and stream writer, each a module: `dispatch(server,
# request, writer)` answers every request but /health (named, not imported: no circle)
DIALECT_ROOMS = {"anthropic": "costcli.testing.mock_anthropic:dispatch"}
VOCABULARY = (
    *("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while"),
    *("seven", "cheap", "models", "stream", "tokens", "to", "one", "patient", "benchmark"),
    *("that", "counts", "every", "millisecond"),
)
TOKEN_JSON = {word: json.dumps(word + " ").encode() for word in VOCABULARY}
COMPACT: dict[str, Any] = {"separators": (",", ":")}


@dataclass(frozen=True)
class MockConfig:
    """Everything the mock server can be scripted with; times in milliseconds."""

    host: str = "127.0.0.1"
    port: int = 8000
    model: str = "mock-model"
    output_tokens: int = 32
    ttft_ms: float = 50.0
    itl_ms: float = 10.0
    jitter_ms: float = 0.0
    seed: int = 0
    dialect: Dialect = "openai"
    queue_ms: float = 5.0
    require_key: str | None = None
    error_rate: float = 0.0
    rate_limit_every: int = 0
    retry_after: float = 1.0
    abort_every: int = 0
    stream_error_every: int = 0
    send_log: str | None = None
    reasoning_chunks: int = 0  # reasoning deltas streamed before the answer
    reasoning_field: Literal["reasoning_content", "reasoning"] = "reasoning_content"
    answer_delay_ms: float = 0.0  # extra wait between the last reasoning and the answer
    prompt_cache_min: int = 0  # report cached tokens for a repeated prefix this long (0: off)
    bad_tool_args_every: int = 0  # every Nth tool call: arguments that are not valid
    tag_answers: bool = False  # each answer starts with `answer-N` (N: the request number)
    request_log: str | None = None  # append each chat request's body as one JSON line
    # append '<request_id> <ns>': how late the server itself sent each first chunk (its
    # own share of a TTFT error when the server shares the cores with the client)
    late_log: str | None = None
    # decode slots: a request past them waits for one (its wait is in its TTFT); 0: no limit
    slots: int = 0
    # the metric names GET /metrics speaks (requests running and waiting, KV usage, tokens)
    metrics_dialect: Literal["llamacpp", "vllm", "sglang"] = "llamacpp"


FACTS = ("/health", "/stats", "/metrics")  # every dialect's routes about the server itself
# running, waiting, KV-cache usage (0..1), prompt tokens, generated tokens: as each server
# names them (results/server_metrics.py reads the same names), after each one's labels
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "llamacpp": (
        "",
        "llamacpp:requests_processing",
        "llamacpp:requests_deferred",
        "llamacpp:kv_cache_usage_ratio",
        "llamacpp:prompt_tokens_total",
        "llamacpp:tokens_predicted_total",
    ),
    "vllm": (
        '{engine="0",model_name="mock-model"}',
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
    ),
    "sglang": (
        '{model_name="mock-model"}',
        "sglang:num_running_reqs",
        "sglang:num_queue_reqs",
        "sglang:token_usage",
        "sglang:prompt_tokens_total",
        "sglang:generation_tokens_total",
    ),
}


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class _Abort(Exception):
    """Raised to drop a connection without finishing the response."""


def _error_body(message: str, kind: str, code: str | int | None = None) -> bytes:
    error = {"message": message, "type": kind, "param": None, "code": code}
    return json.dumps({"error": error}).encode()


def _frame(payload: bytes) -> bytes:
    """One HTTP/1.1 chunked-transfer frame."""
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _sse(obj: Any) -> bytes:
    return _frame(b"data: " + json.dumps(obj, **COMPACT).encode() + b"\n\n")


def _message_words(message: Any) -> int:
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


def _prompt_tokens(body: dict[str, Any]) -> int:
    """Whitespace-separated words in all message contents, at least 1."""
    return max(sum(_message_words(m) for m in body.get("messages") or []), 1)


@dataclass(frozen=True)
class Script:
    """What one request's stream carries beyond plain text: reasoning deltas first, then
    the answer, or a tool call whose arguments arrive in pieces; the cached prompt tokens."""

    reasoning: int = 0
    reasoning_field: str = "reasoning_content"
    tool_call: tuple[str, tuple[str, ...]] | None = None  # name, argument pieces
    tag: str | None = None
    cached: int = 0

    @property
    def plain(self) -> bool:
        return not (self.reasoning or self.tool_call or self.tag)

    def output_chunks(self, n_tokens: int) -> int:
        return self.reasoning + (len(self.tool_call[1]) if self.tool_call else n_tokens)

    @staticmethod
    def for_request(server: MockServer, body: dict[str, Any], number: int) -> Script:
        cfg = server.config
        cached = server.cached_tokens(body) if cfg.prompt_cache_min else 0
        tools = body.get("tools")
        call = None
        if isinstance(tools, list) and tools and body.get("tool_choice") != "none":
            server.tool_calls += 1
            every = cfg.bad_tool_args_every
            bad = bool(every) and server.tool_calls % every == 0
            call = _tool_call(tools[0], bad, server.tool_calls)
        return Script(
            reasoning=cfg.reasoning_chunks,
            reasoning_field=cfg.reasoning_field,
            tool_call=call,
            tag=f"answer-{number}" if cfg.tag_answers else None,
            cached=cached,
        )

    def delta(self, index: int) -> dict[str, Any]:
        """The delta of output chunk `index`."""
        word = VOCABULARY[index % len(VOCABULARY)]
        if index < self.reasoning:
            return {self.reasoning_field: word + " "}
        index -= self.reasoning
        if self.tool_call is not None:
            name, pieces = self.tool_call
            call: dict[str, Any] = {"index": 0, "function": {"arguments": pieces[index]}}
            if index == 0:
                call.update(id="call_mock", type="function")
                call["function"]["name"] = name
            return {"tool_calls": [call]}
        if index == 0 and self.tag:
            return {"content": f"{self.tag} "}
        return {"content": VOCABULARY[index % len(VOCABULARY)] + " "}


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _tool_call(tool: Any, bad: bool, n: int) -> tuple[str, tuple[str, ...]]:
    """A call of the request's first tool: its required string/enum/number arguments with
    plain values, streamed in three pieces; `bad` calls alternate between arguments that
    are not JSON and JSON that breaks the schema."""
    function = _object(tool.get("function") if isinstance(tool, dict) else None)
    name = str(function.get("name") or "tool")
    params = _object(function.get("parameters"))
    props = _object(params.get("properties"))
    args: dict[str, Any] = {}
    for key in params.get("required") or []:
        prop = _object(props.get(key))
        kind = str(prop.get("type"))
        args[key] = (
            prop["enum"][0]
            if prop.get("enum")
            else {"integer": 1, "number": 1.5, "boolean": True}.get(kind, "mock")
        )
    text = json.dumps(args, **COMPACT)
    if bad:
        text = text[: max(1, len(text) - 2)] if n % 2 else json.dumps({"unexpected": 1})
    third = max(1, len(text) // 3)
    return name, (text[:third], text[third : 2 * third], text[2 * third :])


@dataclass
class Served:
    """What the server itself served, for `GET /stats` (chat completions): the requests it
    received, those it answered (a stream or a completion begun) and their prompt tokens,
    and every output token it sent (an aborted stream's too)."""

    requests: int = 0
    answered: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def body(self) -> bytes:
        return json.dumps(asdict(self)).encode()


class MockServer:
    """The connection handler and request counter behind `serve()`."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.counter = 0
        self.log_lines: list[str] = []
        self.writers: set[asyncio.StreamWriter] = set()
        self.seen_prefixes: set[str] = set()
        self.request_lines: list[str] = []
        self.late_lines: list[str] = []
        self.tool_calls = 0
        self.served = Served()
        self.running = 0  # requests holding a slot (or streaming, without slots)
        self.waiting = 0  # requests waiting for a slot
        self.slot_gate = asyncio.Semaphore(config.slots) if config.slots else None

    # --- HTTP/1.1 -------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                request = await self._read_request(reader, writer)
                if request is None or not await self._dispatch(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, _Abort):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None  # the client closed an idle keep-alive connection
        except asyncio.LimitOverrunError:
            await self._respond(writer, 400, _error_body("header too large", "invalid_request"))
            return None
        lines = head[:-4].decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            method, target, version = lines[0].split(" ", 2)
            length = int(headers.get("content-length", "0"))
        except ValueError:
            await self._respond(writer, 400, _error_body("malformed request", "invalid_request"))
            return None
        if "chunked" in headers.get("transfer-encoding", "").lower():
            await self._respond(writer, 411, _error_body("send Content-Length", "invalid_request"))
            return None
        body = await reader.readexactly(length) if length > 0 else b""
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        return _Request(method, target.split("?", 1)[0], headers, body, keep_alive)

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        *,
        keep_alive: bool = False,
        extra: str = "",
    ) -> bool:
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        return keep_alive

    async def _dispatch(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        routes = {"/v1/chat/completions": "POST", "/v1/models": "GET"} | dict.fromkeys(FACTS, "GET")
        if self.config.dialect == "responses":
            routes["/v1/responses"] = "POST"
        path = request.path.rstrip("/")
        if self.config.dialect in DIALECT_ROOMS and path not in FACTS:
            return bool(await _room(DIALECT_ROOMS[self.config.dialect])(self, request, writer))
        keep = request.keep_alive
        if path not in routes:
            body = _error_body(f"unknown path {request.path}", "invalid_request_error")
            return await self._respond(writer, 404, body, keep_alive=keep)
        if request.method != routes[path]:
            body = _error_body(f"{request.method} not allowed", "invalid_request_error")
            return await self._respond(writer, 405, body, keep_alive=keep)
        if path in FACTS:
            return await self._facts(path, writer, keep)
        key = self.config.require_key
        if key is not None and request.headers.get("authorization") != f"Bearer {key}":
            body = _error_body("Incorrect API key provided.", "invalid_request_error")
            return await self._respond(writer, 401, body, keep_alive=keep)
        if path == "/v1/models":
            model = {"id": self.config.model, "object": "model", "created": 0, "owned_by": "mock"}
            body = json.dumps({"object": "list", "data": [model]}).encode()
            return await self._respond(writer, 200, body, keep_alive=keep)
        if path == "/v1/responses":
            return bool(
                await _room("costcli.testing.mock_responses:respond")(self, request, writer)
            )
        return await self._chat(request, writer)

    # --- chat completions -------------------------------------------------------------

    async def _chat(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        arrived = time.monotonic_ns()
        self.counter += 1
        self.served.requests += 1
        number, cfg, keep = self.counter, self.config, request.keep_alive
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError) as exc:
            error = _error_body(f"invalid JSON body: {exc}", "invalid_request_error")
            return await self._respond(writer, 400, error, keep_alive=keep)
        self.log_request(number, body)
        rng = random.Random(cfg.seed * 1_000_003 + number)
        if cfg.rate_limit_every and number % cfg.rate_limit_every == 0:
            message = f"Rate limit reached (mock: every {cfg.rate_limit_every}th request)."
            error = _error_body(message, "rate_limit_exceeded", "rate_limit_exceeded")
            extra = f"retry-after: {cfg.retry_after:g}\r\n"
            return await self._respond(writer, 429, error, keep_alive=keep, extra=extra)
        if cfg.error_rate and rng.random() < cfg.error_rate:
            error = _error_body("The server had an error (mock).", "server_error", 500)
            return await self._respond(writer, 500, error, keep_alive=keep)

        if self.slot_gate is not None:  # the wait for a slot is part of the TTFT
            self.waiting += 1
            try:
                await self.slot_gate.acquire()
            finally:
                self.waiting -= 1
            arrived = time.monotonic_ns()
        self.running += 1
        try:
            return await self._answer(request, writer, body, number, arrived, rng)
        finally:
            self.running -= 1
            if self.slot_gate is not None:
                self.slot_gate.release()

    async def _facts(self, path: str, writer: asyncio.StreamWriter, keep: bool) -> bool:
        """/health; what the server served as JSON (/stats) or Prometheus text (/metrics)."""
        if path == "/metrics":
            return await self._metrics(writer, keep)
        body = b'{"status":"ok"}' if path == "/health" else self.served.body()
        return await self._respond(writer, 200, body, keep_alive=keep)

    async def _metrics(self, writer: asyncio.StreamWriter, keep: bool) -> bool:
        """Prometheus text in the server's names (MockConfig.metrics_dialect)."""
        served, slots = self.served, self.config.slots
        usage = self.running / slots if slots else 0.0
        labels, *names = METRIC_NAMES[self.config.metrics_dialect]
        figures = (
            self.running,
            self.waiting,
            usage,
            served.prompt_tokens,
            served.completion_tokens,
        )
        lines = []
        for name, value in zip(names, figures, strict=True):
            kind = "counter" if name.endswith("_total") else "gauge"
            lines += [f"# TYPE {name} {kind}", f"{name}{labels} {value}"]
        body = ("\n".join(lines) + "\n").encode()
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        return keep

    async def _answer(
        self,
        request: _Request,
        writer: asyncio.StreamWriter,
        body: dict[str, Any],
        number: int,
        arrived: int,
        rng: random.Random,
    ) -> bool:
        cfg, keep = self.config, request.keep_alive
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        n_tokens = min(cfg.output_tokens, limit) if isinstance(limit, int) else cfg.output_tokens
        n_tokens = max(n_tokens, 1)
        script = Script.for_request(self, body, number)
        n_tokens = script.output_chunks(n_tokens)
        deadlines = self.deadlines(arrived, n_tokens, script.reasoning, rng)
        stream = Stream(
            server=self,
            writer=writer,
            request_id=request.headers.get("x-request-id") or str(number),
            model=str(body.get("model") or cfg.model),
            prompt_tokens=_prompt_tokens(body),
            arrived=arrived,
            deadlines=deadlines,
            script=script,
        )
        self.served.answered += 1
        self.served.prompt_tokens += stream.prompt_tokens
        if not body.get("stream"):
            await _sleep_until(deadlines[-1])
            self.served.completion_tokens += len(deadlines)
            payload = json.dumps(stream.completion()).encode()
            return await self._respond(writer, 200, payload, keep_alive=keep)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        if cfg.abort_every and number % cfg.abort_every == 0:
            await stream.run(n_tokens // 2, include_usage, ending="abort")
        elif cfg.stream_error_every and number % cfg.stream_error_every == 0:
            await stream.run(min(3, n_tokens // 2), include_usage, ending="error")
        else:
            await stream.run(n_tokens, include_usage, ending="done")
        return keep

    def log_send(self, request_id: str, index: int, sent_ns: int) -> None:
        if self.config.send_log:
            self.log_lines.append(f"{request_id} {index} {sent_ns}\n")

    def deadlines(
        self, arrived: int, n_tokens: int, reasoning: int, rng: random.Random
    ) -> list[int]:
        """When each output chunk is due: TTFT, then ITL apart; the answer after the
        reasoning waits `answer_delay_ms` more."""
        cfg = self.config
        deadlines, deadline = [], arrived
        for index in range(n_tokens):
            delay_ms = cfg.itl_ms if index else cfg.ttft_ms
            if index == reasoning and index:
                delay_ms += cfg.answer_delay_ms
            if cfg.jitter_ms:
                delay_ms += rng.uniform(-cfg.jitter_ms, cfg.jitter_ms)
            deadline += max(round(delay_ms * 1e6), 0)
            deadlines.append(deadline)
        return deadlines

    def log_request(self, number: int, body: Any) -> None:
        if self.config.request_log:
            self.request_lines.append(json.dumps({"n": number, "body": body}) + "\n")

    def cached_tokens(self, body: dict[str, Any]) -> int:
        """Tokens of the longest message prefix an earlier request sent whole (and remember
        this request's prefixes), if at least `prompt_cache_min` long."""
        found = body.get("messages")
        messages: list[Any] = found if isinstance(found, list) else []
        cached, words = 0, 0
        for n in range(1, len(messages) + 1):
            key = json.dumps(messages[:n], sort_keys=True)
            words += _message_words(messages[n - 1])
            if key in self.seen_prefixes:
                cached = words
            self.seen_prefixes.add(key)
        return cached if cached >= self.config.prompt_cache_min else 0

    def flush_log(self) -> None:
        for path, name in (
            (self.config.send_log, "log_lines"),
            (self.config.request_log, "request_lines"),
            (self.config.late_log, "late_lines"),
        ):
            lines = getattr(self, name)
            if path and lines:
                setattr(self, name, [])
                with open(path, "a", encoding="utf-8") as handle:
                    handle.writelines(lines)


def _room(reference: str) -> Any:
    """A dialect room's handler by "module:attribute": named, not imported, since each room
    imports this module's wire helpers (no circle)."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


async def _sleep_until(deadline_ns: int) -> None:
    delay = deadline_ns - time.monotonic_ns()
    if delay > 0:
        await asyncio.sleep(delay / 1e9)


@dataclass
class Stream:
    """One chat completion: its schedule, its chunks and its dialect telemetry."""

    server: MockServer
    writer: asyncio.StreamWriter
    request_id: str
    model: str
    prompt_tokens: int
    arrived: int
    deadlines: list[int]
    script: Script = field(default_factory=Script)
    first_sent: int = 0
    last_sent: int = 0

    def __post_init__(self) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }

    def _usage(self, completion_tokens: int) -> dict[str, Any]:
        total = self.prompt_tokens + completion_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": total,
        }
        cfg = self.server.config
        if cfg.prompt_cache_min and cfg.dialect != "llamacpp":  # llama.cpp: timings.cache_n
            usage["prompt_tokens_details"] = {"cached_tokens": self.script.cached}
        if self.script.reasoning:
            reasoning = min(self.script.reasoning, completion_tokens)
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return usage

    def _telemetry(self, completion_tokens: int, first: int, last: int) -> dict[str, Any]:
        """Groq's `x_groq` (seconds) or llama.cpp's `timings` (ms); empty for openai."""
        cfg = self.server.config
        prompt_ms = max((first - self.arrived) / 1e6, 0.001)
        completion_ms = max((last - first) / 1e6, 0.001)
        if cfg.dialect == "groq":
            queue_s = cfg.queue_ms / 1000
            prompt_s = max(prompt_ms / 1000 - queue_s, 0.0)
            usage = {
                "queue_time": queue_s,
                "prompt_tokens": self.prompt_tokens,
                "prompt_time": round(prompt_s, 6),
                "completion_tokens": completion_tokens,
                "completion_time": round(completion_ms / 1000, 6),
                "total_tokens": self.prompt_tokens + completion_tokens,
                "total_time": round(queue_s + prompt_s + completion_ms / 1000, 6),
            }
            return {"x_groq": {"id": f"req_{uuid.uuid4().hex[:26]}", "usage": usage}}
        if cfg.dialect == "llamacpp":
            timings = {
                "prompt_n": self.prompt_tokens - self.script.cached,
                **({"cache_n": self.script.cached} if cfg.prompt_cache_min else {}),
                "prompt_ms": round(prompt_ms, 3),
                "prompt_per_token_ms": round(prompt_ms / self.prompt_tokens, 3),
                "prompt_per_second": round(self.prompt_tokens * 1000 / prompt_ms, 3),
                "predicted_n": completion_tokens,
                "predicted_ms": round(completion_ms, 3),
                # like llama-server: predicted_ms spans the n-1 gaps after the first token
                "predicted_per_token_ms": round(completion_ms / max(1, completion_tokens - 1), 3),
                "predicted_per_second": round(
                    max(1, completion_tokens - 1) * 1000 / max(completion_ms, 1e-9), 3
                ),
            }
            return {"timings": timings}
        return {}

    async def _send(self, data: bytes) -> int:
        if self.writer.is_closing():
            raise _Abort
        self.writer.write(data)
        await self.writer.drain()
        return time.monotonic_ns()

    async def run(self, n_tokens: int, include_usage: bool, ending: str) -> None:
        """Send `n_tokens` text chunks on schedule, then end as `done`, `error` or `abort`."""
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        )
        role = {"index": 0, "delta": {"role": "assistant", "content": ""}}
        role.update(finish_reason=None, logprobs=None)
        await self._send(head.encode() + _sse(self._chunk([role])))
        script = self.script
        finish = "length" if len(self.deadlines) < self.server.config.output_tokens else "stop"
        finish = "tool_calls" if script.tool_call else finish
        # Text chunks are the hot path: serialise the chunk once around a placeholder.
        placeholder = {"index": 0, "delta": {"content": "\0"}, "finish_reason": None}
        template = json.dumps(self._chunk([{**placeholder, "logprobs": None}]), **COMPACT)
        prefix, suffix = (part.encode() for part in template.split('"\\u0000"'))
        for index in range(n_tokens):
            token = VOCABULARY[index % len(VOCABULARY)]
            await _sleep_until(self.deadlines[index])
            if ending == "done" and index == n_tokens - 1:
                now = time.monotonic_ns()
                extra = self._telemetry(n_tokens, self.first_sent or now, now)
                delta = {"content": token + " "} if script.plain else script.delta(index)
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
                data = _sse(self._chunk([{**choice, "logprobs": None}], **extra))
            elif script.plain:
                data = _frame(b"data: %s%s%s\n\n" % (prefix, TOKEN_JSON[token], suffix))
            else:
                choice = {"index": 0, "delta": script.delta(index), "finish_reason": None}
                data = _sse(self._chunk([{**choice, "logprobs": None}]))
            self.last_sent = await self._send(data)
            self.server.served.completion_tokens += 1
            if not self.first_sent and self.server.config.late_log:
                late = self.last_sent - self.deadlines[index]
                self.server.late_lines.append(f"{self.request_id} {late}\n")
            self.first_sent = self.first_sent or self.last_sent
            self.server.log_send(self.request_id, index, self.last_sent)
        if ending == "abort":
            self.writer.transport.abort()
            raise _Abort
        if ending == "error":
            error = {"message": "The server had an error (mock).", "type": "server_error"}
            await self._send(_sse({"error": {**error, "code": 500}}) + b"0\r\n\r\n")
            return
        tail = _sse(self._chunk([], usage=self._usage(n_tokens))) if include_usage else b""
        await self._send(tail + _frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    def completion(self) -> dict[str, Any]:
        """The non-streaming chat.completion for the whole schedule."""
        n_tokens = len(self.deadlines)
        text = "".join(VOCABULARY[i % len(VOCABULARY)] + " " for i in range(n_tokens))
        reason = "length" if n_tokens < self.server.config.output_tokens else "stop"
        message = {"role": "assistant", "content": text}
        telemetry = self._telemetry(n_tokens, self.deadlines[0], self.deadlines[-1])
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": reason, "logprobs": None}
            ],
            "usage": self._usage(n_tokens),
            **telemetry,
        }


async def serve(config: MockConfig, ready: Callable[[str], None] | None = None) -> None:
    """Serve until cancelled. `ready(base_url)` is called once listening; by default the
    one line `costcli mock server listening on http://HOST:PORT/v1` is printed."""
    mock = MockServer(config)
    server = await asyncio.start_server(mock.handle, config.host, config.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    url = f"http://{config.host}:{port}/v1"
    if ready is None:
        print(f"costcli mock server listening on {url}", flush=True)
    else:
        ready(url)
    try:
        while True:
            await asyncio.sleep(1.0)
            mock.flush_log()
    finally:
        server.close()
        for writer in list(mock.writers):
            writer.transport.abort()
        mock.flush_log()


def run(config: MockConfig) -> None:
    """Serve in the foreground until SIGINT or SIGTERM."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        server_task = asyncio.create_task(serve(config))
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({server_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        for task in (server_task, stop_task):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server_task

    asyncio.run(main())


def parse_args(argv: list[str] | None = None) -> MockConfig:
    defaults = MockConfig()
    parser = argparse.ArgumentParser(
        prog="python -m costcli.testing.mock_server", description=__doc__
    )
    add = parser.add_argument
    add("--host", default=defaults.host)
    add("--port", type=int, default=defaults.port, help="0 picks a free port")
    add("--model", default=defaults.model)
    add("--output-tokens", type=int, default=defaults.output_tokens)
    add("--ttft-ms", type=float, default=defaults.ttft_ms)
    add("--itl-ms", type=float, default=defaults.itl_ms)
    add("--jitter-ms", type=float, default=defaults.jitter_ms, help="uniform +/- per delay")
    add("--seed", type=int, default=defaults.seed)
    add("--dialect", choices=list(get_args(Dialect)), default=defaults.dialect)
    add("--queue-ms", type=float, default=defaults.queue_ms, help="groq x_groq queue_time")
    add("--require-key", default=None, help="answer 401 unless 'Authorization: Bearer KEY'")
    add("--error-rate", type=float, default=0.0, help="fraction of requests answered 500")
    add("--rate-limit-every", type=int, default=0, help="answer every Nth request 429")
    add("--retry-after", type=float, default=defaults.retry_after, help="429 retry-after, s")
    add("--abort-every", type=int, default=0, help="drop every Nth stream half-way")
    add("--stream-error-every", type=int, default=0, help="in-stream error every Nth stream")
    add("--send-log", default=None, help="append '<request_id> <chunk> <monotonic_ns>' lines")
    add("--reasoning-chunks", type=int, default=0, help="reasoning deltas before the answer")
    add(
        "--reasoning-field", choices=["reasoning_content", "reasoning"], default="reasoning_content"
    )
    add("--answer-delay-ms", type=float, default=0.0, help="wait between reasoning and answer")
    add(
        "--prompt-cache-min",
        type=int,
        default=0,
        help="report cached tokens of a repeated prefix this long",
    )
    add("--bad-tool-args-every", type=int, default=0, help="every Nth tool call: invalid arguments")
    add("--tag-answers", action="store_true", help="each answer starts with answer-N")
    add("--request-log", default=None, help="append each chat request body as a JSON line")
    add("--late-log", default=None, help="append '<request_id> <ns>': each first chunk's lateness")
    add("--slots", type=int, default=0, help="decode slots; more requests wait (0: no limit)")
    add("--metrics-dialect", choices=["llamacpp", "vllm", "sglang"], default="llamacpp")
    args = vars(parser.parse_args(argv))
    return MockConfig(**{f.name: args[f.name] for f in fields(MockConfig)})


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    try:
        run(config)
    except OSError as exc:
        print(
            f"costcli mock server: cannot listen on {config.host}:{config.port}: {exc}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
