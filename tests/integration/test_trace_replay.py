"""A Mooncake trace replayed against the mock server: every request once, at its planned
time, with the trace's lengths, in one process and split across two."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costcli.api import execute
from costcli.cli import app
from costcli.plan import RunPlan
from costcli.results.document import read_result
from tests.mockserver_fixture import start_mock_server

ROWS = [
    {"timestamp": 40 * i, "input_length": 600 + 10 * i, "output_length": 3, "hash_ids": [0, 100 + i]}
    for i in range(12)
]  # fmt: skip


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("trace")
    with start_mock_server("--ttft-ms", "5", "--itl-ms", "1", "--output-tokens", "3") as (url, _):
        path = folder / "m.toml"
        path.write_text(
            f'name = "m"\nadapter = "openai"\nbase_url = "{url}"\ndefault_model = "mock-model"\n',
            encoding="utf-8",
        )
        yield path


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def test_a_trace_replays_each_request_once_at_its_planned_time(
    providers: Path, trace: Path
) -> None:
    plan = RunPlan(
        targets=("m",), workload=f"mooncake:{trace}", providers=(providers,), records=True,
        time_scale=0.5,
    )  # fmt: skip
    result = execute(plan)
    (target,) = result.targets
    records = sorted(target.records or [], key=lambda r: r.index)
    assert [r.index for r in records] == list(range(12))
    planned = [r.scheduled_ms for r in records]
    first = planned[0] or 0.0
    assert [round((p or 0.0) - first, 3) for p in planned] == [20.0 * i for i in range(12)]
    assert target.summary.input_tokens.total == sum(r["input_length"] for r in ROWS)
    assert result.meta.workload.fixed_schedule
    assert result.meta.load["requests"] == 12


def test_a_trace_split_across_two_processes_sends_the_same_schedule(
    providers: Path, trace: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p2.json"
    done = CliRunner().invoke(
        app,
        ["run", "-t", "m", "--providers", str(providers), "-w", f"mooncake:{trace}",
         "--processes", "2", "--records", "-q", "-f", "json", "-o", str(out)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    (target,) = read_result(out).targets
    records = sorted(target.records or [], key=lambda r: r.index)
    assert [r.index for r in records] == list(range(12))
    first = records[0].scheduled_ms or 0.0
    assert [round((r.scheduled_ms or 0.0) - first, 3) for r in records] == [
        40.0 * i for i in range(12)
    ]
    assert target.summary.input_tokens.total == sum(r["input_length"] for r in ROWS)


def test_the_table_says_how_late_sends_left_against_the_trace(
    providers: Path, trace: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    done = CliRunner().invoke(
        app,
        ["run", "-t", "m", "--providers", str(providers), "-w", f"mooncake:{trace}",
         "--no-progress", "-o", str(out)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    (target,) = read_result(out).targets
    delay = target.summary.client_delay_ms
    assert delay is not None
    assert delay.count == 12
    line = next(x for x in done.stdout.splitlines() if "sends against the trace's plan" in x)
    assert f"p50 {delay.p50:.1f} ms, p99 {delay.p99:.1f} ms" in line
    assert "of 12 over 10 ms" in line
