"""`costcli run` against the mock server as a real subprocess on a free port."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from costcli.results.document import SCHEMA_FILE

try:
    from tests.mockserver_fixture import start_mock_server
except ImportError:  # `tests/` itself is on sys.path
    from mockserver_fixture import start_mock_server  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

FAST = ("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "5")


def run_json(cli: Callable[..., Any], *args: str) -> dict[str, Any]:
    result = cli("run", "--format", "json", "-q", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def timed_server() -> Iterator[str]:
    """TTFT 120 ms, ITL 10 ms, 20 tokens: the figures the report must reproduce."""
    with start_mock_server("--ttft-ms", "120", "--itl-ms", "10", "--output-tokens", "20") as (
        url,
        _,
    ):
        yield url


def test_ttft_itl_and_e2e_are_reported_from_the_streams_timestamps(
    cli: Callable[..., Any], provider_file: Callable[..., Path], timed_server: str, tmp_path: Path
) -> None:
    path = provider_file("timed", base_url=timed_server)
    out = tmp_path / "results" / "r.json"
    args = ("--providers", str(path), "-t", "timed", "-n", "12", "-c", "4", "--warmup", "2")
    doc = run_json(cli, *args, "--records", "-o", str(out))
    summary = doc["targets"][0]["summary"]
    assert summary["requests"] == {"total": 12, "ok": 12, "failed": 0}
    assert summary["output_tokens"]["total"] == 12 * 20
    assert summary["output_tokens"]["estimated"] is False
    assert summary["server"] is None  # plain openai dialect reports no telemetry
    assert summary["ttft_ms"]["count"] == 12
    assert summary["itl_ms"]["count"] == 12 * 19
    # Never early: a figure can only be late on a loaded machine, so only the floors the
    # server's script sets are asserted (how close they come is benchmarks/client_overhead.py).
    assert summary["ttft_ms"]["p50"] >= 120
    assert summary["e2e_ms"]["p50"] >= 120 + 19 * 10

    # --output: the same document, written atomically (no temp file left) and valid, its
    # journal beside it holding every record
    written = json.loads(out.read_text())
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.journal.jsonl", "r.json"]
    journal = (out.parent / "r.journal.jsonl").read_text().splitlines()
    assert sum(line.startswith('{"k":"r"') for line in journal) == 12
    assert journal[-1].startswith('{"k":"end","complete":true')
    assert written["targets"][0]["summary"] == summary
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(written, schema, cls=jsonschema.Draft202012Validator)

    # --records: every measured request, warmup left out
    records = written["targets"][0]["records"]
    assert sorted(r["index"] for r in records) == list(range(2, 14))
    for r in records:
        assert len(r["itl_ms"]) == 19
        assert r["output_tokens"] == 20
        # the role-only chunk starts the body (TTFB); TTFT waits for the first text
        assert r["ttfb_ms"] <= r["ttft_ms"]
        assert r["ttft_ms"] >= 120  # the first token is due 120 ms after the request
        last_token_ms = r["ttft_ms"] + sum(r["itl_ms"])
        assert last_token_ms >= 120 + 19 * 10 - 0.01  # ITLs are rounded to 0.1 us
        assert r["e2e_ms"] >= last_token_ms - 0.01
        assert r["tpot_ms"] == pytest.approx((r["e2e_ms"] - r["ttft_ms"]) / 19)

    # --output: the same document, written atomically (no temp file left) and valid, its
    # journal beside it holding every record
    written = json.loads(out.read_text())
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.journal.jsonl", "r.json"]
    journal = (out.parent / "r.journal.jsonl").read_text().splitlines()
    assert sum(line.startswith('{"k":"r"') for line in journal) == 12
    assert journal[-1].startswith('{"k":"end","complete":true')
    assert written["targets"][0]["summary"] == summary
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(written, schema, cls=jsonschema.Draft202012Validator)

    # --records: every measured request, warmup left out


def test_429s_are_rate_limited_apart_from_aborted_streams_and_the_run_goes_on(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    # server request numbers 1..15: 429 at 3, 6, 9, 12, 15; streams cut at 5 and 10
    faults = ("--rate-limit-every", "3", "--abort-every", "5", "--retry-after", "0.01")
    with start_mock_server(*FAST, *faults) as (url, _):
        path = provider_file("faulty", base_url=url)
        doc = run_json(cli, "--providers", str(path), "-t", "faulty", "-n", "15", "--records")
    summary = doc["targets"][0]["summary"]
    assert summary["requests"] == {"total": 15, "ok": 8, "failed": 7}
    assert summary["errors"]["rate_limited"] == 5
    assert summary["errors"]["stream_aborted"] == 2
    assert sum(summary["errors"].values()) == 7
    assert summary["ttft_ms"]["count"] == 8  # failures kept out of percentiles
    records = doc["targets"][0]["records"]
    assert {r["status"] for r in records if r["error"] == "rate_limited"} == {429}
    assert doc["targets"][0]["stopped"] is None


def test_max_retries_rides_out_rate_limits(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    with start_mock_server(*FAST, "--rate-limit-every", "3", "--retry-after", "0.01") as (
        url,
        _,
    ):
        path = provider_file("limited", base_url=url)
        args = ("--providers", str(path), "-t", "limited", "-n", "9", "-c", "1")
        doc = run_json(cli, *args, "--max-retries", "2", "--records")
    summary = doc["targets"][0]["summary"]
    assert summary["requests"]["ok"] == 9
    assert summary["errors"]["rate_limited"] == 0
    # 9 requests took 13 server calls: calls 3, 6, 9, 12 were answered 429 and retried
    assert summary["retries"] == 4
    assert sum(r["retries"] for r in doc["targets"][0]["records"]) == 4


def test_groq_dialect_reports_server_queue_prefill_and_decode(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    args = ("--dialect", "groq", "--queue-ms", "5", "--ttft-ms", "30", "--itl-ms", "5")
    with start_mock_server(*args, "--output-tokens", "5") as (url, _):
        path = provider_file("fakegroq", adapter="groq", base_url=url)
        doc = run_json(cli, "--providers", str(path), "-t", "fakegroq", "-n", "4", "--records")
    target = doc["targets"][0]
    assert target["adapter"] == "groq"
    server = target["summary"]["server"]
    assert server["queue_ms"]["p50"] == pytest.approx(5.0)
    assert server["prefill_ms"]["count"] == server["decode_ms"]["count"] == 4
    for r in target["records"]:
        # x_groq's seconds, as milliseconds: queue + prefill is the server's wait for the
        # first token (never under the scripted 30 ms), and it fits in the client's E2E
        assert r["queue_ms"] == pytest.approx(5.0)
        assert r["queue_ms"] + r["prefill_ms"] >= 30 - 0.01
        assert r["decode_ms"] > 0
        assert r["queue_ms"] + r["prefill_ms"] + r["decode_ms"] <= r["e2e_ms"]
        assert r["ttft_ms"] >= 30  # the client's own figure stays


def test_several_targets_get_the_same_requests_in_the_same_order(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    # prompt i has i words; the mock server reports words as prompt_tokens
    workload = tmp_path / "w.jsonl"
    lines = [json.dumps({"prompt": " ".join(["word"] * n)}) for n in (3, 1, 4, 1, 5, 9)]
    workload.write_text("\n".join(lines) + "\n")
    with start_mock_server(*FAST) as (url, _):
        a = provider_file("first", base_url=url)
        b = provider_file("second", base_url=url)
        args = ("--providers", str(a), "--providers", str(b), "-t", "first", "-t", "second")
        doc = run_json(cli, *args, "-w", str(workload), "-n", "6", "-c", "1", "--records")
    assert [t["provider"] for t in doc["targets"]] == ["first", "second"]
    sent = [[r["input_tokens"] for r in t["records"]] for t in doc["targets"]]
    assert sent == [[3, 1, 4, 1, 5, 9], [3, 1, 4, 1, 5, 9]]
    assert doc["meta"]["workload"]["name"] == "w.jsonl"
