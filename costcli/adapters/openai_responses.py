"""OpenAI Responses API over SSE (`POST {base_url}/responses`, `stream: true`).

Wire format: `event: <type>` / `data: {"type": <type>, "sequence_number": n, ...}` events.
The answer comes as `response.output_text.delta`, reasoning as
`response.reasoning_summary_text.delta` (or `response.reasoning_text.delta`), a tool call
as a `function_call` item (`response.output_item.added`: name and call_id) whose arguments
arrive as `response.function_call_arguments.delta` for its `output_index`. The stream ends
at `response.completed` (usage: input_tokens, input_tokens_details.cached_tokens,
output_tokens, output_tokens_details.reasoning_tokens), `response.incomplete` (cut at
max_output_tokens, or filtered), `response.failed` or an `error` event.

Every payload is read on its own: one adapter serves many streams at once, so nothing
about a stream is kept between its events (the finish reason comes from the final
response's `output`). Event types this reader does not know are counted in `describe()`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from costcli.adapters.base import (
    Finish,
    ProviderError,
    StreamAbortedError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    TransportOptions,
    Usage,
    error_for_status,
)
from costcli.adapters.catalog import Target
from costcli.adapters.openai import STREAM_DONE, OpenAIAdapter, StreamDone
from costcli.workloads.spec import RequestSpec

REASONING_DELTAS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")
# events that carry nothing the measurement needs (their `.delta`s came before them)
IGNORED = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.queued",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.done",
        "response.output_text.annotation.added",
        "response.function_call_arguments.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done",
        "response.reasoning_summary_text.done",
        "response.reasoning_text.done",
        "response.refusal.done",
    }
)
# response.error / error-event codes (OpenAI's ResponseError.code) -> HTTP status
ERROR_STATUS = {
    "rate_limit_exceeded": 429,
    "server_error": 500,
    "vector_store_timeout": 500,
    "invalid_prompt": 400,
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
}


def input_items(messages: tuple[dict[str, Any], ...]) -> tuple[str | None, list[dict[str, Any]]]:
    """Chat messages as Responses input: system messages joined into `instructions`, the
    others as message items (role and content kept; text parts renamed to input_text or,
    for the assistant's, output_text)."""
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer") and isinstance(content, str):
            instructions.append(content)
            continue
        if isinstance(content, list):
            kind = "output_text" if role == "assistant" else "input_text"
            content = [
                {**part, "type": kind} if part.get("type") == "text" else part
                for part in content
                if isinstance(part, dict)
            ]
        items.append({"type": "message", "role": role, "content": content or ""})
    return ("\n\n".join(instructions) or None), items


def flat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """Chat's `{type: function, function: {name, description, parameters}}` -> Responses'
    flat `{type: function, name, description, parameters}`; other tools as given."""
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, dict):
        return tool
    return {"type": "function", **function}


def tool_choice(choice: Any) -> Any:
    """`auto`/`none`/`required` as given; `{type: function, function: {name}}` flattened."""
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"type": "function", "name": choice["function"].get("name")}
    return choice


def text_format(response_format: dict[str, Any]) -> dict[str, Any]:
    """Chat's `response_format` -> Responses' `text.format`."""
    if response_format.get("type") != "json_schema":
        return {"format": {"type": response_format.get("type", "text")}}
    spec = response_format.get("json_schema") or {}
    fmt: dict[str, Any] = {
        "type": "json_schema",
        "name": spec.get("name", "answer"),
        "schema": spec.get("schema", {}),
    }
    if "strict" in spec:
        fmt["strict"] = spec["strict"]
    return {"format": fmt}


def responses_usage(usage: Any, t_ns: int, service_tier: Any = None) -> Usage:
    """`response.usage` with its details: cached input and reasoning tokens."""
    usage = usage if isinstance(usage, dict) else {}
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    return Usage(
        t_ns,
        input_tokens=_count(usage.get("input_tokens"), "usage.input_tokens"),
        output_tokens=_count(usage.get("output_tokens"), "usage.output_tokens"),
        cached_input_tokens=_count(
            input_details.get("cached_tokens"), "usage.input_tokens_details.cached_tokens"
        ),
        reasoning_tokens=_count(
            output_details.get("reasoning_tokens"), "usage.output_tokens_details.reasoning_tokens"
        ),
        service_tier=service_tier if isinstance(service_tier, str) else None,
    )


def _count(value: Any, where: str) -> int | None:
    if value is None or (type(value) is int and value >= 0):
        return value
    raise StreamAbortedError(f"not a Responses event: {where} is {value!r:.40}, not a count")


# a refusal's text is the answer (the model's own words), read like output text
ANSWER_DELTAS = ("response.output_text.delta", "response.refusal.delta")
DELTAS = frozenset({*ANSWER_DELTAS, "response.function_call_arguments.delta", *REASONING_DELTAS})


def delta_events(kind: str, event: dict[str, Any], t_ns: int) -> list[StreamEvent | StreamDone]:
    """A text, reasoning or tool-arguments delta; an empty one carries no output."""
    delta = event.get("delta")
    if not isinstance(delta, str) or not delta:
        return []
    if kind == "response.function_call_arguments.delta":
        return [ToolCallDelta(t_ns, int(event["output_index"]), delta)]
    return [TextDelta(t_ns, delta, reasoning=kind not in ANSWER_DELTAS)]


def response_error(err: Any, where: str, redact: Callable[[str], str] = str) -> ProviderError:
    """An error object (`response.error`, or the `error` event itself) as its error class;
    the server's text redacted of the target's secrets, then cut."""
    err = err if isinstance(err, dict) else {}
    code = err.get("code")
    status = ERROR_STATUS.get(str(code), 500)
    if isinstance(code, int) and 400 <= code < 600:
        status = code
    message = str(err.get("message") or code or "no message")
    return error_for_status(status, redact(f"{where}: {code}: {message}")[:300])


class OpenAIResponsesAdapter(OpenAIAdapter):
    """The Responses API, streamed: same transport as chat completions, another wire."""

    name = "openai-responses"
    dialect = "OpenAI Responses"
    path = "/responses"
    terminator = "response.completed"
    wake_on = (b"response.completed", b"response.incomplete", b"response.failed", b'"error"')

    def __init__(self, target: Target, transport: TransportOptions) -> None:
        super().__init__(target, transport)
        self.unknown_events: Counter[str] = Counter()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "unknown_events": dict(self.unknown_events)}

    def request_body(self, spec: RequestSpec) -> dict[str, Any]:
        instructions, items = input_items(spec.messages)
        body: dict[str, Any] = {
            "model": self.target.model,
            "input": items,
            "stream": True,
            "store": False,
        }
        if instructions is not None:
            body["instructions"] = instructions
        if spec.max_tokens is not None:
            body["max_output_tokens"] = spec.max_tokens
        settings = self.target.settings
        if settings and settings.reasoning_effort:
            body["reasoning"] = {"effort": settings.reasoning_effort}
        if settings and settings.service_tier:
            body["service_tier"] = settings.service_tier
        if spec.tools:
            body["tools"] = [flat_tool(t) for t in spec.tools]
        if spec.tool_choice is not None:
            body["tool_choice"] = tool_choice(spec.tool_choice)
        if spec.response_format is not None:
            body["text"] = text_format(spec.response_format)
        return body

    def events_of(self, data: bytes, t_ns: int) -> list[StreamEvent | StreamDone]:
        event = self.decoded(data)
        if not isinstance(event, dict):
            raise StreamAbortedError(
                self.redact(f"not a Responses event: {str(event)[:40]!r} is not a JSON object")
            )
        kind = event.get("type")
        try:
            return self._events(kind, event, t_ns)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            reason = f"a {kind} event the {self.name} dialect cannot read: {exc}"
            raise StreamAbortedError(self.redact(reason)) from None

    def _events(
        self, kind: Any, event: dict[str, Any], t_ns: int
    ) -> list[StreamEvent | StreamDone]:
        if kind in DELTAS:
            return delta_events(kind, event, t_ns)
        if kind == "response.output_item.added":
            item = event.get("item") or {}
            if item.get("type") != "function_call":
                return []
            return [
                ToolCallDelta(
                    t_ns,
                    int(event["output_index"]),
                    item.get("arguments") or "",
                    name=item.get("name"),
                    call_id=item.get("call_id"),
                )
            ]
        if kind in ("response.completed", "response.incomplete"):
            return self._end(kind, event.get("response") or {}, t_ns)
        if kind == "response.failed":
            response = event.get("response") or {}
            raise response_error(response.get("error"), "response.failed", self.redact)
        if kind == "error":
            raise response_error(event, "error event", self.redact)
        if kind not in IGNORED:
            self.unknown_events[str(kind)] += 1
        return []

    def _end(
        self, kind: str, response: dict[str, Any], t_ns: int
    ) -> list[StreamEvent | StreamDone]:
        usage = responses_usage(response.get("usage"), t_ns, response.get("service_tier"))
        if kind == "response.incomplete":
            reason = (response.get("incomplete_details") or {}).get("reason")
            finish = "length" if reason in (None, "max_output_tokens") else str(reason)
        else:
            output = response.get("output") or ()
            calls = any(isinstance(i, dict) and i.get("type") == "function_call" for i in output)
            finish = "tool_calls" if calls else "stop"
        return [usage, Finish(t_ns, finish), STREAM_DONE]
