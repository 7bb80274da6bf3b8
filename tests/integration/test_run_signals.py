"""SIGTERM and SIGHUP end a run as Ctrl-C does: the results are written atomically with
`complete: false`, the exit code is 128 + the signal; a second signal while the results are
written does not corrupt them; an interrupted run that measured nothing leaves an existing
results file as it was. costcli runs as a real process against the hostile server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from costcli.load.signals import SignalGuard, interrupt_signals
from tests.hostile.fixture import REPO_ROOT, hits, hostile_server, provider_files


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with hostile_server() as url:
        yield url


# `python -m costcli` with a plain terminal's signals, whatever the test run inherited
# (`nohup` ignores SIGHUP, `cmd &` SIGINT): SIGTERM and SIGHUP at their defaults, SIGINT
# Python's own (KeyboardInterrupt)
COSTCLI = (
    sys.executable, "-c",
    "import signal, sys\n"
    "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
    "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from costcli.cli import main\n"
    "sys.argv = ['costcli', *sys.argv[1:]]\n"
    "main()",
)  # fmt: skip


def start_run(root: str, tmp: Path, mode: str, out: Path) -> subprocess.Popen[str]:
    provider_files(tmp / "providers", root, (mode,))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [*COSTCLI, "run", "-t", mode, "--providers",
         str(tmp / "providers"), "-n", "100000", "-c", "2", "--records", "--no-progress",
         "-q", "-o", str(out), "-f", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp, env=env,
    )  # fmt: skip


def wait_for_hits(root: str, at_least: int, process: subprocess.Popen[str]) -> None:
    """Until the server has seen `at_least` chat requests (polling, no fixed sleep)."""
    start = hits(root)
    deadline = time.monotonic() + 60
    while hits(root) - start < at_least:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run sent nothing within 60 s"
        time.sleep(0.05)


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()  # a run left going would keep hitting the module's server
        process.communicate()
        raise
    return process.returncode, err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_keeps_what_was_measured_and_exits_128_plus_its_number(
    root: str, tmp_path: Path, sig: int, code: int
) -> None:
    out = tmp_path / "r.json"
    process = start_run(root, tmp_path, "ok", out)
    wait_for_hits(root, 20, process)
    process.send_signal(sig)
    returncode, err = finish(process)
    assert returncode == code, err
    assert "Traceback" not in err
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["complete"] is False
    (target,) = doc["targets"]
    assert target["stopped"] == "interrupted"
    assert len(target["records"]) == target["summary"]["requests"]["total"] >= 1
    assert not list(tmp_path.glob(".r.json.*"))  # no temp file left behind


def test_a_second_signal_while_writing_does_not_corrupt_the_results(
    root: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    process = start_run(root, tmp_path, "ok", out)
    wait_for_hits(root, 20, process)
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGTERM)
    returncode, err = finish(process)
    assert returncode == 143, err
    assert "Traceback" not in err
    doc = json.loads(out.read_text(encoding="utf-8"))  # whole: it parses
    assert doc["complete"] is False
    assert doc["targets"][0]["summary"]["requests"]["total"] >= 1


def test_an_interrupted_run_that_measured_nothing_keeps_the_existing_file(
    root: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    out.write_text('{"earlier": "results"}\n', encoding="utf-8")
    process = start_run(root, tmp_path, "hang", out)  # no answer ever comes
    wait_for_hits(root, 2, process)
    process.send_signal(signal.SIGTERM)
    returncode, err = finish(process)
    assert returncode == 143, err
    assert out.read_text(encoding="utf-8") == '{"earlier": "results"}\n'
    assert "nothing was measured" in err


def test_inside_deferred_a_signal_is_remembered_not_raised() -> None:
    with interrupt_signals() as guard:
        with guard.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handler runs between bytecodes: it has by now
            written = True
        assert written
        assert guard.exit_code == 143


def test_the_first_signal_stops_the_run_as_ctrl_c_and_a_second_is_only_counted() -> None:
    guard = SignalGuard()
    with pytest.raises(KeyboardInterrupt):  # SIGINT, which asyncio turns into a cancel
        guard.handle(signal.SIGHUP, None)  # the SIGINT handler runs before this returns
    assert guard.exit_code == 129
    guard.handle(signal.SIGTERM, None)  # during the shutdown: not raised
    assert (guard.count, guard.exit_code) == (2, 129)


def test_sigterm_to_a_run_of_two_processes_keeps_what_both_workers_measured(
    root: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    provider_files(tmp_path / "providers", root, ("ok",))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [*COSTCLI, "run", "-t", "ok", "--providers",
         str(tmp_path / "providers"), "-n", "100000", "-c", "4", "--processes", "2",
         "--records", "--no-progress", "-q", "-o", str(out), "-f", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    wait_for_hits(root, 40, process)
    process.send_signal(signal.SIGTERM)
    returncode, err = finish(process)
    assert returncode == 143, err
    assert "Traceback" not in err
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["complete"] is False
    assert doc["meta"]["processes"] == 2
    indices = [r["index"] for r in doc["targets"][0]["records"]]
    assert {i % 2 for i in indices} == {0, 1}  # both workers' records are in
    assert len(indices) == len(set(indices)) == doc["targets"][0]["summary"]["requests"]["total"]
