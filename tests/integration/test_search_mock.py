"""`costcli run --search` and `--server-metrics` against the mock server with a fixed
number of decode slots: the search finds the slot count and the rate the slots sustain,
gives the projection the sweep's capacity, and reads the server's own queue."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mockserver_fixture import REPO_ROOT, start_mock_server

pytestmark = pytest.mark.integration

# 4 slots; a request holds one for TTFT + 9 ITL = 50 + 90 = 140 ms: 4 / 0.14 = 28.6 req/s.
# A request past the slots waits a whole request (140 ms) for one: TTFT 190 ms, over 100.
SLOTS = ("--slots", "4", "--ttft-ms", "50", "--itl-ms", "10", "--output-tokens", "10")
CAPACITY_RPS = 4 / 0.140
SLO = ("--slo", "ttft=100")


def run_json(cli: Callable[..., Any], *args: str) -> dict[str, Any]:
    result = cli("run", *args, "-f", "json", "-q")
    assert result.exit_code == 0, result.stderr
    target: dict[str, Any] = json.loads(result.stdout)["targets"][0]
    return target


def test_a_concurrency_search_finds_the_slot_count_and_the_projection_matches_the_sweep(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    with start_mock_server(*SLOTS) as (url, _):
        path = provider_file("box", base_url=url, self_hosted=True, hardware="cpu-2vcpu-vm")
        common = ("--providers", str(path), "-t", "box", *SLO)
        searched = tmp_path / "search.json"
        search = run_json(cli, *common, "--search", "concurrency", "-o", str(searched))
        swept = tmp_path / "sweep.json"
        sweep = run_json(
            cli, *common, "-n", "50", "--sweep", "concurrency=1,2,4,8", "-o", str(swept)
        )
    steps = search["search"]
    assert [s["load"] for s in steps] == [
        f"concurrency={c}" for c in (1, 2, 4, 8, 6, 5)
    ]  # doubling to the first miss, then bisecting 4..8 down to one stream
    assert [s["verdict"] for s in steps] == ["pass"] * 3 + ["fail"] * 3
    assert all(s["requests"] == s["summary"]["requests"]["total"] for s in steps)
    assert all(s["ended"].startswith("decided") for s in steps if s["verdict"] == "fail")
    assert search["capacity_load"] == sweep["capacity_load"] == "concurrency=4"
    assert search["capacity_rps"] == pytest.approx(sweep["capacity_rps"], rel=0.1)
    assert search["capacity_rps"] == pytest.approx(CAPACITY_RPS, rel=0.1)
    # the summary is the capacity step's
    assert search["summary"] == steps[2]["summary"]

    # 100 req/s on average: 3.5 to 3.9 replicas of a 26-28.6 req/s box, 4 either way
    volume = ("--requests-per-month", "262800000", "--peak-factor", "1", "-f", "json")
    rows = [
        json.loads(cli("project", str(f), *volume).stdout)["projections"][0]
        for f in (searched, swept)
    ]
    assert rows[0]["capacity_rps"] == search["capacity_rps"]
    assert rows[0]["replicas"] == math.ceil(100 / search["capacity_rps"])
    assert rows[0]["replicas"] == rows[1]["replicas"] == 4


def test_a_rate_search_finds_the_rate_the_slots_sustain(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    with start_mock_server(*SLOTS) as (url, _):
        path = provider_file("box", base_url=url)
        target = run_json(cli, "--providers", str(path), "-t", "box", *SLO, "--search", "rate")
    steps = target["search"]
    assert steps[0]["load"] == "concurrency=1 (probe)"
    assert steps[0]["verdict"] == "probe"
    # the doubling starts at what one stream sustained (1 / 0.14 s = 7.1 req/s)
    assert float(steps[1]["load"].removeprefix("rate=")) == pytest.approx(7.1, rel=0.1)
    assert any(s["verdict"] == "fail" for s in steps)
    assert target["capacity_load"].startswith("rate=")
    assert float(target["capacity_load"][5:]) == pytest.approx(CAPACITY_RPS, rel=0.1)
    assert target["capacity_rps"] == pytest.approx(CAPACITY_RPS, rel=0.1)
    assert len(steps) <= 12


@pytest.mark.parametrize(
    ("dialect", "name"),
    [
        ("llamacpp", "llamacpp:requests_deferred"),
        ("vllm", "vllm:num_requests_waiting"),
        ("sglang", "sglang:num_queue_reqs"),
    ],
)
def test_server_metrics_read_the_servers_queue_in_each_servers_names(
    cli: Callable[..., Any], provider_file: Callable[..., Path], dialect: str, name: str
) -> None:
    with start_mock_server(*SLOTS, "--metrics-dialect", dialect) as (url, _):
        path = provider_file("box", base_url=url)
        metrics = url.removesuffix("/v1") + "/metrics"
        args = ("--providers", str(path), "-t", "box", "-c", "8", "-n", "64")
        target = run_json(cli, *args, "--server-metrics", metrics)
        served = httpx.get(url.removesuffix("/v1") + "/stats").json()
    view = target["server_metrics"]
    assert view["url"] == metrics
    assert name in view["read"]
    assert view["samples"] >= 2
    assert view["failed"] == 0
    # 8 streams on 4 slots: 4 run, 4 wait, as the server itself counts them
    assert view["requests_running_max"] == 4
    assert view["requests_waiting_max"] == 4
    assert view["kv_cache_usage_max"] == 1.0
    waiting = [v for _, v in view["series"]["requests_waiting"]]
    assert len(waiting) == view["samples"]
    assert max(waiting) == 4
    assert view["generation_tokens_per_s"] > 0
    assert served["completion_tokens"] == 640


def test_server_metrics_that_cannot_be_read_are_counted_and_the_run_goes_on(
    cli: Callable[..., Any], provider_file: Callable[..., Path]
) -> None:
    with start_mock_server("--ttft-ms", "20", "--itl-ms", "5", "--output-tokens", "4") as (url, _):
        path = provider_file("box", base_url=url)
        args = ("--providers", str(path), "-t", "box", "-n", "30", "--no-progress")
        nowhere = url.removesuffix("/v1") + "/nothing-here"
        result = cli("run", *args, "--server-metrics", nowhere)
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "server metrics" in x)
    assert "scrapes failed (HTTP 404" in line
    assert "no metric costcli reads" in line
    refused = cli("run", *args, "--server-metrics", "localhost:9090/metrics")
    assert refused.exit_code == 2
    assert "--server-metrics" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (("--search", "concurrency"), "--search needs --slo"),
        (("--search", "concurrency", "--slo", "ttft=100", "--processes", "2", "-c", "2"), "split"),
        (("--search", "load", "--slo", "ttft=100"), "--search load: use concurrency or rate"),
        (("--search-steps", "4"), "--search-steps 4: it bounds a --search"),
        (("--search", "rate", "--slo", "ttft=100", "--sweep", "rate=1,2"), "--search and --sweep"),
        (("--search", "rate", "--slo", "ttft=100", "-w", "conversation"), "conversation"),
    ],
)
def test_a_search_that_cannot_run_is_one_line_and_exit_2(
    cli: Callable[..., Any], provider_file: Callable[..., Path], flags: tuple[str, ...], says: str
) -> None:
    path = provider_file("box", base_url="http://127.0.0.1:9/v1")
    result = cli("run", "--providers", str(path), "-t", "box", *flags)
    assert result.exit_code == 2
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_search_from_the_api_and_the_benchmark_file(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    from costcli import RunPlan, execute

    with start_mock_server(*SLOTS) as (url, _):
        path = provider_file("box", base_url=url)
        plan = RunPlan(
            targets=("box",),
            providers=(path,),
            slo={"ttft_ms": 100, "percentile": 95},
            search={"kind": "concurrency", "start": 2, "limit": 8, "steps": 4},
        )
        (target,) = execute(plan).targets
        (tmp_path / "costcli.toml").write_text(
            f'[benchmark.cap]\ntargets = ["box"]\nproviders = ["{path}"]\n'
            'slo = { ttft_ms = 100 }\nsearch = { kind = "concurrency", limit = 4 }\n',
            encoding="utf-8",
        )
        old = Path.cwd()
        os.chdir(tmp_path)
        try:
            from_file = run_json(cli, "--search-steps", "2")
        finally:
            os.chdir(old)
    assert [s.load for s in target.search or []] == [
        "concurrency=2",
        "concurrency=4",
        "concurrency=8",
        "concurrency=6",
    ]
    assert target.capacity_load == "concurrency=4"
    assert [s["load"] for s in from_file["search"]] == ["concurrency=1", "concurrency=2"]


def test_a_killed_search_recovers_and_resumes_to_the_same_answer(tmp_path: Path) -> None:
    with start_mock_server(*SLOTS) as (url, _):
        (tmp_path / "box.toml").write_text(
            f'name = "box"\nadapter = "openai"\nbase_url = "{url}"\ndefault_model = "mock-model"\n',
            encoding="utf-8",
        )
        out = tmp_path / "run.json"
        args = ["run", "--providers", str(tmp_path / "box.toml"), "-t", "box", *SLO]
        metrics = ("--server-metrics", url.removesuffix("/v1") + "/metrics")
        command = [sys.executable, "-m", "costcli", *args, "--search", "concurrency", *metrics]
        journal = tmp_path / "run.journal.jsonl"
        process = subprocess.Popen([*command, "-q", "-o", str(out)], cwd=REPO_ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill it inside the third step (concurrency=4)
            text = journal.read_text() if journal.exists() else ""
            if '"load":"concurrency=4"' in text and text.count('"k":"r"') >= 110:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not out.exists()
        recovered = tmp_path / "recovered.json"
        done = subprocess.run(
            [sys.executable, "-m", "costcli", "recover", str(journal), "-o", str(recovered)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        held = journal.read_text().count('"k":"r"')
        assert f"recovered {held} requests" in done.stderr
        cut = json.loads(recovered.read_text())["targets"][0]
        assert [(s["load"], s["verdict"]) for s in cut["search"]] == [
            ("concurrency=1", "pass"),
            ("concurrency=2", "pass"),
            ("concurrency=4", "cut"),  # no verdict: it is not the capacity
        ]
        assert cut["capacity_load"] == "concurrency=2"
        assert cut["server_metrics"]["samples"] >= 1  # the journal's scrape lines
        before = httpx.get(url.removesuffix("/v1") + "/stats").json()["requests"]
        resumed = subprocess.run(
            [
                sys.executable,
                "-m",
                "costcli",
                "run",
                "--resume",
                str(journal),
                "-q",
                "-o",
                str(out),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert resumed.returncode == 0, resumed.stderr
        sent = httpx.get(url.removesuffix("/v1") + "/stats").json()["requests"] - before
    target = json.loads(out.read_text())["targets"][0]
    assert target["capacity_load"] == "concurrency=4"
    steps = target["search"]
    assert [s["load"] for s in steps] == [f"concurrency={c}" for c in (1, 2, 4, 8, 6, 5)]
    # nothing the journal held was sent again: the resume sent the rest of step 3 and the
    # failing steps, which end early (each step's measured requests are its records)
    assert steps[0]["requests"] == steps[1]["requests"] == steps[2]["requests"] == 50
    assert sent == sum(s["requests"] for s in steps) - held
