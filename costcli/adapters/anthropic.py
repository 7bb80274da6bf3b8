"""Anthropic Messages over SSE (https://docs.anthropic.com/en/api/messages-streaming).

Wire format: POST {base_url}/messages with `stream: true`; the key travels only in the
`x-api-key` header, beside `anthropic-version: 2023-06-01`. Events, each
`event: <type>` + `data: {"type": <type>, ...}`:

    message_start        message.usage: input_tokens, cache_creation_input_tokens,
                         cache_read_input_tokens, cache_creation.ephemeral_{5m,1h}_input_tokens
    content_block_start  index + content_block (text, thinking, redacted_thinking, tool_use)
    content_block_delta  index + delta: text_delta, thinking_delta, input_json_delta,
                         signature_delta (ignored)
    content_block_stop   index
    message_delta        delta.stop_reason; usage.output_tokens (cumulative)
    message_stop         the terminal event
    ping                 ignored
    error                error.{type, message}: the request fails with its class

Unknown event types are counted (`describe()["unknown_events"]`), never fatal: Anthropic
documents that new ones may appear. Input, as DESIGN.md defines it, is all three counts:
`input_tokens` (uncached) + cache writes + cache reads; cached input is the reads.

Request body, from the OpenAI-shaped RequestSpec: system messages move to the top-level
`system`; `max_tokens` is always sent (Anthropic requires it; DEFAULT_MAX_TOKENS when the
workload sets none); function tools become `{name, description, input_schema}` and
`tool_choice` is mapped; `response_format` is not sent (no JSON mode: the instruction stays
in the prompt). Prompt caching: a spec that allows it (`cache_prompt`, as the shared-prefix
workload and conversations do) marks `cache_control: {"type": "ephemeral"}` on the system
prompt when it has one (the shared prefix), else on its last message (the conversation so
far, which the next turn resends). Extended thinking: the provider file's
`thinking_budget_tokens` sends `thinking: {type: enabled, budget_tokens}`; as the budget
must be below `max_tokens`, a cap at or under it is raised to budget + cap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from costcli.adapters.base import (
    Finish,
    ProviderError,
    StreamAbortedError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    error_for_status,
)
from costcli.adapters.openai import (
    MAX_ERROR_BODY,
    STREAM_DONE,
    OpenAIAdapter,
    StreamDone,
    error_message,
    json_loads,
    parse_retry_after,
)
from costcli.adapters.transport import Response
from costcli.workloads.spec import RequestSpec

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


def max_tokens_sent(max_tokens: int | None, thinking_budget: int | None) -> int:
    """The `max_tokens` a request is sent with (DEFAULT_MAX_TOKENS where it gives none): the
    thinking budget must stay below it, so a cap at or under the budget is raised to budget
    + cap (the spend cap bills that much output at worst)."""
    cap = max_tokens or DEFAULT_MAX_TOKENS
    if thinking_budget and cap <= thinking_budget:
        return thinking_budget + cap
    return cap


EPHEMERAL = {"type": "ephemeral"}
# Anthropic's error types -> the HTTP status each stands for (docs: "Errors").
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
IGNORED_EVENTS = frozenset({"ping", "content_block_stop"})

Payload = list[StreamEvent | StreamDone]


def _text(content: Any) -> str:
    """A message's content as plain text (a string, or a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return str(content)


def _cached(content: Any) -> list[dict[str, Any]]:
    """Content as text blocks, the last one marked for the prompt cache."""
    blocks: list[dict[str, Any]] = (
        [dict(p) for p in content if isinstance(p, dict)]
        if isinstance(content, list)
        else [{"type": "text", "text": _text(content)}]
    )
    if blocks:
        blocks[-1]["cache_control"] = EPHEMERAL
    return blocks


def anthropic_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI function tool as an Anthropic tool; another shape is sent as given."""
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, dict):
        return tool
    out: dict[str, Any] = {
        "name": function.get("name"),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def anthropic_tool_choice(choice: Any) -> Any:
    """OpenAI's tool_choice: auto, none, required -> any, a named function -> that tool."""
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if choice.get("type") == "function" and name:
            return {"type": "tool", "name": name}
        return choice
    return None


def in_stream_status(error: Any) -> int:
    """The status an Anthropic error type stands for (529 overloaded, 429, ...); else 500."""
    kind = error.get("type") if isinstance(error, dict) else None
    return ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


@dataclass
class _Counts:
    """The usage one stream reported so far (message_start, then message_delta)."""

    uncached: int | None = None
    written: int | None = None
    written_1h: int | None = None
    read: int | None = None
    output: int | None = None

    def take(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for key, attr in (
            ("input_tokens", "uncached"),
            ("cache_creation_input_tokens", "written"),
            ("cache_read_input_tokens", "read"),
            ("output_tokens", "output"),
        ):
            if (value := _count(usage.get(key))) is not None:
                setattr(self, attr, value)
        by_ttl = usage.get("cache_creation")
        if isinstance(by_ttl, dict):
            one_hour = _count(by_ttl.get("ephemeral_1h_input_tokens"))
            self.written_1h = one_hour if one_hour is not None else self.written_1h

    def event(self, t_ns: int) -> Usage:
        parts = (self.uncached, self.written, self.read)
        total = None if all(p is None for p in parts) else sum(p or 0 for p in parts)
        return Usage(
            t_ns,
            input_tokens=total,
            output_tokens=self.output,
            cached_input_tokens=self.read,
            cache_write_tokens=self.written,
            cache_write_1h_tokens=self.written_1h,
        )


class MessageStream:
    """One response's events: content blocks by index, usage until `message_stop`."""

    def __init__(self, adapter: AnthropicAdapter) -> None:
        self.adapter = adapter
        self.blocks: dict[int, str] = {}  # index -> content block type
        self.tool_calls: dict[int, int] = {}  # block index -> tool call position
        self.counts = _Counts()

    def events(self, data: bytes, t_ns: int) -> Payload:
        event = self.adapter.decoded(data)
        if not isinstance(event, dict):
            text = repr(event)
            excerpt = text if len(text) <= 40 else text[:37] + "..."
            raise StreamAbortedError(f"an event is {excerpt}, not a JSON object")
        try:
            return self._read(event, t_ns)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            reason = f"an event the anthropic dialect cannot read: {type(exc).__name__}: {exc}"
            raise StreamAbortedError(self.adapter.redact(reason)) from None

    def _read(self, event: dict[str, Any], t_ns: int) -> Payload:
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event, t_ns)
        if kind == "content_block_start":
            return self._start(event, t_ns)
        if kind == "message_start":
            self.counts.take((event.get("message") or {}).get("usage"))
            return []
        if kind == "message_delta":
            self.counts.take(event.get("usage"))
            reason = (event.get("delta") or {}).get("stop_reason")
            return [Finish(t_ns, reason)] if isinstance(reason, str) else []
        if kind == "message_stop":
            return [self.counts.event(t_ns), STREAM_DONE]
        if kind == "error":
            raise self.adapter.stream_error(event.get("error"))
        if kind not in IGNORED_EVENTS:
            self.adapter.unknown_events += 1
        return []

    def _start(self, event: dict[str, Any], t_ns: int) -> Payload:
        index, block = event["index"], event.get("content_block") or {}
        kind = str(block.get("type"))
        self.blocks[index] = kind
        if kind != "tool_use":
            return []
        position = self.tool_calls.setdefault(index, len(self.tool_calls))
        return [ToolCallDelta(t_ns, position, "", str(block.get("name")), block.get("id"))]

    def _delta(self, event: dict[str, Any], t_ns: int) -> Payload:
        index = event.get("index")
        if index not in self.blocks:
            raise StreamAbortedError(
                f"a content_block_delta for block {index!r}, which no content_block_start began"
            )
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [TextDelta(t_ns, str(delta["text"]))]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [TextDelta(t_ns, str(delta["thinking"]), reasoning=True)]
        if kind == "input_json_delta" and delta.get("partial_json"):
            position = self.tool_calls.setdefault(index, len(self.tool_calls))
            return [ToolCallDelta(t_ns, position, str(delta["partial_json"]))]
        return []  # signature_delta, an empty piece, a delta type not known yet


SYSTEM_ROLES = ("system", "developer")


class AnthropicAdapter(OpenAIAdapter):
    """Anthropic Messages, streamed: the shared transport, Anthropic's body and events."""

    name = "anthropic"
    dialect = "Anthropic Messages"
    path = "/messages"
    terminator = "message_stop"
    wake_on = (b"message_stop", b'"error"')

    def __init__(self, target: Any, transport: Any) -> None:
        super().__init__(target, transport)
        settings = target.settings
        self.thinking_budget = settings.thinking_budget_tokens if settings else None
        self.unknown_events = 0

    def headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "Accept-Encoding": "identity",
            "anthropic-version": API_VERSION,
        }
        headers.update(self.target.headers)
        key = self.target.api_key()
        if key:
            headers["x-api-key"] = key
        return headers

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "unknown_events": self.unknown_events}

    def request_body(self, spec: RequestSpec) -> dict[str, Any]:
        # a `developer` message is OpenAI's name for the system prompt; Anthropic has one
        system = [m for m in spec.messages if m.get("role") in SYSTEM_ROLES]
        messages = [dict(m) for m in spec.messages if m.get("role") not in SYSTEM_ROLES]
        system_text = "\n\n".join(_text(m.get("content")) for m in system)
        max_tokens = max_tokens_sent(spec.max_tokens, self.thinking_budget)
        body: dict[str, Any] = {"model": self.target.model, "messages": messages}
        if system_text:
            body["system"] = _cached(system_text) if spec.cache_prompt else system_text
        elif spec.cache_prompt and messages:
            messages[-1]["content"] = _cached(messages[-1].get("content"))
        if self.thinking_budget:
            body["thinking"] = {"type": "enabled", "budget_tokens": self.thinking_budget}
        body["max_tokens"] = max_tokens
        body["stream"] = True
        if spec.tools:
            body["tools"] = [anthropic_tool(t) for t in spec.tools]
        choice = anthropic_tool_choice(spec.tool_choice)
        if choice is not None:
            body["tool_choice"] = choice
        return body

    def reader(self) -> Callable[[bytes, int], Payload]:
        return MessageStream(self).events

    def events_of(self, data: bytes, t_ns: int) -> Payload:
        """One payload read alone (no earlier events): a fresh stream's reader."""
        return MessageStream(self).events(data, t_ns)

    def stream_error(self, error: Any) -> ProviderError:
        """An `error` event: its type names the class (overloaded 529, rate limit 429...)."""
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        kind = error.get("type") if isinstance(error, dict) else None
        return error_for_status(
            in_stream_status(error),
            f"error inside the stream: {kind}: {self.redact(message)[:300]}",
        )

    async def _status_error(self, resp: Response) -> ProviderError:
        """A non-200 answer; Anthropic's body `{"type": "error", "error": {type, message}}`
        gives its message, prefixed by its type."""
        body = await resp.read(MAX_ERROR_BODY)
        message = error_message(body, self.redact)
        try:
            kind = json_loads(body).get("error", {}).get("type")
        except (ValueError, AttributeError, TypeError):
            kind = None
        text = f"{kind}: {message}" if isinstance(kind, str) else message
        return error_for_status(
            resp.status,
            f"HTTP {resp.status}: {text}",
            parse_retry_after(resp.header("retry-after")),
        )
