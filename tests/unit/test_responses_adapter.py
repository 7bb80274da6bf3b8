"""The OpenAI Responses dialect: request bodies, and SSE in OpenAI's documented shape
through the same body reader every dialect uses (SSE parser, events_of, terminator)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

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
from costcli.adapters.openai_responses import OpenAIResponsesAdapter
from costcli.adapters.registry import available
from costcli.load.measure import Measurement, _consume
from costcli.workloads.spec import RequestSpec


def adapter(**settings: Any) -> OpenAIResponsesAdapter:
    prov = ProviderFile(
        name="openai-responses",
        adapter="openai-responses",
        base_url="https://api.example.com/v1",
        **settings,
    )
    target = Target("openai-responses", "gpt-5-mini", prov.adapter, prov.base_url, None)
    target = Target(**{**target.__dict__, "settings": prov})
    return OpenAIResponsesAdapter(target, TransportOptions())


def sse(kind: str, seq: int, **fields: Any) -> bytes:
    """One event as OpenAI sends it: an `event:` line, then `data:` with type and number."""
    data = {"type": kind, "sequence_number": seq, **fields}
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def response(status: str = "completed", **fields: Any) -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "status": status, "output": [], **fields}


USAGE = {
    "input_tokens": 120,
    "input_tokens_details": {"cached_tokens": 64},
    "output_tokens": 9,
    "output_tokens_details": {"reasoning_tokens": 4},
    "total_tokens": 129,
}


class FakeResponse:
    """A 200 whose body arrives as the given reads, `gap_s` apart."""

    status = 200
    sent_ns = 0

    def __init__(self, reads: list[bytes], gap_s: float = 0.0) -> None:
        self.parts, self.gap_s = reads, gap_s

    def header(self, name: str) -> str | None:
        return None

    def ended(self) -> bool:
        return False  # as httpx says: what follows the terminal event is drained

    async def reads(self) -> AsyncIterator[list[tuple[int, bytes]]]:
        for n, data in enumerate(self.parts):
            if n and self.gap_s:
                await asyncio.sleep(self.gap_s)
            yield [(time.perf_counter_ns(), data)]

    async def read(self, limit: int) -> bytes:
        return b""


def events(reads: list[bytes], a: OpenAIResponsesAdapter | None = None) -> list[StreamEvent]:
    async def collect() -> list[StreamEvent]:
        body = _Body(a or adapter())
        return one_delta_a_chunk([e async for e in body.read(FakeResponse(reads))])  # type: ignore[arg-type]

    return asyncio.run(collect())


def text_stream(*, reasoning: bool = False) -> list[bytes]:
    out = [sse("response.created", 0, response=response("in_progress"))]
    out.append(sse("response.in_progress", 1, response=response("in_progress")))
    if reasoning:
        out.append(sse("response.output_item.added", 2, output_index=0, item={"type": "reasoning"}))
        out.append(sse("response.reasoning_summary_text.delta", 3, output_index=0, delta="Think"))
    item = {"type": "message", "id": "msg_1", "role": "assistant", "content": []}
    out.append(sse("response.output_item.added", 4, output_index=1, item=item))
    out.append(sse("response.output_text.delta", 5, output_index=1, item_id="msg_1", delta="Hi"))
    out.append(sse("response.output_text.delta", 6, output_index=1, item_id="msg_1", delta=" you"))
    out.append(sse("response.output_text.done", 7, output_index=1, text="Hi you"))
    out.append(sse("response.output_item.done", 8, output_index=1, item=item))
    done = response(usage=USAGE, service_tier="flex", output=[item])
    out.append(sse("response.completed", 9, response=done))
    return out


def test_text_and_reasoning_deltas_usage_with_details_and_a_stop_at_response_completed() -> None:
    got = events([b"".join(text_stream(reasoning=True))])
    assert isinstance(got[0], FirstByte)
    texts = [(e.text, e.reasoning) for e in got if isinstance(e, TextDelta)]
    assert texts == [("Think", True), ("Hi", False), (" you", False)]
    (usage,) = [e for e in got if isinstance(e, Usage)]
    assert (usage.input_tokens, usage.cached_input_tokens) == (120, 64)
    assert (usage.output_tokens, usage.reasoning_tokens) == (9, 4)
    assert usage.service_tier == "flex"
    assert isinstance(got[-1], Finish)
    assert got[-1].reason == "stop"


def test_ttft_is_at_the_reasoning_delta_and_ttfo_at_the_first_answer_text() -> None:
    reads = text_stream(reasoning=True)

    class Streaming:
        async def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
            async for e in _Body(adapter()).read(FakeResponse(reads, gap_s=0.02)):  # type: ignore[arg-type]
                yield e

    rec = Measurement(0, 0)

    async def go() -> None:
        import time

        rec.scheduled_ns = rec.sent_ns = time.perf_counter_ns()
        await _consume(Streaming(), RequestSpec(0, ()), rec)  # type: ignore[arg-type]

    asyncio.run(go())
    record = rec.record(rec.scheduled_ns)
    assert record.ttft_ms is not None
    assert record.ttfo_ms is not None
    # reasoning came 3 reads in (3 gaps), the answer 2 reads later (2 more gaps of 20 ms)
    assert record.ttfo_ms - record.ttft_ms >= 35
    assert (record.reasoning_tokens, record.cached_input_tokens) == (4, 64)
    assert record.service_tier == "flex"
    assert record.finish_reason == "stop"


def test_a_function_call_item_gives_its_name_then_argument_deltas_and_finish_tool_calls() -> None:
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_9", "name": "get_weather"}
    reads = [
        sse("response.created", 0, response=response("in_progress")),
        sse("response.output_item.added", 1, output_index=0, item={**call, "arguments": ""}),
        sse("response.function_call_arguments.delta", 2, output_index=0, delta='{"city":'),
        sse("response.function_call_arguments.delta", 3, output_index=0, delta='"Oslo"}'),
        sse("response.function_call_arguments.done", 4, output_index=0, arguments="{}"),
        sse("response.output_item.done", 5, output_index=0, item=call),
        sse("response.completed", 6, response=response(usage=USAGE, output=[call])),
    ]
    got = events(reads)
    calls = [e for e in got if isinstance(e, ToolCallDelta)]
    assert (calls[0].index, calls[0].name, calls[0].call_id) == (0, "get_weather", "call_9")
    assert "".join(c.arguments for c in calls) == '{"city":"Oslo"}'
    assert {c.index for c in calls} == {0}
    assert isinstance(got[-1], Finish)
    assert got[-1].reason == "tool_calls"


def test_response_incomplete_at_max_output_tokens_is_a_length_finish_with_usage() -> None:
    reads = text_stream()[:-1]
    cut = response("incomplete", usage=USAGE, incomplete_details={"reason": "max_output_tokens"})
    got = events([*reads, sse("response.incomplete", 9, response=cut)])
    assert any(isinstance(e, Usage) and e.output_tokens == 9 for e in got)
    assert isinstance(got[-1], Finish)
    assert got[-1].reason == "length"
    filtered = response("incomplete", usage=USAGE, incomplete_details={"reason": "content_filter"})
    got = events([*reads, sse("response.incomplete", 9, response=filtered)])
    assert isinstance(got[-1], Finish)
    assert got[-1].reason == "content_filter"


@pytest.mark.parametrize(
    ("code", "error_class", "status"),
    [
        ("rate_limit_exceeded", RateLimitedError, 429),
        ("server_error", ServerError, 500),
        ("invalid_prompt", ClientError, 400),
    ],
)
def test_response_failed_and_the_error_event_raise_the_class_of_their_code(
    code: str, error_class: type[Exception], status: int
) -> None:
    head = text_stream()[:5]
    error = {"code": code, "message": "it broke"}
    failed = sse("response.failed", 9, response=response("failed", error=error))
    with pytest.raises(error_class, match=code) as caught:
        events([*head, failed])
    assert getattr(caught.value, "status", None) == status
    with pytest.raises(error_class) as caught:
        events([*head, sse("error", 9, code=code, message="it broke", param=None)])
    assert getattr(caught.value, "status", None) == status


def test_an_unknown_event_type_is_counted_and_the_stream_goes_on() -> None:
    a = adapter()
    reads = text_stream()
    reads.insert(3, sse("response.brand_new.delta", 3, delta="?"))
    reads.insert(3, sse("response.brand_new.delta", 3, delta="?"))
    got = events(reads, a)
    assert isinstance(got[-1], Finish)
    assert got[-1].reason == "stop"
    assert a.describe()["unknown_events"] == {"response.brand_new.delta": 2}


def test_a_payload_that_is_not_an_object_is_stream_aborted_with_the_reason() -> None:
    with pytest.raises(StreamAbortedError, match="not a JSON object"):
        events([*text_stream()[:4], b"data: [1, 2]\n\n"])
    bad = response(usage={**USAGE, "output_tokens": "nine"})
    with pytest.raises(StreamAbortedError, match="not a count"):
        events([*text_stream()[:-1], sse("response.completed", 9, response=bad)])


def test_a_stream_cut_before_response_completed_is_stream_aborted() -> None:
    with pytest.raises(StreamAbortedError, match=r"response\.completed"):
        events(text_stream()[:-1])


def test_the_request_body_is_the_responses_shape() -> None:
    a = adapter(reasoning_effort="low", service_tier="flex")
    tool = {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
    }
    schema = {"name": "ans", "schema": {"type": "object"}, "strict": True}
    spec = RequestSpec(
        0,
        (
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": [{"type": "text", "text": "Again"}]},
        ),
        max_tokens=50,
        tools=(tool,),
        tool_choice={"type": "function", "function": {"name": "f"}},
        response_format={"type": "json_schema", "json_schema": schema},
    )
    body = a.request_body(spec)
    assert body["model"] == "gpt-5-mini"
    assert (body["stream"], body["store"], body["max_output_tokens"]) == (True, False, 50)
    assert body["instructions"] == "Be brief."
    assert [m["role"] for m in body["input"]] == ["user", "assistant", "user"]
    assert body["input"][2]["content"] == [{"type": "input_text", "text": "Again"}]
    assert body["reasoning"] == {"effort": "low"}
    assert body["service_tier"] == "flex"
    assert body["tools"] == [
        {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}
    ]
    assert body["tool_choice"] == {"type": "function", "name": "f"}
    fmt = {"type": "json_schema", "name": "ans", "schema": {"type": "object"}, "strict": True}
    assert body["text"] == {"format": fmt}
    assert "messages" not in body
    assert "stream_options" not in body
    assert a.url == "https://api.example.com/v1/responses"
    plain = adapter().request_body(RequestSpec(0, ({"role": "user", "content": "Hi"},)))
    assert "reasoning" not in plain
    assert "service_tier" not in plain
    assert "instructions" not in plain


def test_the_registry_provides_openai_responses() -> None:
    assert "openai-responses" in available()


def test_the_bundled_openai_responses_provider_is_priced_from_the_openai_entries() -> None:
    from costcli.adapters.catalog import load_catalog
    from costcli.pricing.prices import load_prices

    catalog = load_catalog()
    target = catalog.resolve("openai-responses", require_key=False)
    assert (target.adapter, target.base_url) == ("openai-responses", "https://api.openai.com/v1")
    assert target.api_key_env == "OPENAI_API_KEY"
    assert target.price_provider == "openai"
    assert catalog.providers["openai-responses"].models == catalog.providers["openai"].models
    prices = load_prices()
    assert prices.find_model(target.price_provider, target.model).provider == "openai"


def test_a_refusal_is_the_answer_not_a_stream_without_output() -> None:
    item = {"type": "message", "id": "msg_1", "role": "assistant", "content": []}
    reads = [
        sse("response.created", 0, response=response("in_progress")),
        sse("response.output_item.added", 1, output_index=0, item=item),
        sse("response.refusal.delta", 2, output_index=0, item_id="msg_1", delta="I can't"),
        sse("response.refusal.done", 3, output_index=0, refusal="I can't"),
        sse("response.completed", 4, response=response(usage=USAGE, output=[item])),
    ]
    texts = [e for e in events(reads) if isinstance(e, TextDelta)]
    assert [(t.text, t.reasoning) for t in texts] == [("I can't", False)]


def test_an_in_stream_error_is_redacted_and_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESP_KEY", "sk-resp-secret-123456")
    prov = adapter()
    target = Target(**{**prov.target.__dict__, "api_key_env": "RESP_KEY"})
    a = OpenAIResponsesAdapter(target, TransportOptions())
    echoed = "bad key sk-resp-secret-123456 " + "x" * 500
    reads = [sse("error", 0, code="server_error", message=echoed)]
    with pytest.raises(ProviderError) as caught:
        events(reads, a)
    assert "sk-resp-secret-123456" not in str(caught.value)
    assert len(str(caught.value)) <= 300
