"""Exit codes of runs where nothing succeeded, and what a sweep keeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.mockserver_fixture import start_mock_server

pytestmark = pytest.mark.integration


def test_a_run_where_every_request_timed_out_exits_3_and_keeps_its_results(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    with start_mock_server("--ttft-ms", "5000", "--output-tokens", "2") as (url, _):
        path = provider_file("slow", base_url=url)
        out = tmp_path / "r.json"
        result = cli(
            "run",
            "--providers",
            str(path),
            "-t",
            "slow",
            "-n",
            "2",
            "--timeout",
            "0.1",
            "-o",
            str(out),
        )
    assert result.exit_code == 3
    assert "slow:mock-model: no request succeeded (timeout 2)" in result.stderr
    assert json.loads(out.read_text())["targets"][0]["summary"]["errors"]["timeout"] == 2


def test_a_sweep_keeps_the_capacity_points_records_and_cost_together(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    # both load points meet the SLO, so the capacity point is concurrency=2, the last; before
    # the fix the target's records and cost came from the last point while its summary came
    # from the capacity point, which only coincided by accident
    with start_mock_server("--ttft-ms", "30", "--itl-ms", "1", "--output-tokens", "4") as (url, _):
        path = provider_file("box", base_url=url)
        slo = ("--slo", "ttft=10000")  # an SLO no load can make a 30 ms server miss
        args = ("--providers", str(path), "-t", "box", "-n", "8", *slo, "--records")
        result = cli("run", *args, "--sweep", "concurrency=1,2", "-f", "json", "-q")
    assert result.exit_code == 0, result.stderr
    target = json.loads(result.stdout)["targets"][0]
    assert target["capacity_load"] == "concurrency=2"
    point = target["sweep"][1]["summary"]
    # summary, records and cost all describe the capacity point
    assert target["summary"]["throughput"] == point["throughput"]
    assert target["summary"]["ttft_ms"] == point["ttft_ms"]
    assert len(target["records"]) == point["requests"]["total"]
