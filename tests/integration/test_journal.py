"""The journal against `kill -9`: costcli runs as a real process against the mock server,
is killed at a random moment, and `recover` and `--resume` are checked against what the
server itself saw (its send log: every chunk with its monotonic time; its request log:
every request body, each tagged with its request number by --unique-prefix)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mockserver_fixture import REPO_ROOT, start_mock_server

TOKENS = 8
TAG = re.compile(r"\[request ([0-9a-f-]{36})\]")


def costcli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "costcli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
        start_new_session=True,  # a kill of its group reaches --processes' workers too
    )


def done(process: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """A mock server with both logs, a provider file for it; yields (providers, sends,
    requests); the logs are complete once the fixture ends the server."""
    sends, bodies = tmp_path / "sends.log", tmp_path / "requests.log"
    args = ["--ttft-ms", "20", "--itl-ms", "2", "--output-tokens", str(TOKENS)]
    args += ["--send-log", str(sends), "--request-log", str(bodies)]
    with start_mock_server(*args) as (url, _):
        folder = tmp_path / "providers"
        folder.mkdir()
        (folder / "mock.toml").write_text(
            f'name = "mock"\nadapter = "openai"\ndefault_model = "m"\nbase_url = "{url}"\n',
            encoding="utf-8",
        )
        yield folder, sends, bodies


def finished_before(sends: Path, before_ns: int) -> int:
    """Requests whose last token the server sent before `before_ns` (monotonic)."""
    last: dict[str, tuple[int, int]] = {}
    for line in sends.read_text().splitlines():
        rid, index, ns = line.split()
        last[rid] = max(last.get(rid, (0, 0)), (int(index), int(ns)))
    return sum(1 for index, ns in last.values() if index == TOKENS - 1 and ns < before_ns)


def journal_indices(path: Path) -> list[int]:
    return [
        json.loads(line)["r"]["index"]
        for line in path.read_text().splitlines()
        if line.startswith('{"k":"r"')
    ]


def kill_when(process: subprocess.Popen[str], journal: Path, records: int) -> int:
    """SIGKILL the run's process group once its journal holds `records` records (plus a
    random wait up to 1 s); returns the kill's monotonic time."""
    deadline = time.monotonic() + 120
    while not journal.exists() or journal.read_text().count('"k":"r"') < records:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run journaled too little within 120 s"
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 1.0))
    at = time.monotonic_ns()
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    return at


RUN = ["run", "-t", "mock", "-n", "2000", "-c", "8", "--unique-prefix", "--no-progress"]


def test_kill_9_then_recover_holds_every_request_finished_a_second_before(
    mock: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    providers, sends, _ = mock
    process = costcli(*RUN, "--providers", str(providers), "-o", "run.json", cwd=tmp_path)
    journal = tmp_path / "run.journal.jsonl"
    killed_ns = kill_when(process, journal, random.randint(100, 600))
    assert not (tmp_path / "run.json").exists()  # the kill left no results: the journal must
    code, _out, err = done(
        costcli("recover", str(journal), "-o", "rec.json", "-f", "json", cwd=tmp_path)
    )
    assert code == 0, err
    result = json.loads((tmp_path / "rec.json").read_text())
    assert result["complete"] is False
    (target,) = result["targets"]
    assert target["stopped"] == "interrupted"
    indices = journal_indices(journal)
    assert len(indices) == len(set(indices))  # none twice
    assert target["summary"]["requests"]["total"] == len(indices)
    time.sleep(1.2)  # the server flushes its send log every second
    must = finished_before(sends, killed_ns - 1_000_000_000)
    assert must > 0
    assert len(indices) >= must, f"recovered {len(indices)}, the server finished {must}"


def test_resume_after_kill_9_sends_each_planned_request_once(
    mock: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    providers, _, bodies = mock
    first = costcli(*RUN, "--providers", str(providers), "-o", "run.json", cwd=tmp_path)
    journal = tmp_path / "run.journal.jsonl"
    kill_when(first, journal, random.randint(100, 600))
    held = len(journal_indices(journal))
    code, _, err = done(
        costcli("run", "--resume", str(journal), "--no-progress", "-q", "-o", "run.json",
                "-f", "json", cwd=tmp_path)
    )  # fmt: skip
    assert code == 0, err
    result = json.loads((tmp_path / "run.json").read_text())
    assert result["complete"] is True
    assert result["meta"]["resumed"]
    assert len(result["meta"]["resumed"]) == 1
    (target,) = result["targets"]
    assert target["summary"]["requests"]["total"] == 2000
    indices = journal_indices(journal)
    assert sorted(indices) == list(range(2000))
    assert held < 2000
    time.sleep(1.2)  # the request log is flushed every second
    tags = [TAG.search(line) for line in bodies.read_text().splitlines()]
    sent = [m.group(1) for m in tags if m]
    assert len(set(sent)) == 2000  # every planned request reached the server
    assert len(sent) - 2000 <= 8  # twice only those in flight at the kill (concurrency 8)


def test_a_resume_that_changes_the_plan_is_refused_naming_the_difference(
    mock: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    providers, _, _ = mock
    first = costcli(*RUN, "--providers", str(providers), "-o", "run.json", cwd=tmp_path)
    journal = tmp_path / "run.journal.jsonl"
    kill_when(first, journal, 50)
    code, _, err = done(costcli("run", "--resume", str(journal), "-n", "10", cwd=tmp_path))
    assert code == 2
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "requests=2000" in err
    assert "gives 10" in err
    # a new run over the unfinished journal is refused too: it would throw it away
    code, _, err = done(
        costcli(*RUN, "--providers", str(providers), "-o", "run.json", cwd=tmp_path)
    )
    assert code == 2
    assert "--resume" in err
    assert "unfinished" in err


def test_processes_journal_each_part_and_recover_and_resume_join_them(
    mock: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    providers, _, bodies = mock
    first = costcli(*RUN, "--processes", "2", "--providers", str(providers), "-o", "run.json",
                    cwd=tmp_path)  # fmt: skip
    journal = tmp_path / "run.journal.jsonl"
    parts = [tmp_path / f"run.journal.part-{i}.jsonl" for i in (1, 2)]
    deadline = time.monotonic() + 120
    while sum(p.read_text().count('"k":"r"') for p in parts if p.exists()) < 200:
        assert first.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    code, _, err = done(costcli("recover", str(journal), "-o", "rec.json", "-f", "json",
                                cwd=tmp_path))  # fmt: skip
    assert code == 0, err
    recovered = json.loads((tmp_path / "rec.json").read_text())
    held = sum(len(journal_indices(p)) for p in parts)
    assert recovered["targets"][0]["summary"]["requests"]["total"] == held
    code, _, err = done(costcli("run", "--resume", str(journal), "-q", "--no-progress",
                                "-o", "run.json", "-f", "json", cwd=tmp_path))  # fmt: skip
    assert code == 0, err
    result = json.loads((tmp_path / "run.json").read_text())
    assert result["targets"][0]["summary"]["requests"]["total"] == 2000
    assert result["meta"]["journal"] == str(journal)  # the run's own: both parts through it
    from costcli.api import read_result

    assert len(read_result(tmp_path / "run.json").targets[0].records or []) == 2000
    both = [i for p in parts for i in journal_indices(p)]
    assert sorted(both) == list(range(2000))
    time.sleep(1.2)
    sent = [m.group(1) for m in map(TAG.search, bodies.read_text().splitlines()) if m]
    assert len(set(sent)) == 2000
    assert len(sent) - 2000 <= 8


def test_a_conversation_cut_by_the_kill_is_sent_again_whole(
    mock: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    providers, _, _ = mock
    run = ["run", "-t", "mock", "-w", "conversation", "--sessions", "60", "-c", "4",
           "--no-progress", "--providers", str(providers), "-o", "run.json"]  # fmt: skip
    first = costcli(*run, cwd=tmp_path)
    journal = tmp_path / "run.journal.jsonl"
    kill_when(first, journal, 30)
    code, _, err = done(costcli("run", "--resume", str(journal), "-q", "--no-progress",
                                "--records", "-o", "run.json", "-f", "json", cwd=tmp_path))  # fmt: skip
    assert code == 0, err
    result = json.loads((tmp_path / "run.json").read_text())
    (target,) = result["targets"]
    assert target["summary"]["sessions"]["total"] == 60
    records = target["records"]
    by_session: dict[str, list[int]] = {}
    for r in records:
        by_session.setdefault(r["session"], []).append(r["turn"])
    assert len(by_session) == 60
    for turns in by_session.values():  # every conversation once, its turns in order, whole
        assert sorted(turns) == list(range(len(turns)))
    # the journal read back gives the same conversations: the cut one's first turns dropped
    code, out, err = done(costcli("recover", str(journal), "-f", "json", cwd=tmp_path))
    assert code == 0, err
    summary = json.loads(out)["targets"][0]["summary"]
    assert summary["sessions"] == target["summary"]["sessions"]
    assert summary["requests"] == target["summary"]["requests"]


def test_a_finished_split_run_can_be_run_again_to_the_same_output(
    mock: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    providers, _, _ = mock
    run = ["run", "-t", "mock", "-n", "20", "-c", "2", "--processes", "2", "-q",
           "--no-progress", "--providers", str(providers), "-o", "run.json"]  # fmt: skip
    for _ in range(2):  # the second replaces the first's journal: it had ended
        code, _, err = done(costcli(*run, cwd=tmp_path))
        assert code == 0, err
    last = (tmp_path / "run.journal.jsonl").read_text().splitlines()[-1]
    assert last.startswith('{"k":"end","complete":true')


EDITS = [  # (what a hand edit did to the journal's line, the key the error names)
    (lambda d: d.update(t="x"), "key 't' is 'x'"),
    (lambda d: d.update(p=-1), "key 'p' is -1"),
    (lambda d: d.update(t=5), "line this plan cannot hold"),
    (lambda d: d.update(p=9), "line this plan cannot hold"),
    (lambda d: d["r"].update(ttft_ms=1e308), "(ttft_ms)"),
    (lambda d: d["r"].update(itl_ms=[1.0, float("inf")]), "(itl_ms"),
    (lambda d: d.update(k="restart"), "line this plan cannot hold"),  # no session
    (lambda d: d.update(k="info", info=[1]), "line this plan cannot hold"),
]


@pytest.mark.parametrize(("edit", "named"), EDITS)
def test_a_hand_edited_journal_line_is_one_error_naming_the_line(
    mock: tuple[Path, Path, Path], tmp_path: Path, edit: Any, named: str
) -> None:
    providers = mock[0]
    code, _, err = done(costcli("run", "-t", "mock", "-n", "6", "-c", "2", "-q", "--no-progress",
                                "--providers", str(providers), "-o", "run.json", cwd=tmp_path))  # fmt: skip
    assert code == 0, err
    path = tmp_path / "run.journal.jsonl"
    lines = path.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith('{"k":"r"'))
    data = json.loads(lines[n])
    edit(data)
    lines[n] = json.dumps(data)
    path.write_text("\n".join(lines) + "\n")
    for args in (("recover", str(path)), ("run", "--resume", str(path), "-q", "--no-progress")):
        code, out, err = done(costcli(*args, cwd=tmp_path))
        assert code == 2, (args, out, err)
        assert "Traceback" not in err
        (line,) = err.strip().splitlines()
        assert f"{path}:{n + 1}:" in line, line
        assert named in line, line


def test_a_point_that_ran_to_its_end_is_not_sent_again_on_resume(
    mock: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A kill just after point 1 of a sweep ended: --requests cut some of its conversations,
    and the resume sends none of them again (point 1 ran to its end), only point 2."""
    providers, _, bodies = mock
    run = ["run", "-t", "mock", "-w", "conversation", "-n", "25", "--sweep", "concurrency=2,3",
           "--no-progress", "-q", "--providers", str(providers), "-f", "json"]  # fmt: skip
    code, _, err = done(costcli(*run, "-o", "whole.json", cwd=tmp_path))
    assert code == 0, err
    whole = json.loads((tmp_path / "whole.json").read_text())
    journal = tmp_path / "whole.journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    ends = [i for i, line in enumerate(lines) if line.startswith('{"k":"done"')]
    assert len(ends) == 2  # a done line ends each point
    cut = tmp_path / "cut.journal.jsonl"
    cut.write_text("".join(lines[: ends[0] + 1]))  # killed just after point 1's done line
    time.sleep(1.2)  # the request log is flushed every second
    before = len(bodies.read_text().splitlines())
    code, _, err = done(costcli("run", "--resume", str(cut), "-q", "--no-progress",
                                "-o", "resumed.json", "-f", "json", cwd=tmp_path))  # fmt: skip
    assert code == 0, err
    time.sleep(1.2)
    sent = len(bodies.read_text().splitlines()) - before
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    first, second = resumed["targets"][0]["sweep"]
    was_first, _ = whole["targets"][0]["sweep"]
    assert first["summary"]["requests"] == was_first["summary"]["requests"]
    assert first["summary"]["sessions"] == was_first["summary"]["sessions"]
    assert second["summary"]["requests"]["total"] == 25
    assert sent == 25  # point 2 whole, nothing of point 1
