"""Start `python -m costcli.testing.mock_server` as a real subprocess for integration tests.

    with start_mock_server("--ttft-ms", "120") as (base_url, process):
        httpx.post(f"{base_url}/chat/completions", json={...})

`base_url` is the OpenAI-style base URL the server printed (`http://127.0.0.1:PORT/v1`).
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"^costcli mock server listening on (http://\S+/v1)$")


def _first_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            raise TimeoutError(f"mock server printed nothing within {timeout_s} s")
    return process.stdout.readline().strip()


def _wait_healthy(base_url: str, timeout_s: float) -> None:
    health = base_url.removesuffix("/v1") + "/health"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(health, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # lets the server flush its send log
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def start_mock_server(
    *args: str, timeout_s: float = 10.0
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run the mock server on a free port; yield (base_url, process); stop it on exit."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "costcli.testing.mock_server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]
    process = subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=env
    )
    try:
        line = _first_line(process, timeout_s)
        match = LISTENING.match(line)
        if match is None:
            raise RuntimeError(f"unexpected first line from mock server: {line!r}")
        base_url = match.group(1)
        _wait_healthy(base_url, timeout_s)
        yield base_url, process
    finally:
        _stop(process)
