"""The Anthropic Messages dialect: request body, stream parser, usage and bad streams.

The streams are the shape Anthropic's streaming reference documents (event: + data: lines,
message_start usage with cache counts, a thinking block with its signature, a text block,
a tool_use block whose input arrives as input_json_delta pieces, ping, message_delta
usage), fed read by read through the same body reader a live request uses."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from costcli.adapters import openai as openai_module
from costcli.adapters.anthropic import AnthropicAdapter
from costcli.adapters.base import (
    ClientError,
    Finish,
    FirstByte,
    ProviderError,
    RateLimitedError,
    ServerError,
    StreamAbortedError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    TransportOptions,
    Usage,
    one_delta_a_chunk,
)
from costcli.adapters.catalog import ProviderFile, Target
from costcli.adapters.openai import _Body
from costcli.load.measure import Measurement, _consume
from costcli.workloads.builtin import BUILTINS
from costcli.workloads.spec import RequestSpec


def sse(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


MESSAGE_START = sse(
    "message_start",
    message={
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 25,
            "cache_creation_input_tokens": 1200,
            "cache_read_input_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 1000},
            "output_tokens": 1,
            "service_tier": "standard",
        },
    },
)
THINKING = [
    sse(
        "content_block_start",
        index=0,
        content_block={"type": "thinking", "thinking": "", "signature": ""},
    ),
    sse("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "Let me"}),
    sse("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": " see."}),
    sse("content_block_delta", index=0, delta={"type": "signature_delta", "signature": "EqQB"}),
    sse("content_block_stop", index=0),
]
TEXT = [
    sse("content_block_start", index=1, content_block={"type": "text", "text": ""}),
    sse("content_block_delta", index=1, delta={"type": "text_delta", "text": "Checking"}),
    sse("content_block_stop", index=1),
]
TOOL = [
    sse(
        "content_block_start",
        index=2,
        content_block={"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
    ),
    sse("content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": ""}),
    sse(
        "content_block_delta",
        index=2,
        delta={"type": "input_json_delta", "partial_json": '{"city": "Pa'},
    ),
    sse(
        "content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": 'ris"}'}
    ),
    sse("content_block_stop", index=2),
]
END = [
    sse(
        "message_delta",
        delta={"stop_reason": "tool_use", "stop_sequence": None},
        usage={"output_tokens": 89},
    ),
    sse("message_stop"),
]
# one network read per item: the ping and message_start share the first
RECORDED = [MESSAGE_START + sse("ping"), *THINKING, *TEXT, *TOOL, *END]


def adapter(settings: ProviderFile | None = None) -> AnthropicAdapter:
    target = Target(
        "anthropic", "claude-sonnet-4-5", "anthropic", "http://127.0.0.1:9/v1", None,
        settings=settings,
    )  # fmt: skip
    return AnthropicAdapter(target, TransportOptions())


class Reads:
    """A 200 response whose body arrives in the given reads."""

    status = 200
    sent_ns = 0

    def __init__(self, reads: list[bytes]) -> None:
        self.parts = reads

    def header(self, name: str) -> str | None:
        return None

    def ended(self) -> bool:
        return False  # as httpx says: what follows the terminal event is drained

    async def reads(self) -> AsyncIterator[list[tuple[int, bytes]]]:
        for read in self.parts:
            yield [(openai_module.perf_ns(), read)]  # the clock below: read k at k ms

    async def read(self, limit: int) -> bytes:
        return b"".join(self.parts)[:limit]


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read k arrives at k ms: every figure below is exact."""
    ticks = itertools.count(1)
    monkeypatch.setattr(openai_module, "perf_ns", lambda: next(ticks) * 1_000_000)
    return


def events_of(reads: list[bytes], a: AnthropicAdapter | None = None) -> list[StreamEvent]:
    async def collect() -> list[StreamEvent]:
        body = _Body(a or adapter()).read(Reads(reads))  # type: ignore[arg-type]
        return one_delta_a_chunk([e async for e in body])

    return asyncio.run(collect())


class Replayed(AnthropicAdapter):
    """The adapter with its HTTP exchange replaced by recorded reads."""

    def __init__(self, reads: list[bytes]) -> None:
        super().__init__(adapter().target, TransportOptions())
        self.reads = reads

    async def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
        async for event in _Body(self).read(Reads(self.reads)):  # type: ignore[arg-type]
            yield event


def test_a_recorded_stream_becomes_reasoning_text_tool_call_usage_and_finish() -> None:
    events = events_of(RECORDED)
    assert events[0] == FirstByte(1_000_000)
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta(3_000_000, "Let me", reasoning=True),
        TextDelta(4_000_000, " see.", reasoning=True),
        TextDelta(8_000_000, "Checking"),
    ]
    assert [e for e in events if isinstance(e, ToolCallDelta)] == [
        ToolCallDelta(10_000_000, 0, "", "get_weather", "toolu_01"),
        ToolCallDelta(12_000_000, 0, '{"city": "Pa'),
        ToolCallDelta(13_000_000, 0, 'ris"}'),
    ]
    usage = [e for e in events if isinstance(e, Usage)]
    # input = uncached 25 + cache writes 1200 + cache reads 300; output: the final cumulative
    assert usage == [
        Usage(
            16_000_000,
            input_tokens=1525,
            output_tokens=89,
            cached_input_tokens=300,
            cache_write_tokens=1200,
            cache_write_1h_tokens=1000,
        )
    ]
    assert events[-1] == Finish(16_000_000, "tool_use")


def test_ttft_is_the_first_thinking_delta_and_ttfo_the_first_answer_text() -> None:
    rec = Measurement(index=0, scheduled_ns=0)
    asyncio.run(_consume(Replayed(RECORDED), RequestSpec(0, ()), rec))
    record = rec.record(epoch_ns=0)
    assert record.ttft_ms == 3.0  # "Let me": reasoning counts for TTFT
    assert record.ttfo_ms == 8.0  # "Checking": the first answer delta
    assert record.ttfb_ms == 1.0
    assert (record.input_tokens, record.cached_input_tokens) == (1525, 300)
    assert (record.cache_write_tokens, record.cache_write_1h_tokens) == (1200, 1000)
    assert record.output_tokens == 89
    assert not record.tokens_estimated
    assert record.tool_calls == 1
    assert record.finish_reason == "tool_use"


def test_a_tool_call_alone_sets_ttfo_at_its_content_block_start() -> None:
    rec = Measurement(index=0, scheduled_ns=0)
    asyncio.run(_consume(Replayed([MESSAGE_START, *TOOL, *END]), RequestSpec(0, ()), rec))
    assert rec.record(epoch_ns=0).ttfo_ms == 2.0
    # the empty first input_json_delta is no piece
    assert rec.tool_calls == {0: ["get_weather", "", '{"city": "Pa', 'ris"}']}


@pytest.mark.parametrize(
    ("kind", "error_class", "status"),
    [
        ("overloaded_error", ServerError, 529),
        ("rate_limit_error", RateLimitedError, 429),
        ("api_error", ServerError, 500),
        ("invalid_request_error", ClientError, 400),
        ("something_new_error", ServerError, 500),
    ],
)
def test_an_error_event_mid_stream_fails_with_its_class(
    kind: str, error_class: type[ProviderError], status: int
) -> None:
    error = sse("error", error={"type": kind, "message": "Overloaded"})
    with pytest.raises(ProviderError) as raised:
        events_of([MESSAGE_START, *TEXT[:2], error])
    assert type(raised.value) is error_class
    assert raised.value.status == status
    assert kind in str(raised.value)
    assert "Overloaded" in str(raised.value)


def test_a_stream_cut_before_message_stop_is_stream_aborted() -> None:
    with pytest.raises(StreamAbortedError, match="without a finish_reason or message_stop"):
        events_of([MESSAGE_START, *TEXT, END[0]])  # message_delta came; message_stop did not


def test_an_unknown_event_type_is_counted_not_fatal() -> None:
    a = adapter()
    novel = sse("content_block_citation", index=1, citation={})
    events = events_of([MESSAGE_START, *TEXT, novel, novel, *END], a)
    assert TextDelta(3_000_000, "Checking") in events
    assert isinstance(events[-1], Finish)
    assert a.describe()["unknown_events"] == 2


def test_a_delta_for_a_block_never_started_is_stream_aborted() -> None:
    stray = sse("content_block_delta", index=4, delta={"type": "text_delta", "text": "x"})
    with pytest.raises(StreamAbortedError, match="block 4, which no content_block_start began"):
        events_of([MESSAGE_START, *TEXT, stray, *END])


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"message_stop"', b"null"])
def test_a_payload_that_is_not_an_object_is_stream_aborted(payload: bytes) -> None:
    with pytest.raises(StreamAbortedError, match="not a JSON object"):
        events_of([MESSAGE_START, b"event: x\ndata: " + payload + b"\n\n"])


def test_the_key_travels_as_x_api_key_with_the_api_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTH_TEST_KEY", "sk-ant-123")
    target = Target("a", "m", "anthropic", "http://127.0.0.1:9/v1", "ANTH_TEST_KEY")
    headers = AnthropicAdapter(target, TransportOptions()).headers()
    assert headers["x-api-key"] == "sk-ant-123"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers
    assert headers["Accept-Encoding"] == "identity"


def test_the_body_moves_system_out_converts_tools_and_always_caps_output() -> None:
    tool = {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
    }
    spec = RequestSpec(
        0,
        ({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}),
        response_format={"type": "json_object"},
        tools=(tool,),
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    body = adapter().request_body(spec)
    assert body["system"] == "be brief"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["max_tokens"] == 1024
    assert body["stream"] is True
    assert body["tools"] == [{"name": "f", "description": "d", "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "tool", "name": "f"}
    assert "response_format" not in body
    assert "thinking" not in body
    assert adapter().request_body(RequestSpec(0, (), tool_choice="required"))["tool_choice"] == {
        "type": "any"
    }


def test_a_thinking_budget_is_sent_and_the_cap_raised_above_it() -> None:
    settings = ProviderFile(name="anthropic", adapter="anthropic", thinking_budget_tokens=2048)
    body = adapter(settings).request_body(RequestSpec(0, (), max_tokens=48))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 2048 + 48


def test_the_shared_prefix_workload_marks_its_system_prompt_for_the_cache() -> None:
    spec = BUILTINS["shared-prefix"]().request(0)
    body = adapter().request_body(spec)
    assert body["system"] == [
        {
            "type": "text",
            "text": spec.messages[0]["content"],
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert all(m["role"] != "system" for m in body["messages"])


def test_a_developer_message_is_the_system_prompt() -> None:
    spec = RequestSpec(
        0, ({"role": "developer", "content": "Be terse."}, {"role": "user", "content": "hi"})
    )
    body = adapter().request_body(spec)
    assert body["system"] == "Be terse."
    assert [m["role"] for m in body["messages"]] == ["user"]
