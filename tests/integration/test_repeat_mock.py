"""`costcli run --repeat 3` against the mock server as a real subprocess: the intervals over
the runs contain the TTFT the server was scripted with, the targets take turns round by
round (the server's own request log says so), and `check` tells noise from a regression.

The mock's jitter is seeded by request number (uniform +/- JITTER around TTFT_MS), so
which delays each run draws is fixed by the order the requests arrive in; the client's own
overhead (a millisecond or two) is all that moves between runs of this test.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from tests.mockserver_fixture import start_mock_server
except ImportError:  # `tests/` itself is on sys.path
    from mockserver_fixture import start_mock_server  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

TTFT_MS, JITTER = 100, 30
REQUESTS = 8


@contextlib.contextmanager
def jittery_server(log: Path) -> Iterator[str]:
    """The mock, its request log written in full once it stops (SIGTERM flushes it)."""
    args = ("--ttft-ms", str(TTFT_MS), "--jitter-ms", str(JITTER), "--itl-ms", "1")
    with start_mock_server(*args, "--output-tokens", "4", "--request-log", str(log)) as (url, _):
        yield url


@pytest.fixture
def jittery(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "requests.jsonl"
    with jittery_server(log) as url:
        yield url, log


def run_json(cli: Callable[..., Any], *args: str) -> dict[str, Any]:
    done = cli("run", "--format", "json", "-q", *args)
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)


def test_three_runs_give_intervals_that_hold_the_scripted_ttft_and_take_turns(
    cli: Callable[..., Any], provider_file: Callable[..., Path], tmp_path: Path
) -> None:
    log = tmp_path / "requests.jsonl"
    with jittery_server(log) as url:
        path = provider_file("jit", base_url=url)
        targets = ("-t", "jit:a", "-t", "jit:b")
        args = ("--providers", str(path), *targets, "-n", str(REQUESTS), "--repeat", "3")
        doc = run_json(cli, *args, "-o", str(tmp_path / "r.json"))
    for target in doc["targets"]:
        ttft = target["summary"]["ttft_ms"]
        assert ttft["count"] == 3 * REQUESTS
        assert len(target["repeats"]) == 3
        # the jitter is symmetric around TTFT_MS: its mean and median are the scripted TTFT
        for stat in ("mean", "p50"):
            low, high = ttft["ci95"][stat]
            assert low <= TTFT_MS <= high, (target["model"], stat, low, high)
        low, high = ttft["ci95"]["mean"]
        assert high - low < 4 * JITTER  # an interval, not the whole range
    # the server saw a's 8, b's 8, a's 8, ...: each round gives every target its turn
    models = [json.loads(line)["body"]["model"] for line in log.read_text().splitlines()]
    assert models == (["a"] * REQUESTS + ["b"] * REQUESTS) * 3


def test_check_tells_a_regression_from_run_to_run_noise(
    cli: Callable[..., Any],
    provider_file: Callable[..., Path],
    jittery: tuple[str, Path],
    tmp_path: Path,
) -> None:
    url, _ = jittery
    same = provider_file("jit", base_url=url)
    common = ("-t", "jit", "-n", "6", "--repeat", "3")
    base, again, slow = (tmp_path / f"{name}.json" for name in ("base", "again", "slow"))
    run_json(cli, "--providers", str(same), *common, "-o", str(base))
    run_json(cli, "--providers", str(same), *common, "-o", str(again))
    budget = ("--baseline", str(base), "--budget", "ttft_p50_ms=+1%", "--format", "json")
    noise = cli("check", str(again), *budget)
    verdict = json.loads(noise.stdout)
    row = verdict["checks"][0]
    assert row["method"] == "repeats"
    assert row["distinguishable"] is False, row
    assert "not distinguishable at 3 runs" in row["reason"]
    assert noise.exit_code == 0  # within the noise: reported, never failed
    with start_mock_server("--ttft-ms", str(3 * TTFT_MS), "--itl-ms", "1") as (slow_url, _):
        slower = provider_file("jit", base_url=slow_url)
        run_json(cli, "--providers", str(slower), *common, "-o", str(slow))
    regression = cli("check", str(slow), *budget)
    row = json.loads(regression.stdout)["checks"][0]
    assert row["distinguishable"] is True
    assert row["status"] == "fail"
    assert regression.exit_code == 1
