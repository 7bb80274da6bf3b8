"""The same workload on all four dialects (chat completions, Groq, Anthropic Messages,
OpenAI Responses), each against the mock server speaking it: one run gives the same summary
fields for every target, with cached, cache-written and reasoning tokens as each server
reported them and a cost equal to a hand figure; every workload kind, --processes,
--engine ray, check and report run on each."""

from __future__ import annotations

import contextlib
import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_workloads_mock import sharegpt_file
from tests.mockserver_fixture import start_mock_server

pytestmark = pytest.mark.integration

# provider name -> (adapter, mock dialect)
DIALECTS = {
    "chat": ("openai", "openai"),
    "groqish": ("groq", "groq"),
    "claude": ("anthropic", "anthropic"),
    "responses": ("openai-responses", "responses"),
}
RATES = {"input": 3.0, "cached_input": 0.3, "cache_write": 3.75, "output": 15.0}
MOCK = ("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "8", "--reasoning-chunks", "2",
        "--prompt-cache-min", "100", "--answer-delay-ms", "20")  # fmt: skip


def _prices() -> str:
    return "".join(
        f'[[models]]\nprovider = "{name}"\nmodel = "mock-model"\n'
        f"input_per_mtok = {RATES['input']}\ncached_input_per_mtok = {RATES['cached_input']}\n"
        f"cache_write_per_mtok = {RATES['cache_write']}\noutput_per_mtok = {RATES['output']}\n"
        'source = "https://example.com/pricing"\nas_of = 2026-12-01\n\n'
        for name in DIALECTS
    )


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder of four provider files, each pointing at a mock of its dialect, and prices."""
    folder = tmp_path_factory.mktemp("four")
    (folder / "providers").mkdir()
    with contextlib.ExitStack() as stack:
        for name, (adapter, dialect) in DIALECTS.items():
            url, _ = stack.enter_context(start_mock_server("--dialect", dialect, *MOCK))
            (folder / "providers" / f"{name}.toml").write_text(
                f'name = "{name}"\nadapter = "{adapter}"\ndefault_model = "mock-model"\n'
                f'base_url = "{url}"\n',
                encoding="utf-8",
            )
        (folder / "prices.toml").write_text(_prices(), encoding="utf-8")
        yield folder


def _run(
    cli: Callable[..., Any], four: Path, *args: str, only: str | None = None
) -> dict[str, Any]:
    targets = [a for name in ([only] if only else DIALECTS) for a in ("-t", name)]
    result = cli("run", "--providers", str(four / "providers"), *targets,
                 "--prices", str(four / "prices.toml"),
                 "--warmup", "0", "-f", "json", "-q", *args)  # fmt: skip
    assert result.exit_code in (0, 1), result.stderr
    return dict(json.loads(result.stdout))


def _hand_cost(record: dict[str, Any]) -> float:
    cached = record["cached_input_tokens"] or 0
    written = record.get("cache_write_tokens") or 0
    uncached = record["input_tokens"] - cached - written
    return (
        uncached * RATES["input"]
        + cached * RATES["cached_input"]
        + written * RATES["cache_write"]
        + record["output_tokens"] * RATES["output"]
    ) / 1e6


def test_one_run_on_four_dialects_reports_the_same_fields_and_costs_by_hand(
    cli: Callable[..., Any], four: Path
) -> None:
    doc = _run(cli, four, "-w", "shared-prefix", "-n", "4", "-c", "1", "--records")
    targets = {t["provider"]: t for t in doc["targets"]}
    assert list(targets) == list(DIALECTS)
    fields = {
        name: {k for k, v in t["summary"].items() if v is not None} for name, t in targets.items()
    }
    # Anthropic alone reports cache writes, and no count of its thinking tokens (they are in
    # output_tokens); every other field is the same on all four
    assert fields["claude"] - {"cache_write_tokens"} == fields["chat"] - {"reasoning_tokens"}
    assert fields["chat"] == fields["responses"]
    assert fields["groqish"] - {"server"} == fields["chat"]
    for name, target in targets.items():
        summary, records = target["summary"], target["records"]
        assert summary["requests"] == {"total": 4, "ok": 4, "failed": 0}, name
        # the shared prefix: the first request misses, the three after it read the cache
        cached = [r["cached_input_tokens"] for r in records]
        assert cached[0] == 0, name
        assert all(c > 100 for c in cached[1:]), (name, cached)
        assert summary["cost"]["total_usd"] == pytest.approx(sum(map(_hand_cost, records))), name
    assert targets["claude"]["records"][0]["cache_write_tokens"] > 100
    # reasoning as each dialect reports it: a count on chat, Groq and Responses; Anthropic's
    # thinking is inside output_tokens with no count of its own
    for name in ("chat", "groqish", "responses"):
        assert {r["reasoning_tokens"] for r in targets[name]["records"]} == {2}, name
    assert {r["reasoning_tokens"] for r in targets["claude"]["records"]} == {None}
    # TTFT at the reasoning, TTFO at the answer, on every dialect
    for name, target in targets.items():
        assert all(r["ttfo_ms"] > r["ttft_ms"] for r in target["records"]), name


WORKLOADS = ["chat-short", "json-extract", "tool-call", "conversation", "extract-graded"]


@pytest.mark.parametrize("workload", [*WORKLOADS, "sharegpt"])
def test_every_workload_kind_runs_on_every_dialect(
    cli: Callable[..., Any], four: Path, workload: str, tmp_path: Path
) -> None:
    if workload == "sharegpt":
        workload = f"sharegpt:{sharegpt_file(tmp_path / 'sg.json', 3)}"
    doc = _run(cli, four, "-w", workload, "-n", "6", "-c", "2", "--records")
    for target in doc["targets"]:
        summary = target["summary"]
        assert summary["requests"]["total"] == 6, target["provider"]
        # the mock's answers are not JSON and grade wrong: invalid_output is the one failure
        errors = {r["error"] for r in target["records"]} - {None, "invalid_output"}
        assert errors == set(), (target["provider"], errors)
    if workload == "tool-call":
        for target in doc["targets"]:
            tool_calls = target["summary"]["tool_calls"]
            assert tool_calls["requests"] == 6, target["provider"]
            assert tool_calls["valid"] >= 1, target["provider"]


@pytest.mark.parametrize("name", list(DIALECTS))
def test_processes_check_and_report_on_each_dialect(
    cli: Callable[..., Any], four: Path, tmp_path: Path, name: str
) -> None:
    out = tmp_path / "run.json"  # a split run measures one target
    doc = _run(cli, four, "-n", "8", "-c", "2", "--processes", "2", "-o", str(out), only=name)
    assert [t["summary"]["requests"]["ok"] for t in doc["targets"]] == [8]
    assert doc["meta"]["processes"] == 2
    checked = cli("check", str(out), "--baseline", str(out), "--limit", "error_rate=0")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    reported = cli("report", str(out), "-f", "csv")
    assert reported.exit_code == 0, reported.stderr
    assert f"{name}:mock-model" in reported.stdout


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra")
@pytest.mark.parametrize("name", list(DIALECTS))
def test_the_ray_engine_on_each_dialect(cli: Callable[..., Any], four: Path, name: str) -> None:
    doc = _run(cli, four, "-n", "4", "-c", "2", "--engine", "ray", "--workers", "2", only=name)
    assert [t["summary"]["requests"]["ok"] for t in doc["targets"]] == [4]
    assert doc["meta"]["engine"] == "ray"
