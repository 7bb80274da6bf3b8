"""`costcli run` through the openai-responses adapter against the mock server speaking the
Responses dialect (a real subprocess): the summary, cached and reasoning tokens as the
server reported them, the cost of each request by hand, tool calls, faults.

Timing assertions are one-sided floors the server's script sets; counts and costs are exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from costcli.workloads.builtin import shared_system_prompt
from costcli.workloads.sources import load_workload
from tests.mockserver_fixture import start_mock_server

pytestmark = pytest.mark.integration

# priced under "acme"; the provider file "acme-responses" names it with prices_from
PRICES = """
[[models]]
provider = "acme"
model = "m1"
input_per_mtok = 1.0
cached_input_per_mtok = 0.25
output_per_mtok = 2.0
reasoning_per_mtok = 3.0
per_request_usd = 0.0001
source = "https://example.com/acme-pricing"
as_of = 2026-11-20
"""


@contextmanager
def responses_mock(provider_file: Callable[..., Path], *args: str) -> Iterator[tuple[str, ...]]:
    server = ("--dialect", "responses", "--ttft-ms", "40", "--itl-ms", "5", *args)
    with start_mock_server(*server) as (url, _):
        path = provider_file(
            "acme-responses",
            adapter="openai-responses",
            base_url=url,
            default_model="m1",
            prices_from="acme",
        )
        yield ("--providers", str(path), "-t", "acme-responses")


def run_json(cli: Callable[..., Any], *args: str) -> dict[str, Any]:
    result = cli("run", "--format", "json", "-q", "--records", *args)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_a_responses_run_reports_cached_and_reasoning_tokens_and_prices_each_request(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES, encoding="utf-8")
    system = len(shared_system_prompt().split())
    items = load_workload("shared-prefix").items
    inputs = [sum(len(m["content"].split()) for m in s.messages) for s in items][:6]
    script = ("--output-tokens", "6", "--reasoning-chunks", "3", "--answer-delay-ms", "30")
    out = tmp_path / "run.json"
    with responses_mock(provider_file, *script, "--prompt-cache-min", "1024") as target:
        doc = run_json(
            cli, *target, "-w", "shared-prefix", "-n", "6", "--prices", str(prices), "-o", str(out)
        )
    (result,) = doc["targets"]
    assert (result["provider"], result["adapter"]) == ("acme-responses", "openai-responses")
    assert result["price_provider"] == "acme"
    summary, records = result["summary"], result["records"]
    assert summary["requests"]["ok"] == 6
    assert summary["requests"]["failed"] == 0
    # the first request fills the cache; the others read the system prompt from it
    assert [r["cached_input_tokens"] for r in records] == [0] + [system] * 5
    assert [r["input_tokens"] for r in records] == inputs
    assert summary["cached_input_tokens"]["total"] == 5 * system
    assert summary["cache_hit_share"] == pytest.approx(5 * system / sum(inputs))
    # 3 reasoning deltas, then 6 answer words: 9 output tokens, 3 of them reasoning
    assert all((r["output_tokens"], r["reasoning_tokens"]) == (9, 3) for r in records)
    assert all(not r["tokens_estimated"] for r in records)
    assert all(r["finish_reason"] == "stop" for r in records)
    assert all(r["service_tier"] == "default" for r in records)
    for r in records:  # TTFT at the first reasoning delta, TTFO at the answer 2 ITL + 30 ms on
        assert r["ttft_ms"] >= 40
        assert r["ttfo_ms"] - r["ttft_ms"] >= 30
        assert len(r["itl_ms"]) == 8

    # by hand: uncached input at 1.0, cached at 0.25, answer at 2.0, reasoning at 3.0 per
    # 1M tokens, plus 0.0001 a request
    by_hand = [
        ((n - c) * 1.0 + c * 0.25 + 6 * 2.0 + 3 * 3.0) / 1e6 + 0.0001
        for n, c in zip(inputs, [0] + [system] * 5, strict=True)
    ]
    cost = summary["cost"]
    assert cost["total_usd"] == pytest.approx(sum(by_hand))
    assert cost["per_request_usd"] == pytest.approx(sum(by_hand) / 6)
    assert cost["price_source"] == "https://example.com/acme-pricing"

    # the results file says where its prices came from: `project` prices it from there too
    projected = cli(
        "project", str(out), "--requests-per-month", "1e6", "--prices", str(prices), "-f", "json"
    )
    assert projected.exit_code == 0, projected.stderr
    (row,) = json.loads(projected.stdout)["projections"]
    assert (row["provider"], row["model"], row["token_basis"]) == ("acme", "m1", "measured")
    assert row["cache_hit"] == pytest.approx(summary["cache_hit_share"])


def test_a_tool_call_arrives_as_a_function_call_item_and_finishes_tool_calls(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    with responses_mock(provider_file) as target:
        doc = run_json(cli, *target, "-w", "tool-call", "-n", "3")
    summary = doc["targets"][0]["summary"]
    records = doc["targets"][0]["records"]
    assert summary["tool_calls"] == {"requests": 3, "calls": 3, "valid": 3, "valid_share": 1.0}
    for r in records:
        assert (r["ok"], r["finish_reason"], r["tool_calls"]) == (True, "tool_calls", 1)
        assert r["ttfo_ms"] == r["ttft_ms"]
        assert r["ttft_ms"] >= 40


def test_a_max_output_tokens_cut_is_a_length_finish(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    with responses_mock(provider_file, "--output-tokens", "64") as target:
        doc = run_json(cli, *target, "-w", "chat-short", "-n", "2", "--max-tokens", "5")
    records = doc["targets"][0]["records"]
    assert [(r["output_tokens"], r["finish_reason"]) for r in records] == [(5, "length")] * 2


def test_faults_in_the_responses_dialect_are_counted_by_class(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    faults = ("--abort-every", "3", "--stream-error-every", "4", "--output-tokens", "8")
    with responses_mock(provider_file, *faults) as target:
        doc = run_json(cli, *target, "-n", "8", "--max-retries", "0")
    errors = doc["targets"][0]["summary"]["errors"]
    records = doc["targets"][0]["records"]
    # requests 3 and 6 are cut mid-stream; 4 and 8 end in response.failed (server_error)
    assert errors["stream_aborted"] == 2
    assert errors["server"] == 2
    failed = [r for r in records if r["error"] == "server"]
    assert all("server_error" in r["error_message"] for r in failed)


def test_costcli_mock_server_speaks_the_responses_dialect() -> None:
    import os
    import re
    import subprocess
    import sys

    import httpx

    from tests.mockserver_fixture import REPO_ROOT, _first_line, _stop

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "costcli", "mock-server", "--port", "0"]
    command += ["--dialect", "responses", "--output-tokens", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        match = re.search(r"(http://\S+/v1)", _first_line(process, 20.0))
        assert match is not None
        url = match.group(1) + "/responses"
        body = {"model": "m", "input": "hi there", "stream": True}
        answer = httpx.post(url, json=body, timeout=10)
    finally:
        _stop(process)
    assert answer.status_code == 200
    kinds = re.findall(r"^event: (\S+)$", answer.text, re.MULTILINE)
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 2
    payloads = [json.loads(line[6:]) for line in answer.text.splitlines() if line[:6] == "data: "]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert payloads[-1]["response"]["usage"]["input_tokens"] == 2


def test_the_responses_mock_wants_the_bearer_key_it_was_given() -> None:
    import httpx

    body = {"model": "m", "input": "hi", "stream": True}
    with start_mock_server("--dialect", "responses", "--require-key", "k1") as (url, _):
        assert httpx.post(url + "/responses", json=body, timeout=10).status_code == 401
        keyed = httpx.post(
            url + "/responses", json=body, headers={"Authorization": "Bearer k1"}, timeout=10
        )
    assert keyed.status_code == 200
    assert "event: response.completed" in keyed.text


def test_the_chat_dialect_mock_has_no_responses_path() -> None:
    import httpx

    with start_mock_server() as (url, _):
        assert httpx.post(url + "/responses", json={}, timeout=10).status_code == 404
