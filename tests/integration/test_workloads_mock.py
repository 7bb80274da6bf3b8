"""Workloads as teams run them, against the mock server as a real subprocess: reasoning
(TTFT vs TTFO), prompt caching, tool calls, conversations, ShareGPT replay, graded answers.

Timing assertions are one-sided floors that the server's script sets (a loaded machine can
only make a figure late, never early); counts, totals and shares are exact.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from costcli.testing.mock_server import VOCABULARY
from costcli.workloads.builtin import shared_system_prompt
from tests.mockserver_fixture import start_mock_server

pytestmark = pytest.mark.integration

PRICES = """
[[models]]
provider = "acme"
model = "m1"
input_per_mtok = 1.0
cached_input_per_mtok = 0.25
output_per_mtok = 2.0
source = "https://example.com/acme-pricing"
as_of = 2026-11-20
"""


def run_json(cli: Callable[..., Any], *args: str) -> dict[str, Any]:
    result = cli("run", "--format", "json", "-q", "--records", *args)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@contextmanager
def mock(
    provider_file: Callable[..., Path], *args: str, adapter: str = "openai"
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """A mock server and the `--providers/-t` arguments that reach it (model acme:m1)."""
    with start_mock_server(*args) as (url, process):
        path = provider_file("acme", base_url=url, default_model="m1", adapter=adapter)
        yield ("--providers", str(path), "-t", "acme"), process


def logged_requests(process: Any, log: Path) -> list[dict[str, Any]]:
    """The bodies the mock received, in arrival order (SIGTERM flushes its log)."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=5)
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


# --- reasoning: TTFT is the first token of any kind, TTFO the first answer token -----------

REASONING = ("--ttft-ms", "100", "--itl-ms", "10", "--output-tokens", "6")


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_in_either_spelling_counts_for_ttft_and_not_for_ttfo(
    cli: Callable[..., Any], provider_file: Callable[..., Path], field: str
) -> None:
    script = ("--reasoning-chunks", "4", "--reasoning-field", field, "--answer-delay-ms", "300")
    with mock(provider_file, *REASONING, *script) as (target, _):
        doc = run_json(cli, *target, "-n", "4")
    summary = doc["targets"][0]["summary"]
    records = doc["targets"][0]["records"]
    assert summary["requests"]["ok"] == 4
    assert summary["reasoning_tokens"] == {"total": 16, "mean": 4.0, "estimated": False}
    assert summary["output_tokens"]["total"] == 4 * (4 + 6)  # reasoning is part of output
    assert summary["ttfo_ms"]["count"] == 4
    for r in records:
        # the first reasoning delta is due at 100 ms; the answer after 3 more gaps of 10 ms,
        # then 10 + 300 ms: never early, and TTFO always after TTFT
        assert r["ttft_ms"] >= 100
        assert r["ttfo_ms"] >= 100 + 3 * 10 + 10 + 300
        assert r["ttft_ms"] < r["ttfo_ms"]
        assert len(r["itl_ms"]) == 4 + 6 - 1  # reasoning chunks are chunks too


def test_without_reasoning_ttfo_is_ttft(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    with mock(provider_file, *REASONING) as (target, _):
        doc = run_json(cli, *target, "-n", "3")
    records = doc["targets"][0]["records"]
    assert [r["ttfo_ms"] for r in records] == [r["ttft_ms"] for r in records]
    assert doc["targets"][0]["summary"]["reasoning_tokens"] is None


# --- prompt caching, measured -----------------------------------------------------------


def shared_prefix_inputs() -> tuple[int, list[int]]:
    """The mock's token count (words) of the shared system prompt and of each request."""
    from costcli.workloads.sources import load_workload

    system = len(shared_system_prompt().split())
    items = load_workload("shared-prefix").items
    return system, [sum(len(m["content"].split()) for m in s.messages) for s in items]


@pytest.mark.parametrize("dialect", ["openai", "llamacpp"])
def test_a_repeated_long_prefix_is_measured_as_cached_input(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path, dialect: str
) -> None:
    system, inputs = shared_prefix_inputs()
    assert system >= 1100  # the built-in's prefix is long enough for any provider's cache
    server = ("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "4", "--dialect", dialect)
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES, encoding="utf-8")
    out = tmp_path / "cached.json"
    cache = ("--prompt-cache-min", "1024")
    with mock(provider_file, *server, *cache, adapter=dialect) as (target, _):
        doc = run_json(
            cli, *target, "-w", "shared-prefix", "-n", "8", "--prices", str(prices), "-o", str(out)
        )
    summary = doc["targets"][0]["summary"]
    # one at a time: the first request fills the cache, the other seven hit the prefix
    assert [r["cached_input_tokens"] for r in doc["targets"][0]["records"]] == [0] + [system] * 7
    assert summary["cached_input_tokens"]["total"] == 7 * system
    assert summary["input_tokens"]["total"] == sum(inputs)
    assert summary["cache_hit_share"] == pytest.approx(7 * system / sum(inputs))

    # `project` prices the measured share unless --cache-hit is given, and says which
    projected = cli(
        "project", str(out), "--requests-per-month", "1e6", "--prices", str(prices), "-f", "json"
    )
    assert projected.exit_code == 0, projected.stderr
    (row,) = json.loads(projected.stdout)["projections"]
    assert row["cache_hit"] == pytest.approx(summary["cache_hit_share"])
    assert row["cache_hit_basis"] == "measured"
    given = cli(
        "project",
        str(out),
        "--requests-per-month",
        "1e6",
        "--prices",
        str(prices),
        "--cache-hit",
        "0.1",
        "-f",
        "json",
    )
    (row,) = json.loads(given.stdout)["projections"]
    assert (row["cache_hit"], row["cache_hit_basis"]) == (0.1, "given")


def test_unique_prefix_still_defeats_the_cache(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    server = ("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "4")
    with mock(provider_file, *server, "--prompt-cache-min", "1024") as (target, _):
        doc = run_json(cli, *target, "-w", "shared-prefix", "-n", "8", "--unique-prefix")
    summary = doc["targets"][0]["summary"]
    assert summary["cached_input_tokens"]["total"] == 0
    assert summary["cache_hit_share"] == 0.0


# --- tool calls ---------------------------------------------------------------------------


def test_tool_calls_are_output_and_invalid_arguments_are_invalid_output(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    server = ("--ttft-ms", "60", "--itl-ms", "5", "--bad-tool-args-every", "3")
    log = tmp_path / "requests.jsonl"
    with mock(provider_file, *server, "--request-log", str(log)) as (target, process):
        doc = run_json(cli, *target, "-w", "tool-call", "-n", "9")
        bodies = logged_requests(process, log)
    summary = doc["targets"][0]["summary"]
    records = doc["targets"][0]["records"]
    # every 3rd call breaks: the 3rd (cut JSON), the 6th (against the schema), the 9th
    assert summary["errors"]["invalid_output"] == 3
    assert summary["tool_calls"] == {"requests": 9, "calls": 9, "valid": 6, "valid_share": 6 / 9}
    invalid = [r for r in records if r["error"] == "invalid_output"]
    assert [r["index"] for r in invalid] == [2, 5, 8]
    assert "not JSON" in invalid[0]["error_message"]
    assert "get_weather" in invalid[1]["error_message"]
    for r in records:  # the call's pieces are output: they set TTFT and TTFO
        assert r["ttft_ms"] >= 60
        assert r["ttfo_ms"] == r["ttft_ms"]
        assert r["tool_calls"] == 1
    # tools and tool_choice travelled as given
    assert all(b["body"]["tool_choice"] == "auto" for b in bodies)
    assert {t["function"]["name"] for t in bodies[0]["body"]["tools"]} == {
        "get_weather",
        "lookup_order",
    }


# --- conversations ------------------------------------------------------------------------


def mock_answer(number: int, tokens: int) -> str:
    """The mock's answer to its request `number` with --tag-answers."""
    return f"answer-{number} " + "".join(VOCABULARY[i] + " " for i in range(1, tokens))


def test_every_turn_carries_the_targets_own_earlier_answers(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    log = tmp_path / "requests.jsonl"
    server = ("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "5", "--tag-answers")
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES, encoding="utf-8")
    with mock(provider_file, *server, "--request-log", str(log)) as (target, process):
        doc = run_json(
            cli,
            *target,
            "-w",
            "conversation",
            "--sessions",
            "3",
            "-c",
            "2",
            "--prices",
            str(prices),
        )
        bodies = logged_requests(process, log)
    summary = doc["targets"][0]["summary"]
    assert summary["requests"]["total"] == 9
    assert summary["sessions"] == {"total": 3, "ok": 3}
    assert [(t["turn"], t["requests"]) for t in summary["by_turn"]] == [(0, 3), (1, 3), (2, 3)]
    cost = summary["cost"]
    assert cost["per_session_usd"] == pytest.approx(cost["total_usd"] / 3)

    sent = {b["n"]: b["body"]["messages"] for b in bodies}
    assert len(sent) == 9
    with_history = 0
    for messages in sent.values():
        for k, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            with_history += 1
            number = int(message["content"].split()[0].removeprefix("answer-"))
            # the answer the target gave to exactly this history, whole
            assert sent[number] == messages[:k]
            assert message["content"] == mock_answer(number, 5)
    assert with_history == 3 * (1 + 2)  # turn 2 carries one answer, turn 3 two


def test_think_time_delays_the_next_turn(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    lines = [
        {"session": "a", "prompt": "first question"},
        {"session": "a", "prompt": "second question", "think_time_s": 0.4},
    ]
    path = tmp_path / "think.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with mock(provider_file, "--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "3") as (
        target,
        _,
    ):
        doc = run_json(cli, *target, "-w", str(path), "--sessions", "1")
    first, second = doc["targets"][0]["records"]
    assert (first["turn"], second["turn"]) == (0, 1)
    assert second["scheduled_ms"] >= first["scheduled_ms"] + first["e2e_ms"] + 400


# --- ShareGPT -----------------------------------------------------------------------------


def sharegpt_file(path: Path, conversations: int) -> Path:
    entries = [
        {
            "id": f"conv{c}",
            "conversations": [
                {"from": "human", "value": f"question {c}.1"},
                {"from": "gpt", "value": f"the dataset's answer {c}.1"},
                {"from": "human", "value": f"question {c}.2"},
                {"from": "gpt", "value": f"the dataset's answer {c}.2"},
                {"from": "human", "value": f"question {c}.3"},
            ],
        }
        for c in range(conversations)
    ]
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_sharegpt_turns_are_replayed_with_the_targets_answers(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    data = sharegpt_file(tmp_path / "sg.json", 6)
    log = tmp_path / "requests.jsonl"
    server = ("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "4", "--tag-answers")
    with mock(provider_file, *server, "--request-log", str(log)) as (target, process):
        doc = run_json(
            cli,
            *target,
            "-w",
            f"sharegpt:{data}",
            "--max-turns",
            "2",
            "--sample",
            "3",
            "--seed",
            "1",
            "--sessions",
            "3",
        )
        bodies = logged_requests(process, log)
    summary = doc["targets"][0]["summary"]
    assert summary["sessions"] == {"total": 3, "ok": 3}
    assert summary["requests"]["total"] == 6  # 3 conversations x 2 turns
    users = [[m["content"] for m in b["body"]["messages"] if m["role"] == "user"] for b in bodies]
    second_turns = [u for u in users if len(u) == 2]
    assert len(second_turns) == 3
    chosen = sorted(int(u[0].split()[1].split(".")[0]) for u in second_turns)
    assert len(set(chosen)) == 3  # three different conversations of the six
    for u in second_turns:
        c = u[0].split()[1].split(".")[0]
        assert u == [f"question {c}.1", f"question {c}.2"]
    for b in bodies:  # history is the target's, never the dataset's
        for m in b["body"]["messages"]:
            assert "dataset's answer" not in m["content"]


# --- graded answers -----------------------------------------------------------------------


def test_accuracy_and_cost_per_correct_answer_are_exact(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    # the mock answers "the quick brown fox ..." to every request
    lines = [
        {"prompt": "one", "expected": "quick"},
        {"prompt": "two", "expected": "QUICK Brown"},  # case-insensitive
        {"prompt": "three", "expected": "zebra"},
        {"prompt": "four", "expected": {"name": "Ada"}},  # not JSON: wrong
    ]
    path = tmp_path / "graded.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES, encoding="utf-8")
    out = tmp_path / "graded.json"
    with mock(provider_file, "--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "4") as (
        target,
        _,
    ):
        doc = run_json(
            cli, *target, "-w", str(path), "-n", "4", "--prices", str(prices), "-o", str(out)
        )
    summary = doc["targets"][0]["summary"]
    assert summary["quality"] == {"graded": 4, "correct": 2, "accuracy": 0.5}
    assert [r["correct"] for r in doc["targets"][0]["records"]] == [True, True, False, False]
    cost = summary["cost"]
    assert cost["per_correct_answer_usd"] == pytest.approx(cost["total_usd"] / 2)

    projected = cli(
        "project",
        str(out),
        "--requests-per-month",
        "1e6",
        "--prices",
        str(prices),
        "--rank",
        "per-correct",
    )
    assert projected.exit_code == 0, projected.stderr
    assert "$/correct" in projected.stdout
    assert "50%" in projected.stdout
    as_json = cli(
        "project", str(out), "--requests-per-month", "1e6", "--prices", str(prices), "-f", "json"
    )
    (row,) = json.loads(as_json.stdout)["projections"]
    assert row["accuracy"] == 0.5
    assert row["cost_per_correct_answer_usd"] == pytest.approx(row["cost_per_request_usd"] / 0.5)


def test_rank_per_correct_without_graded_answers_says_how_to_get_them(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES, encoding="utf-8")
    out = tmp_path / "plain.json"
    with mock(provider_file, "--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "4") as (
        target,
        _,
    ):
        run_json(cli, *target, "-n", "2", "-o", str(out))
    result = cli(
        "project",
        str(out),
        "--requests-per-month",
        "1e6",
        "--prices",
        str(prices),
        "--rank",
        "per-correct",
    )
    assert result.exit_code == 2
    assert "--rank per-correct" in result.stderr
    assert "extract-graded" in result.stderr
