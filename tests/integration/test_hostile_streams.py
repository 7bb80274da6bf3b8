"""Nothing is lost, whatever the stream does: a hostile server (a real subprocess) sends
valid JSON that is not a chunk, JSON nested 100,000 deep, compressed bodies, `[DONE]` before
any token and every kind of retry-after. Each request is recorded with its error class and
the reason; the run goes on; every other record is kept; no traceback."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from costcli.adapters.base import TransportOptions
from costcli.adapters.catalog import Target
from costcli.adapters.openai import OpenAIAdapter
from costcli.cli import app
from costcli.load.measure import Measurement, measure
from costcli.load.schedule import LoadSettings
from costcli.workloads.spec import RequestSpec
from tests.hostile.fixture import hits, hostile_server, provider_files, refused

# mode -> the words its stream_aborted reason must carry
NOT_A_CHUNK = {
    "data-null": "a chunk is None, not a JSON object",
    "data-list": "a chunk is [1, 2], not a JSON object",
    "data-number": "a chunk is 42, not a JSON object",
    "choices-null": "choices[0] is None, not an object",
    "choices-object": "choices is {}, not a list",
    "delta-string": "choices[0].delta is 'x', not an object",
    "finish-number": "choices[0].finish_reason is 7, not a string",
    "usage-string": "usage.completion_tokens is '2', not a count",
    "usage-float": "usage.completion_tokens is 2.5, not a count",
    "usage-list": "usage.prompt_tokens is [3], not a count",
    "usage-negative": "usage.completion_tokens is -2, not a count",
    "usage-details": "usage.prompt_tokens_details is 5, not an object",
}
NO_OUTPUT = ("done-first", "role-then-done", "done-first-unterminated")
UNTERMINATED = "done-unterminated"  # `data: [DONE]` as the body's last bytes, no blank line
DEEP = ("deep", "deep-object")
ENCODED = ("gzip", "deflate", "raw-deflate")
RETRIED = ("retry-seconds", "retry-date", "retry-negative", "retry-nan")
REFUSED = ("retry-absurd", "retry-inf")  # past --timeout: not waited for
ENDLESS = "endless-error"  # a 500 whose body never ends: read up to 1 MiB, then dropped
MODES = ("ok", *NOT_A_CHUNK, *NO_OUTPUT, UNTERMINATED, *DEEP, *ENCODED, *RETRIED, *REFUSED, ENDLESS)
REQUESTS = 2


TRANSPORTS = ["httpx"] + [
    name for name in ("aiohttp", "httptools") if importlib.util.find_spec(name) is not None
]


@pytest.fixture(scope="module", params=TRANSPORTS)
def hostile_run(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[dict, str]]:
    """The whole hostile run once per transport backend (costcli/adapters/transport.py)."""
    tmp = tmp_path_factory.mktemp("hostile")
    before = os.environ.get("COSTCLI_TRANSPORT")
    os.environ["COSTCLI_TRANSPORT"] = os.environ["HOSTILE_TRANSPORT"] = request.param
    with hostile_server() as root, _restored("COSTCLI_TRANSPORT", before):
        provider_files(tmp / "providers", root, MODES)
        out = tmp / "r.json"
        targets = [a for mode in MODES for a in ("-t", mode)]
        run = CliRunner().invoke(
            app,
            ["run", *targets, "--providers", str(tmp / "providers"), "-n", str(REQUESTS),
             "--max-retries", "1", "--timeout", "5", "--records", "--no-progress",
             "-o", str(out), "-f", "json"],
        )  # fmt: skip
        assert run.exception is None or isinstance(run.exception, SystemExit), run.output
        doc = json.loads(out.read_text(encoding="utf-8"))
        yield {t["provider"]: t for t in doc["targets"]}, run.output


@contextlib.contextmanager
def _restored(name: str, value: str | None) -> Iterator[None]:
    try:
        yield
    finally:
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_every_target_ran_and_every_request_is_recorded(hostile_run: tuple[dict, str]) -> None:
    targets, output = hostile_run
    assert list(targets) == list(MODES)  # one bad stream never stopped the run
    assert all(len(t["records"]) == REQUESTS for t in targets.values())
    assert "Traceback" not in output
    assert targets["ok"]["summary"]["requests"]["ok"] == REQUESTS
    assert {t["server_info"]["transport"] for t in targets.values()} == {
        os.environ.get("HOSTILE_TRANSPORT")
    }


@pytest.mark.parametrize("mode", list(NOT_A_CHUNK))
def test_valid_json_that_is_not_a_chunk_is_stream_aborted_with_the_reason(
    hostile_run: tuple[dict, str], mode: str
) -> None:
    for record in hostile_run[0][mode]["records"]:
        assert record["error"] == "stream_aborted"
        assert NOT_A_CHUNK[mode] in record["error_message"]


@pytest.mark.parametrize("mode", DEEP)
def test_json_nested_100000_deep_is_stream_aborted(
    hostile_run: tuple[dict, str], mode: str
) -> None:
    for record in hostile_run[0][mode]["records"]:
        assert record["error"] == "stream_aborted"
        assert "deep" in record["error_message"] or "JSON" in record["error_message"]


@pytest.mark.parametrize("mode", NO_OUTPUT)
def test_done_before_any_token_is_not_a_success(hostile_run: tuple[dict, str], mode: str) -> None:
    for record in hostile_run[0][mode]["records"]:
        assert record["error"] == "stream_aborted"
        assert "before any output" in record["error_message"]


def test_done_as_the_last_bytes_without_its_blank_line_still_ends_the_stream(
    hostile_run: tuple[dict, str],
) -> None:
    for record in hostile_run[0][UNTERMINATED]["records"]:
        assert record["ok"], record["error_message"]
        assert record["output_tokens"] == 2


@pytest.mark.parametrize("mode", ENCODED)
def test_a_gzip_or_deflate_body_is_decoded(hostile_run: tuple[dict, str], mode: str) -> None:
    summary = hostile_run[0][mode]["summary"]
    assert summary["requests"]["ok"] == REQUESTS
    assert summary["output_tokens"]["total"] == 2 * REQUESTS
    assert summary["output_tokens"]["estimated"] is False


@pytest.mark.parametrize("mode", RETRIED)
def test_a_readable_retry_after_is_waited_for_and_the_wait_is_in_the_latency(
    hostile_run: tuple[dict, str], mode: str
) -> None:
    for record in hostile_run[0][mode]["records"]:
        assert record["ok"], record["error_message"]
        assert record["retries"] == 1
    if mode == "retry-seconds":  # never early: the 0.2 s wait is inside e2e
        assert all(r["e2e_ms"] >= 200 for r in hostile_run[0][mode]["records"])


@pytest.mark.parametrize("mode", REFUSED)
def test_an_absurd_retry_after_is_not_waited_past_the_timeout(
    hostile_run: tuple[dict, str], mode: str
) -> None:
    for record in hostile_run[0][mode]["records"]:
        assert record["error"] == "rate_limited"
        assert record["retries"] == 0
        assert "would pass --timeout" in record["error_message"]


def test_an_error_body_that_never_ends_is_cut_and_the_request_classed(
    hostile_run: tuple[dict, str],
) -> None:
    """Its first 1 MiB is read for the message; the rest never is (the run would not end)."""
    target = hostile_run[0][ENDLESS]
    records = target["records"]
    assert len(records) == REQUESTS
    assert {r["error"] for r in records} == {"server"}
    assert all(r["error_message"].startswith("HTTP 500: eeee") for r in records)
    assert all(len(r["error_message"]) <= 220 for r in records)


# --- connections the server closes ------------------------------------------------------

CLOSE_REUSED = "close-reused"  # every kept-alive connection is closed when reused, unanswered
CUT = {"cut-in-head": "connection", "cut-after-head": "connection",
       "cut-after-chunk": "stream_aborted"}  # mode -> its error class, as before  # fmt: skip
CLOSED_REQUESTS = 8  # at concurrency 2: more requests than connections


@pytest.fixture(scope="module", params=TRANSPORTS)
def closed_run(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[dict, dict[str, int], str]]:
    """One run at concurrency 2 against servers that close connections: the targets, the
    server's counts (each mode's hits, `refused`) and the transport."""
    tmp = tmp_path_factory.mktemp("closed")
    modes = (CLOSE_REUSED, *CUT)
    before = os.environ.get("COSTCLI_TRANSPORT")
    os.environ["COSTCLI_TRANSPORT"] = request.param
    with hostile_server() as root, _restored("COSTCLI_TRANSPORT", before):
        provider_files(tmp / "providers", root, modes)
        out = tmp / "r.json"
        targets = [a for mode in modes for a in ("-t", mode)]
        run = CliRunner().invoke(
            app,
            ["run", *targets, "--providers", str(tmp / "providers"), "-n", str(CLOSED_REQUESTS),
             "-c", "2", "--timeout", "5", "--records", "--no-progress", "-o", str(out),
             "-f", "json"],
        )  # fmt: skip
        assert run.exception is None or isinstance(run.exception, SystemExit), run.output
        doc = json.loads(out.read_text(encoding="utf-8"))
        counts = {mode: hits(root, mode) for mode in modes} | {"refused": refused(root)}
        yield {t["provider"]: t for t in doc["targets"]}, counts, request.param


def test_when_every_pooled_connection_is_dead_each_request_is_resent_on_a_fresh_one(
    closed_run: tuple[dict, dict[str, int], str],
) -> None:
    targets, counts, _ = closed_run
    target = targets[CLOSE_REUSED]
    assert [r["error_message"] for r in target["records"]] == [None] * CLOSED_REQUESTS
    resent = target["server_info"]["stale_connection_retries"]
    assert resent >= 2  # both connections opened before the run were dead
    assert resent == counts["refused"]  # one resend per dead connection, none met another
    assert counts[CLOSE_REUSED] == CLOSED_REQUESTS  # each request answered once
    for r in target["records"]:  # the resend's latency counts from the planned time
        assert 0 <= r["client_delay_ms"] <= r["ttfb_ms"] <= r["ttft_ms"] <= r["e2e_ms"]


@pytest.mark.parametrize("mode", list(CUT))
def test_a_connection_closed_after_any_byte_of_the_answer_is_not_resent(
    closed_run: tuple[dict, dict[str, int], str], mode: str
) -> None:
    targets, counts, transport = closed_run
    if mode == "cut-in-head" and transport == "httpx":
        pytest.skip("httpx reports part of a status line as no response (closed_unanswered)")
    target = targets[mode]
    assert target["server_info"]["stale_connection_retries"] == 0
    assert counts[mode] == CLOSED_REQUESTS  # the server saw each request once
    assert {r["error"] for r in target["records"]} == {CUT[mode]}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_one_resend_never_meets_a_second_dead_pooled_connection(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests one at a time while the pool holds two dead connections: a resend that took
    the next pooled one would fail on it."""
    monkeypatch.setenv("COSTCLI_TRANSPORT", transport)
    with hostile_server() as root:
        target = Target("closed", "m", "openai", f"{root}/{CLOSE_REUSED}/v1", api_key_env=None)
        adapter = OpenAIAdapter(target, TransportOptions(concurrency=2))
        records = asyncio.run(_one_at_a_time(adapter, requests=4))
        assert [r.error_message for r in records] == [None] * 4
        assert adapter.stale_connection_retries == refused(root) >= 2
        assert hits(root, CLOSE_REUSED) == 4


async def _one_at_a_time(adapter: OpenAIAdapter, requests: int) -> list[Measurement]:
    await adapter.start()  # two connections opened, each then dead to the server
    settings = LoadSettings(timeout_s=5)
    try:
        return [
            await measure(adapter, RequestSpec(i, ({"role": "user", "content": "hi"},)),
                          time.perf_counter_ns(), settings)
            for i in range(requests)
        ]  # fmt: skip
    finally:
        await adapter.close()
