"""Start `python -m tests.hostile.server` as a real subprocess; stop it afterwards."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.mockserver_fixture import _first_line, _stop

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@contextlib.contextmanager
def hostile_server(timeout_s: float = 15.0) -> Iterator[str]:
    """Yields the server's root URL (`http://127.0.0.1:PORT`)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.hostile.server"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=env,
    )
    try:
        match = LISTENING.search(_first_line(process, timeout_s))
        assert match, "the hostile server printed no URL"
        yield match.group(1)
    finally:
        _stop(process)


def hits(root: str, mode: str | None = None) -> int:
    """Chat requests the server received: all of them, or one mode's."""
    return int(httpx.get(f"{root}/hits" + (f"/{mode}" if mode else ""), timeout=5).text)


def refused(root: str) -> int:
    """Requests the server read and closed their connection on, without a byte of answer."""
    return int(httpx.get(f"{root}/refused", timeout=5).text)


def provider_files(folder: Path, root: str, modes: tuple[str, ...]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for mode in modes:
        (folder / f"{mode}.toml").write_text(
            f'name = "{mode}"\nadapter = "openai"\ndefault_model = "m"\n'
            f'base_url = "{root}/{mode}/v1"\n',
            encoding="utf-8",
        )
