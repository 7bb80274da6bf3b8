"""`costcli run` against the mock server in the Anthropic dialect (POST /v1/messages):
the summary, cache reads and writes as the server reported them, and their cost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from costcli.adapters.anthropic import AnthropicAdapter
from costcli.adapters.base import ClientError, ProviderError, TransportOptions
from costcli.adapters.catalog import Target
from costcli.workloads.builtin import shared_system_prompt
from costcli.workloads.spec import RequestSpec
from tests.mockserver_fixture import start_mock_server

pytestmark = pytest.mark.integration

PRICES = """
[[models]]
provider = "claude"
model = "mock-model"
input_per_mtok = 3.0
cached_input_per_mtok = 0.3
cache_write_per_mtok = 3.75
output_per_mtok = 15.0
source = "https://example.com/claude-pricing"
as_of = 2026-11-20
"""
KEY = "sk-ant-mock-key"


def run_json(cli: Callable[..., Any], *args: str) -> dict[str, Any]:
    result = cli(*args, "-f", "json", "-q", env={"MOCK_ANTHROPIC_KEY": KEY})
    assert result.exit_code in (0, 1), result.stderr
    return dict(json.loads(result.stdout))


def test_a_shared_prefix_run_reports_cache_writes_then_reads_and_prices_both(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES, encoding="utf-8")
    mock = ("--dialect", "anthropic", "--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "10")
    mock += ("--prompt-cache-min", "100", "--require-key", KEY)
    with start_mock_server(*mock) as (url, _):
        claude = provider_file(
            "claude", base_url=url, adapter="anthropic", api_key_env="MOCK_ANTHROPIC_KEY"
        )
        doc = run_json(
            cli, "run", "--providers", str(claude), "-t", "claude", "-w", "shared-prefix",
            "-n", "4", "-c", "1", "--warmup", "0", "--max-tokens", "8", "--records",
            "--prices", str(prices),
        )  # fmt: skip
    (target,) = doc["targets"]
    summary, records = target["summary"], target["records"]
    assert summary["requests"]["ok"] == 4
    for key in ("ttft_ms", "ttfo_ms", "e2e_ms", "tpot_ms", "throughput"):
        assert summary[key] is not None, key

    # the mock counts words: the system prompt is the cached prefix
    prefix = len(shared_system_prompt().split())
    first, *rest = sorted(records, key=lambda r: r["scheduled_ms"])
    assert (first["cache_write_tokens"], first["cached_input_tokens"]) == (prefix, 0)
    assert first["cache_write_1h_tokens"] == 0
    assert all((r["cache_write_tokens"], r["cached_input_tokens"]) == (0, prefix) for r in rest)
    assert all(r["output_tokens"] == 8 for r in records)  # max_tokens caps the mock's 10
    # input is all three counts: every record's input covers the prefix and its question
    assert all(r["input_tokens"] > prefix for r in records)
    assert summary["cached_input_tokens"]["total"] == 3 * prefix
    assert summary["cache_write_tokens"]["total"] == prefix

    def by_hand(r: dict[str, Any]) -> float:
        written, cached = r["cache_write_tokens"], r["cached_input_tokens"]
        uncached = r["input_tokens"] - written - cached
        return (uncached * 3.0 + cached * 0.3 + written * 3.75 + r["output_tokens"] * 15.0) / 1e6

    cost = summary["cost"]
    assert cost["total_usd"] == pytest.approx(sum(by_hand(r) for r in records))
    assert cost["per_request_usd"] == pytest.approx(sum(by_hand(r) for r in records) / 4)
    # the first request wrote the prefix at 3.75/M, not 3/M: the write rate is in the total
    question = first["input_tokens"] - prefix
    assert by_hand(first) == pytest.approx((question * 3.0 + prefix * 3.75 + 8 * 15.0) / 1e6)


def test_faults_in_the_anthropic_dialect_are_classified(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    mock = ("--dialect", "anthropic", "--ttft-ms", "2", "--itl-ms", "1", "--output-tokens", "8")
    mock += ("--stream-error-every", "3", "--abort-every", "4", "--retry-after", "0")
    with start_mock_server(*mock) as (url, _):
        claude = provider_file("claude", base_url=url, adapter="anthropic")
        doc = run_json(
            cli, "run", "--providers", str(claude), "-t", "claude", "-n", "8", "-c", "1",
            "--warmup", "0", "--records", "--max-error-rate", "1",
        )  # fmt: skip
    records = sorted(doc["targets"][0]["records"], key=lambda r: r["scheduled_ms"])
    errors = [r["error"] for r in records]
    # request 3 and 6: an overloaded_error event (529, server); 4 and 8: cut before message_stop
    assert errors == [
        None,
        None,
        "server",
        "stream_aborted",
        None,
        "server",
        None,
        "stream_aborted",
    ]
    assert records[2]["status"] == 529
    assert "overloaded_error" in records[2]["error_message"]


async def first_error(adapter: AnthropicAdapter) -> ProviderError | None:
    await adapter.start()
    try:
        async for _ in adapter.stream(RequestSpec(0, ({"role": "user", "content": "hi"},))):
            pass
    except ProviderError as exc:
        return exc
    finally:
        await adapter.close()
    return None


def test_the_key_goes_as_x_api_key_and_a_wrong_one_is_a_client_error_with_its_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with start_mock_server("--dialect", "anthropic", "--require-key", KEY) as (url, _):
        target = Target("claude", "mock-model", "anthropic", url, "MOCK_ANTHROPIC_KEY")
        monkeypatch.setenv("MOCK_ANTHROPIC_KEY", KEY)
        assert asyncio.run(first_error(AnthropicAdapter(target, TransportOptions()))) is None
        monkeypatch.setenv("MOCK_ANTHROPIC_KEY", "sk-ant-wrong")
        error = asyncio.run(first_error(AnthropicAdapter(target, TransportOptions())))
    assert isinstance(error, ClientError)
    assert error.status == 401
    assert "HTTP 401: authentication_error: invalid x-api-key" in str(error)


def test_a_429_with_an_anthropic_body_is_rate_limited_and_retried_after_its_retry_after(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    mock = ("--dialect", "anthropic", "--ttft-ms", "2", "--itl-ms", "1", "--output-tokens", "4")
    mock += ("--rate-limit-every", "2", "--retry-after", "0")
    with start_mock_server(*mock) as (url, _):
        claude = provider_file("claude", base_url=url, adapter="anthropic")
        doc = run_json(
            cli, "run", "--providers", str(claude), "-t", "claude", "-n", "2", "-c", "1",
            "--warmup", "0", "--records", "--max-retries", "0", "--max-error-rate", "1",
        )  # fmt: skip
    first, second = sorted(doc["targets"][0]["records"], key=lambda r: r["scheduled_ms"])
    assert first["ok"] is True
    assert (second["error"], second["status"]) == ("rate_limited", 429)
    assert "rate_limit_error" in second["error_message"]


def test_thinking_then_a_tool_call_sets_ttft_at_the_thinking_and_ttfo_at_the_call(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    mock = ("--dialect", "anthropic", "--ttft-ms", "5", "--itl-ms", "2", "--output-tokens", "6")
    mock += ("--reasoning-chunks", "3", "--answer-delay-ms", "40")
    with start_mock_server(*mock) as (url, _):
        claude = provider_file("claude", base_url=url, adapter="anthropic")
        doc = run_json(
            cli, "run", "--providers", str(claude), "-t", "claude", "-w", "tool-call",
            "-n", "2", "-c", "1", "--warmup", "0", "--records",
        )  # fmt: skip
    records = doc["targets"][0]["records"]
    for r in records:
        assert r["ok"] is True
        assert r["tool_calls"] == 1
        assert r["finish_reason"] == "tool_use"
        # three thinking deltas 2 ms apart, then 40 ms more before the tool_use block
        assert r["ttfo_ms"] - r["ttft_ms"] >= 40
        assert r["output_tokens"] == 3 + 3  # thinking deltas + three argument pieces
