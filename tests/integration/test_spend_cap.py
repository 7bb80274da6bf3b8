"""`--max-spend-usd` against a priced mock target, judged by the server's own count: the
mock's `GET /stats` says how many requests it answered and how many prompt and
completion tokens it served, and the test prices those itself, from the prices file's
rates (not from costcli's cost code). costcli runs as a real process (a terminal, a pipe,
a `kill -9` and `--processes` are real there)."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomllib

from tests.mockserver_fixture import REPO_ROOT, start_mock_server

pytestmark = pytest.mark.integration

CAP = 0.5
OUTPUT_TOKENS = 100  # what the mock answers; each request's max_tokens is MAX_TOKENS
MAX_TOKENS = 200
PRICES = """
[[models]]
provider = "acme"
model = "m1"
input_per_mtok = 10.0
output_per_mtok = 100.0
per_request_usd = 0.0001
source = "https://example.com/acme-pricing"
as_of = 2026-11-20
"""
# $20 a request at worst: four of them pass the $50 a run needs a cap or --yes for
DEAR = PRICES.replace("output_per_mtok = 100.0", "output_per_mtok = 100000.0")


@dataclass
class Mock:
    url: str
    folder: Path  # the provider file and the prices file

    def stats(self) -> dict[str, int]:
        return dict(httpx.get(self.url.removesuffix("/v1") + "/stats", timeout=5).json())

    def served_usd(self, prices: str = PRICES) -> float:
        """What the server served, priced here from the prices file's own rates."""
        (price,) = tomllib.loads(prices)["models"]
        s = self.stats()
        return (
            s["prompt_tokens"] * price["input_per_mtok"]
            + s["completion_tokens"] * price["output_per_mtok"]
        ) / 1e6 + s["answered"] * price["per_request_usd"]

    def worst_usd(self) -> float:
        """One request's worst case, as the cap holds it: a bound of its prompt (the
        chat-short prompts are well under 100 tokens) and MAX_TOKENS of output."""
        (price,) = tomllib.loads(PRICES)["models"]
        prompt_bound = 100
        return (
            prompt_bound * price["input_per_mtok"] + MAX_TOKENS * price["output_per_mtok"]
        ) / 1e6 + price["per_request_usd"]


def _serve(tmp_path: Path, itl_ms: str, prices: str) -> Iterator[Mock]:
    args = ("--ttft-ms", "5", "--itl-ms", itl_ms, "--output-tokens", str(OUTPUT_TOKENS))
    with start_mock_server(*args) as (url, _):
        (tmp_path / "acme.toml").write_text(
            f'name = "acme"\nadapter = "openai"\nbase_url = "{url}"\ndefault_model = "m1"\n',
            encoding="utf-8",
        )
        (tmp_path / "prices.toml").write_text(prices, encoding="utf-8")
        yield Mock(url, tmp_path)


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[Mock]:
    yield from _serve(tmp_path, "1", PRICES)


@pytest.fixture
def slow_mock(tmp_path: Path) -> Iterator[Mock]:
    """Three times slower streams: a run lasts long enough to be killed in the middle."""
    yield from _serve(tmp_path, "3", PRICES)


@pytest.fixture
def dear_mock(tmp_path: Path) -> Iterator[Mock]:
    yield from _serve(tmp_path, "1", DEAR)


def costcli(*args: str, cwd: Path, stdin: Any = subprocess.DEVNULL) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "costcli", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
        start_new_session=True,  # a kill of its group reaches --processes' workers too
    )


def done(process: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def capped(*extra: str) -> list[str]:
    return [
        "run", "-t", "acme", "--providers", "acme.toml", "--prices", "prices.toml",
        "-n", "400", "--max-tokens", str(MAX_TOKENS), "--max-spend-usd", str(CAP),
        "--records", "--no-progress", "-o", "run.json", "-f", "json", *extra,
    ]  # fmt: skip


def check_stopped_within_the_cap(mock: Mock, code: int, err: str, in_flight: int) -> None:
    """Exit 1, the target stopped for the cap, the server's own spend within it (and not
    far below: the run went on while a request's worst case still fitted), and every
    request the server answered is in the results, priced as the server's count is."""
    assert code == 1, err
    assert "stopped at --max-spend-usd" in err
    result = json.loads((mock.folder / "run.json").read_text())
    (target,) = result["targets"]
    assert target["stopped"] == "spend_cap"
    assert result["meta"]["stopped"] == "spend_cap"
    served = mock.served_usd()
    assert served <= CAP
    assert served > CAP - (in_flight + 1) * mock.worst_usd()
    stats = mock.stats()
    assert stats["requests"] == stats["answered"]
    assert stats["completion_tokens"] == stats["answered"] * OUTPUT_TOKENS  # none cut short
    # nothing measured is lost: every request the server answered is a record and in the
    # summary, and the summary's cost is the server's count priced
    assert target["summary"]["requests"]["total"] == stats["answered"]
    assert len(target["records"]) == stats["answered"]
    assert target["summary"]["cost"]["total_usd"] == pytest.approx(served)


def test_a_closed_loop_stops_within_the_cap_by_the_servers_count(mock: Mock) -> None:
    code, _, err = done(costcli(*capped("-c", "4"), cwd=mock.folder))
    check_stopped_within_the_cap(mock, code, err, in_flight=4)
    # the worst case was over $1, so it was printed before the run, with the cap
    assert "acme:m1: worst-case spend $" in err
    assert "(400 requests x up to" in err
    assert "--max-spend-usd 0.5 caps it" in err


def test_an_open_loop_stops_within_the_cap_by_the_servers_count(mock: Mock) -> None:
    code, _, err = done(costcli(*capped("--rate", "40"), cwd=mock.folder))
    check_stopped_within_the_cap(mock, code, err, in_flight=8)


def test_two_processes_each_hold_half_the_cap_and_together_stay_within_it(
    mock: Mock,
) -> None:
    code, _, err = done(costcli(*capped("-c", "4", "--processes", "2"), cwd=mock.folder))
    # each part stops within CAP / 2 with up to 2 of its own in flight
    check_stopped_within_the_cap(mock, code, err, in_flight=4)
    result = json.loads((mock.folder / "run.json").read_text())
    assert result["meta"]["processes"] == 2
    parts = sorted(mock.folder.glob("run.journal.part-*.jsonl"))
    assert len(parts) == 2
    for part in parts:  # each part's journal: its spend within its half
        assert journal_spend(part) <= CAP / 2


def journal_spend(path: Path) -> float:
    """A journal's spend lines: cost, plus the worst case of requests never heard to end."""
    spent = held = 0.0
    for line in path.read_text().splitlines():
        if line.startswith('{"k":"spend"'):
            event = json.loads(line)
            spent += event.get("usd", 0.0)
            held += event.get("held", 0.0)
    return spent + max(0.0, held)


def test_a_resume_after_kill_9_counts_the_journals_spend_toward_the_cap(
    slow_mock: Mock,
) -> None:
    mock = slow_mock
    first = costcli(*capped("-c", "4"), cwd=mock.folder)
    journal = mock.folder / "run.journal.jsonl"
    deadline = time.monotonic() + 60
    while not journal.exists() or journal.read_text().count('"k":"r"') < 16:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    before = mock.served_usd()
    assert before > 0.15  # a resume that forgot it would pass the cap by as much

    code, _, err = done(
        costcli("run", "--resume", str(journal), "--no-progress", "-o", "run.json", "-f",
                "json", cwd=mock.folder)
    )  # fmt: skip
    assert code == 1, err
    result = json.loads((mock.folder / "run.json").read_text())
    (target,) = result["targets"]
    assert target["stopped"] == "spend_cap"
    assert result["meta"]["resumed"]
    after = mock.served_usd()
    assert after <= CAP  # both runs together, by the server's count
    assert after > before  # the resume sent what still fitted
    # the records journaled before the kill are in the resumed run's figures
    stats = mock.stats()
    cut = stats["answered"] - target["summary"]["requests"]["total"]
    assert 0 <= cut <= 4  # only those in flight at the kill (their worst case was held)


def test_over_50_dollars_without_a_cap_is_refused_at_a_terminal_in_one_line(
    dear_mock: Mock,
) -> None:
    leader, follower = pty.openpty()
    try:
        args = ["run", "-t", "acme", "--providers", "acme.toml", "--prices", "prices.toml"]
        args += ["-n", "4", "--max-tokens", str(MAX_TOKENS), "--no-progress"]
        code, _, err = done(costcli(*args, cwd=dear_mock.folder, stdin=follower))
    finally:
        os.close(follower)
        os.close(leader)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("costcli: error: the run's worst-case spend is $80.")
    assert "over $50: add --max-spend-usd USD to cap it, or --yes to run it as it is" in lines[0]
    assert dear_mock.stats()["requests"] == 0  # nothing was sent
    assert not (dear_mock.folder / "run.json").exists()


def test_over_50_dollars_runs_with_yes_at_a_terminal_and_with_a_notice_without_one(
    dear_mock: Mock,
) -> None:
    args = ["run", "-t", "acme", "--providers", "acme.toml", "--prices", "prices.toml"]
    args += ["-n", "4", "--max-tokens", str(MAX_TOKENS), "--no-progress", "-q"]
    leader, follower = pty.openpty()
    try:
        code, _, err = done(costcli(*args, "--yes", cwd=dear_mock.folder, stdin=follower))
    finally:
        os.close(follower)
        os.close(leader)
    assert code == 0, err
    assert "notice" not in err
    assert dear_mock.stats()["answered"] == 4

    # stdin not a terminal (CI): a notice, and the run goes on (it must not hang on a
    # question nobody can answer)
    code, _, err = done(costcli(*args, cwd=dear_mock.folder, stdin=subprocess.DEVNULL))
    assert code == 0, err
    text = " ".join(err.split())
    assert "costcli: notice: the run's worst-case spend is $80." in text
    assert "neither --max-spend-usd nor --yes was given; running on, as stdin is not a" in text
    assert dear_mock.stats()["answered"] == 8


def test_a_worst_case_of_a_dollar_or_less_is_not_printed(mock: Mock) -> None:
    args = ["run", "-t", "acme", "--providers", "acme.toml", "--prices", "prices.toml"]
    args += ["-n", "4", "--max-tokens", str(MAX_TOKENS), "--no-progress", "-q"]
    code, _, err = done(costcli(*args, cwd=mock.folder))
    assert code == 0, err
    assert "worst-case" not in err


def test_the_python_api_and_the_benchmark_file_take_max_spend_usd(mock: Mock) -> None:
    from costcli.api import execute
    from costcli.plan import RunPlan

    folder = mock.folder
    plan = RunPlan(
        targets=("acme",),
        providers=(folder / "acme.toml",),
        prices=folder / "prices.toml",
        max_tokens=MAX_TOKENS,
        max_spend_usd=CAP / 2,
        **{"requests": 400, "concurrency": 4},
    )
    result = execute(plan)
    (target,) = result.targets
    assert target.stopped == "spend_cap"
    spent = mock.served_usd()
    assert CAP / 2 - 5 * mock.worst_usd() < spent <= CAP / 2

    (folder / "costcli.toml").write_text(
        'default = "capped"\n[benchmark.capped]\ntargets = ["acme"]\n'
        'providers = ["acme.toml"]\nprices = "prices.toml"\nrequests = 400\n'
        f"concurrency = 4\nmax_tokens = {MAX_TOKENS}\nmax_spend_usd = {CAP / 2}\n",
        encoding="utf-8",
    )
    code, out, err = done(costcli("config", "show", cwd=folder))
    assert code == 0, err
    (row,) = [line.split() for line in out.splitlines() if "max_spend_usd" in line]
    assert row == ["max_spend_usd", "0.25", "costcli.toml", "[benchmark.capped]"]
    code, _, err = done(costcli("run", "--no-progress", "-q", cwd=folder))
    assert code == 1, err
    assert "stopped at --max-spend-usd" in err
    assert mock.served_usd() - spent <= CAP / 2
