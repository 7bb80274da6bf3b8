"""The chat-completions variants read right, on streams in each provider's recorded shape,
replayed byte for byte on their own timing: xAI counts reasoning outside
`completion_tokens` and sends its own bill; Mistral sends content as a list of typed parts
(thinking, then text); OpenRouter's `reasoning_details`, OpenAI's `obfuscation` and Azure's
empty-choices first chunk change nothing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from costcli.adapters.base import TransportOptions
from costcli.adapters.catalog import Target
from costcli.adapters.openai import OpenAIAdapter, usage_event
from costcli.cli import app
from costcli.load.measure import Measurement, measure
from costcli.load.schedule import LoadSettings
from costcli.workloads.spec import RequestSpec
from tests.replay import Frame, chunk_frames, replaying

THINK_S = 0.15  # the answer starts this long after the first reasoning


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1764700000,
            "model": "m", "choices": choices, **extra}  # fmt: skip


# xAI (grok-3-mini, chat completions): reasoning_content deltas, the answer, then usage
# where total_tokens = prompt + completion + reasoning, and cost_in_usd_ticks.
XAI_USAGE = {
    "prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 354,
    "prompt_tokens_details": {"text_tokens": 12, "audio_tokens": 0, "image_tokens": 0,
                              "cached_tokens": 6},
    "completion_tokens_details": {"reasoning_tokens": 340, "audio_tokens": 0,
                                  "accepted_prediction_tokens": 0,
                                  "rejected_prediction_tokens": 0},
    "num_sources_used": 0, "cost_in_usd_ticks": 1_800_000,
}  # fmt: skip
XAI = chunk_frames([
    (0.0, _chunk({"role": "assistant", "reasoning_content": "The"}, system_fingerprint="fp_1")),
    (0.0, _chunk({"reasoning_content": " capital"})),
    (THINK_S, _chunk({"content": "Paris"})),
    (0.0, _chunk({"content": "."})),
    (0.0, _chunk({}, "stop")),
    (0.0, _chunk(None, usage=XAI_USAGE)),
])  # fmt: skip

# Mistral (magistral): content as a list of parts, thinking parts first; the answer as a
# text part, then as a plain string; usage on the finishing chunk.
MISTRAL = chunk_frames([
    (0.0, _chunk({"role": "assistant", "content": ""})),
    (0.0, _chunk({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Capital"}]}]})),
    (0.0, _chunk({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": " of France"}]}]})),
    (0.0, _chunk({"content": [{"type": "reference", "reference_ids": [1]}]})),
    (THINK_S, _chunk({"content": [{"type": "text", "text": "Paris"}]})),
    (0.0, _chunk({"content": "."})),
    (0.0, _chunk({"content": ""}, "stop",
                 usage={"prompt_tokens": 10, "total_tokens": 60, "completion_tokens": 50})),
])  # fmt: skip

# OpenRouter: reasoning_details (text and encrypted pieces), usage.cost in USD; OpenAI's
# obfuscation padding; Azure's first chunk with no choices (prompt filter results).
OTHERS = chunk_frames([
    (0.0, {"id": "", "object": "", "created": 0, "model": "", "choices": [],
           "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}),
    (0.0, _chunk({"role": "assistant", "content": "", "reasoning_details": [
        {"type": "reasoning.text", "text": "Think", "format": "unknown", "index": 0}]},
        obfuscation="x1y2")),
    (0.0, _chunk({"reasoning_details": [{"type": "reasoning.encrypted", "data": "gAAA"}]})),
    (THINK_S, _chunk({"content": "Paris."}, obfuscation="abcd")),
    (0.0, _chunk({}, "stop")),
    (0.0, _chunk(None, usage={"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
                              "completion_tokens_details": {"reasoning_tokens": 6},
                              "cost": 0.000123})),
])  # fmt: skip


async def _graded(base_url: str) -> Measurement:
    adapter = OpenAIAdapter(Target("p", "m", "openai", base_url, None), TransportOptions())
    await adapter.start()
    spec = RequestSpec(0, ({"role": "user", "content": "Capital of France?"},), expected="Paris.")
    try:
        return await measure(adapter, spec, time.perf_counter_ns(), LoadSettings(timeout_s=10))
    finally:
        await adapter.close()


@pytest.mark.parametrize(
    ("frames", "output_tokens", "reasoning_tokens"),
    [(XAI, 342, 340), (MISTRAL, 50, None), (OTHERS, 8, 6)],
    ids=["xai", "mistral", "openrouter-azure"],
)
def test_reasoning_then_the_answer_is_read_right(
    frames: list[Frame], output_tokens: int, reasoning_tokens: int | None
) -> None:
    with replaying(frames) as url:
        rec = asyncio.run(_graded(url))
    assert rec.error is None, rec.error_message
    assert rec.answer == "Paris."  # the reasoning is not the answer; no part is lost
    assert rec.correct is True
    assert rec.output_tokens == output_tokens
    assert rec.reasoning_tokens == reasoning_tokens
    record = rec.record(rec.scheduled_ns)
    assert record.ttft_ms is not None
    assert record.ttfo_ms is not None
    # TTFT at the first reasoning, TTFO at the first answer text, THINK_S later
    assert record.ttfo_ms - record.ttft_ms >= THINK_S * 1000 * 0.8


def test_xai_reasoning_outside_completion_tokens_is_billed_and_its_bill_compared(
    tmp_path: Path,
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[[models]]\nprovider = "xai"\nmodel = "grok-3-mini"\ninput_per_mtok = 0.30\n'
        "cached_input_per_mtok = 0.075\noutput_per_mtok = 0.50\n"
        'source = "https://docs.x.ai/docs/models"\nas_of = 2026-12-03\n',
        encoding="utf-8",
    )
    with replaying(XAI) as url:
        (tmp_path / "xai.toml").write_text(
            f'name = "xai"\nadapter = "openai"\ndefault_model = "grok-3-mini"\nbase_url = "{url}"\n',
            encoding="utf-8",
        )
        args = ["run", "--providers", str(tmp_path / "xai.toml"), "-t", "xai", "-n", "3",
                "-c", "1", "--prices", str(prices), "--format", "json", "--quiet"]  # fmt: skip
        done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)["targets"][0]["summary"]
    assert summary["output_tokens"]["total"] == 3 * 342
    # by hand: 6 uncached x 0.30 + 6 cached x 0.075 + 342 output x 0.50, per 1M tokens
    per_request = (6 * 0.30 + 6 * 0.075 + 342 * 0.50) / 1e6
    assert summary["cost"]["per_request_usd"] == pytest.approx(per_request)
    bill = summary["cost"]["provider_billed"]
    assert bill["requests"] == 3
    assert bill["provider_usd"] == pytest.approx(3 * 1_800_000 / 1e10)
    assert bill["costcli_usd"] == pytest.approx(3 * per_request)
    assert bill["difference_pct"] == pytest.approx((per_request - 0.00018) / 0.00018 * 100)


@pytest.mark.parametrize(
    ("completion", "total", "output"),
    [(2, 354, 342), (342, 354, 342)],
    ids=["outside (xAI)", "inside (OpenAI)"],
)
def test_reasoning_is_added_only_where_total_tokens_counts_it_apart(
    completion: int, total: int, output: int
) -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": completion, "total_tokens": total,
             "completion_tokens_details": {"reasoning_tokens": 340}}  # fmt: skip
    assert usage_event(usage, 0).output_tokens == output


@pytest.mark.parametrize("content", [7, {"text": "x"}, True], ids=["number", "object", "bool"])
def test_content_that_is_neither_text_nor_parts_is_a_bad_chunk(content: Any) -> None:
    adapter = OpenAIAdapter(Target("p", "m", "openai", "http://x/v1", None), TransportOptions())
    data = json.dumps(_chunk({"content": content})).encode()
    with pytest.raises(Exception, match=r"delta\.content is .*not text or a list of parts"):
        adapter.events_of(data, 0)


def test_the_table_says_how_far_the_providers_bill_is_from_costclis(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[[models]]\nprovider = "xai"\nmodel = "grok-3-mini"\ninput_per_mtok = 0.30\n'
        'output_per_mtok = 0.50\nsource = "https://docs.x.ai/docs/models"\nas_of = 2026-12-03\n',
        encoding="utf-8",
    )
    with replaying(XAI) as url:
        (tmp_path / "xai.toml").write_text(
            f'name = "xai"\nadapter = "openai"\ndefault_model = "grok-3-mini"\nbase_url = "{url}"\n',
            encoding="utf-8",
        )
        args = ["run", "--providers", str(tmp_path / "xai.toml"), "-t", "xai", "-n", "2",
                "-c", "1", "--prices", str(prices), "--no-progress"]  # fmt: skip
        done = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    # by hand, per request: 12 x 0.30 + 342 x 0.50 per 1M = 174.6e-6; xAI billed 180e-6
    assert "the provider billed $0.00036 for 2 requests; costcli's prices give $0.0003492" in (
        done.output
    )
    assert "(costcli -3.0%)" in done.output
