"""`costcli run --repeat N` on a fake clock (tests/fakes.py: every request 10 ms to first
token): rounds interleaved, each target's figures pooled over its runs with an interval
over them, and the journal followed by `recover` and `--resume` round by round."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from costcli.cli import app
from costcli.load import clock, runner
from tests.fakes import CLOCK, Clockwork


@pytest.fixture
def clock_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    monkeypatch.setattr(runner.registry, "create", Clockwork)
    monkeypatch.setattr(clock, "perf_ns", CLOCK.now)
    monkeypatch.chdir(tmp_path)
    provider = tmp_path / "clock.toml"
    provider.write_text(
        'name = "clock"\nadapter = "clockwork"\ndefault_model = "a"\n', encoding="utf-8"
    )
    CLOCK.t = 0

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, ["run", "--providers", str(provider), "-q", *args])

    return invoke


TWO = ("-t", "clock:a", "-t", "clock:b", "-n", "4")


def document(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def journal_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_three_rounds_interleave_the_targets_and_pool_each_ones_runs(
    clock_run: Callable[..., Result], tmp_path: Path
) -> None:
    done = clock_run(*TWO, "--repeat", "3", "--records", "-o", "r.json")
    assert done.exit_code == 0, done.output
    doc = document(tmp_path / "r.json")
    assert doc["meta"]["repeat"] == 3
    assert [t["model"] for t in doc["targets"]] == ["a", "b"]
    # the journal: one slot a target a round, in the order a, b, a, b, a, b
    slots = [e for e in journal_lines(tmp_path / "r.journal.jsonl") if e.get("k") == "target"]
    assert [(e["t"], e["label"]) for e in slots] == [(j, f"clock:{'ab'[j % 2]}") for j in range(6)]
    for target in doc["targets"]:
        summary, runs = target["summary"], target["repeats"]
        assert len(runs) == 3
        assert [r["requests"]["total"] for r in runs] == [4, 4, 4]
        assert summary["requests"] == {"total": 12, "ok": 12, "failed": 0}
        # pooled: the rounds' windows laid end to end, so throughput is over all of them
        assert summary["duration_s"] == pytest.approx(sum(r["duration_s"] for r in runs))
        times = [r["scheduled_ms"] for r in target["records"]]
        assert times == sorted(times)
        assert len(times) == 12
        ttft = summary["ttft_ms"]
        assert ttft["ci95"]["runs"] == 3
        assert ttft["ci95"]["p50"] == pytest.approx([10.0, 10.0])  # the clock never varies
        assert ttft["ci95"]["mean"] == pytest.approx([10.0, 10.0])
        assert set(ttft["ci95"]) == {"runs", "mean", "p50", "p90", "p95", "p99"}
        assert "ci95" in summary["e2e_ms"]
        assert "ci95" in summary["itl_ms"]
        assert all("ci95" not in r["ttft_ms"] for r in runs)  # a run's own figures
    table = clock_run(*TWO, "--repeat", "2", "--no-progress").output
    assert "repeats · clock:b vs clock:a at 2 runs" in table
    assert "not distinguishable" in table  # the same clock: no difference at all


def test_without_repeat_the_document_has_no_intervals_or_runs(
    clock_run: Callable[..., Result], tmp_path: Path
) -> None:
    assert clock_run(*TWO, "-o", "r.json").exit_code == 0
    text = (tmp_path / "r.json").read_text(encoding="utf-8")
    for key in ('"ci95"', '"repeats"', '"repeat"'):
        assert key not in text


def test_recover_reads_a_repeated_journal_back_round_by_round(
    clock_run: Callable[..., Result], tmp_path: Path
) -> None:
    assert clock_run(*TWO, "--repeat", "3", "-o", "r.json").exit_code == 0
    ran = document(tmp_path / "r.json")
    recovered = CliRunner().invoke(
        app, ["recover", str(tmp_path / "r.journal.jsonl"), "-o", str(tmp_path / "back.json")]
    )
    assert recovered.exit_code == 0, recovered.output
    back = document(tmp_path / "back.json")
    assert back["meta"]["repeat"] == 3
    for mine, theirs in zip(back["targets"], ran["targets"], strict=True):
        assert mine["summary"]["requests"] == theirs["summary"]["requests"]
        assert mine["summary"]["ttft_ms"] == theirs["summary"]["ttft_ms"]
        assert len(mine["repeats"]) == 3


def test_a_killed_repeated_run_resumes_at_the_round_it_stopped_in(
    clock_run: Callable[..., Result], tmp_path: Path
) -> None:
    assert clock_run(*TWO, "--repeat", "3", "-o", "r.json").exit_code == 0
    journal = tmp_path / "r.journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    # killed after two records of slot 3 (round 2, target b): later lines and the end gone
    cut = next(i for i, line in enumerate(lines) if line.startswith('{"k":"target","t":3'))
    journal.write_text("".join(lines[: cut + 4]), encoding="utf-8")
    done = clock_run("--resume", str(journal), "-o", "again.json")
    assert done.exit_code == 0, done.output
    doc = document(tmp_path / "again.json")
    for target in doc["targets"]:
        assert target["summary"]["requests"]["total"] == 12
        assert [r["requests"]["total"] for r in target["repeats"]] == [4, 4, 4]
    sent = [e for e in journal_lines(journal) if e.get("k") == "r"]
    assert len(sent) == 24  # every request once: the two journaled ones were not sent again
