"""Micro-benchmarks of costcli's hot paths (pytest-benchmark).

    pytest benchmarks -p no:cacheprovider --benchmark-only

Not part of the test suite (pyproject's testpaths is tests/). Each benchmark also checks
the figure it computes, so a fast wrong answer fails.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from costcli.adapters.base import StreamEvent, TransportOptions
from costcli.adapters.catalog import Target
from costcli.adapters.openai import OpenAIAdapter, json_loads
from costcli.adapters.sse import SSEParser
from costcli.load.measure import measure
from costcli.load.schedule import LoadSettings
from costcli.results.metrics import RequestRecord, summarize
from costcli.workloads.spec import RequestSpec

TOKENS = 50


def chunk_bytes(word: str, *, finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-0123456789abcdef01234567",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "mock-model",
        "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


USAGE = (
    b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m","choices":[],'
    b'"usage":{"prompt_tokens":9,"completion_tokens":50,"total_tokens":59}}\n\n'
)
STREAM = [chunk_bytes(f"w{i} ", finish="stop" if i == TOKENS - 1 else None) for i in range(TOKENS)]
STREAM += [USAGE, b"data: [DONE]\n\n"]


def test_sse_parse_one_chunk(benchmark: Any) -> None:
    """One network read holding one event, the common case of a streamed token."""
    parser = SSEParser()
    raw = STREAM[3]
    events = benchmark(parser.feed, raw)
    assert events == [raw[6:-2]]


def test_sse_parse_and_decode_one_chunk(benchmark: Any) -> None:
    """Parse and JSON-decode one event (orjson where installed)."""
    parser = SSEParser()
    raw = STREAM[3]

    def step() -> Any:
        return [json_loads(data) for data in parser.feed(raw)]

    decoded = benchmark(step)
    assert decoded[0]["choices"][0]["delta"]["content"] == "w3 "


class _ReplayAdapter(OpenAIAdapter):
    """The real OpenAI adapter's per-chunk path over canned bytes: no network."""

    async def stream(self, spec: RequestSpec) -> AsyncIterator[StreamEvent]:
        from costcli.adapters.base import FirstByte

        parser = SSEParser()
        t_ns = 1
        yield FirstByte(t_ns)
        finished = None
        for raw in STREAM:
            t_ns += 20_000_000
            for data in parser.feed(raw):
                if data == b"[DONE]":
                    from costcli.adapters.base import Finish

                    yield Finish(t_ns, finished)
                    return
                for event in self.chunk_events(json_loads(data), t_ns):
                    if type(event).__name__ == "Finish":
                        finished = event.reason  # type: ignore[union-attr]
                    else:
                        yield event


def test_one_request_event_handling(benchmark: Any) -> None:
    """A 50-token request through chunk_events and the scheduler's bookkeeping (measure)."""
    target = Target("bench", "mock-model", "openai", "http://127.0.0.1:1/v1", None)
    adapter = _ReplayAdapter(target, TransportOptions())
    spec = RequestSpec(0, ({"role": "user", "content": "hi"},), max_tokens=TOKENS)
    settings = LoadSettings()
    loop = asyncio.new_event_loop()
    try:
        rec = benchmark(lambda: loop.run_until_complete(measure(adapter, spec, 0, settings)))
    finally:
        loop.close()
    assert rec.ok
    assert len(rec.chunk_ns) == TOKENS
    assert rec.output_tokens == TOKENS
    assert rec.finish_reason == "stop"


def make_records(n: int, tokens: int = 5) -> list[RequestRecord]:
    rng = random.Random(1)
    records = []
    for i in range(n):
        start = i * 1_000_000
        first = start + int(rng.uniform(150, 250) * 1e6)
        chunks = [first + k * 20_000_000 for k in range(tokens)]
        records.append(
            RequestRecord(
                index=i,
                scheduled_ns=start,
                sent_ns=start + 1000,
                first_byte_ns=first - 1000,
                first_token_ns=first,
                end_ns=chunks[-1] + 1000,
                chunk_ns=chunks,
                input_tokens=20,
                output_tokens=tokens,
                finish_reason="stop",
            )
        )
    return records


def test_summarize_100k_records(benchmark: Any) -> None:
    records = make_records(100_000)
    summary = benchmark.pedantic(summarize, args=(records,), rounds=3, iterations=1)
    assert summary.requests.total == 100_000
    assert summary.itl_ms is not None
    assert summary.itl_ms.count == 400_000
    assert summary.itl_ms.p50 == pytest.approx(20.0)


def test_projection_1000_scenarios(benchmark: Any) -> None:
    cost = pytest.importorskip("costcli.pricing.cost")
    if not all(hasattr(cost, n) for n in ("project_api", "project_self_hosted", "Scenario")):
        pytest.skip("costcli.pricing.cost has no project_api / project_self_hosted / Scenario yet")
    from costcli.pricing.prices import load_prices

    prices = load_prices()
    if not prices.models or not prices.hardware:
        pytest.skip("the bundled prices file has no models or no hardware profiles")
    price, hardware = prices.models[0], prices.hardware[0]
    scenarios = [
        cost.Scenario(
            requests_per_month=1_000 * (i + 1),
            input_tokens=500 + i,
            output_tokens=200,
            peak_factor=2.0,
            cache_hit=0.25,
            batch_share=0.1,
        )
        for i in range(1000)
    ]

    def project() -> list[Any]:
        out = []
        for s in scenarios:
            out.append(cost.project_api(price, (), s))
            out.append(cost.project_self_hosted(hardware, 5.0, s))
        return out

    rows = benchmark(project)
    assert len(rows) == 2000
    assert rows[2].monthly_cost_usd > rows[0].monthly_cost_usd  # more volume costs more
