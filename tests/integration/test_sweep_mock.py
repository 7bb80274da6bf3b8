"""`costcli run --sweep` against the mock server, and the capacity it hands to `project`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.mockserver_fixture import start_mock_server

pytestmark = pytest.mark.integration


def peak_in_flight(spans: list[tuple[int, int]]) -> int:
    """The most streams the server was sending at once: spans are (first send, last send)."""
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def test_a_concurrency_sweep_reports_each_point_and_the_capacity_project_uses(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    log = tmp_path / "send.log"
    server = ("--ttft-ms", "40", "--itl-ms", "2", "--output-tokens", "8", "--send-log", str(log))
    with start_mock_server(*server) as (url, _):
        path = provider_file("box", base_url=url, self_hosted=True, hardware="cpu-2vcpu-vm")
        out = tmp_path / "sweep.json"
        # an SLO no load can miss (a TTFT of 10 s against the server's 40 ms)
        args = ("--providers", str(path), "-t", "box", "-n", "16", "--slo", "ttft=10000")
        result = cli("run", *args, "--sweep", "concurrency=1,4", "-f", "json", "-q", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    target = json.loads(result.stdout)["targets"][0]
    loads = [p["load"] for p in target["sweep"]]
    assert loads == ["concurrency=1", "concurrency=4"]
    assert all(p["meets_slo"] for p in target["sweep"])
    assert all(p["summary"]["requests"]["ok"] == 16 for p in target["sweep"])
    c4 = target["sweep"][1]["summary"]["throughput"]["requests_per_s"]
    assert target["capacity_load"] == "concurrency=4"
    assert target["capacity_rps"] == pytest.approx(c4)

    # Each point ran at its concurrency, by the server's own send log (request numbers in
    # arrival order, 8 chunks each): one stream at a time, then up to four together.
    spans: dict[int, list[int]] = {}
    for line in log.read_text().splitlines():
        number, _, sent_ns = line.split()
        spans.setdefault(int(number), []).append(int(sent_ns))
    assert sorted(spans) == list(range(1, 33))
    assert all(len(sends) == 8 for sends in spans.values())
    one, four = ([(min(spans[n]), max(spans[n])) for n in r] for r in (range(1, 17), range(17, 33)))
    assert peak_in_flight(one) == 1
    assert 2 <= peak_in_flight(four) <= 4

    volume = ("--requests-per-month", "100000000", "--peak-factor", "1")
    projected = cli("project", str(out), *volume, "-f", "json")
    assert projected.exit_code == 0, projected.stderr
    (row,) = json.loads(projected.stdout)["projections"]
    assert row["capacity_rps"] == pytest.approx(c4)
    # 100M requests a month is 38.05 req/s on average: replicas = ceil(38.05 / capacity)
    mean_rps = 100_000_000 / (730 * 3600)
    assert row["replicas"] == -(-mean_rps // c4)


def test_a_sweep_where_no_point_meets_the_slo_has_no_capacity(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    with start_mock_server("--ttft-ms", "60", "--itl-ms", "1", "--output-tokens", "4") as (url, _):
        path = provider_file("slow", base_url=url)
        args = ("--providers", str(path), "-t", "slow", "-n", "6", "--slo", "ttft=20")
        result = cli("run", *args, "--sweep", "concurrency=1,2", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "concurrency=2" in result.stdout
    assert "misses SLO" in result.stdout
    assert "no load point met the SLO" in result.stdout
