"""History-store test helpers: results documents with known figures, and a real PostgreSQL
server started from `initdb`/`pg_ctl` in a temp folder on a free port.

    with postgres_server() as admin_url:       # postgresql://costcli@127.0.0.1:PORT/postgres
        url = new_database(admin_url, "t1")    # a fresh database for one test
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from costcli.results.document import RunResult

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PG_BIN_DIRS = ("/usr/local/bin", "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
               "/usr/lib/postgresql/15/bin")  # fmt: skip


def known_run(
    ttft_p95: float,
    started_at: str,
    *,
    tokens_per_s: float | None = None,
    price_as_of: str | None = None,
) -> RunResult:
    """tests/fixtures/baseline.json (mock:mock-model, chat-short) with the figures given,
    its records dropped, so the stored summary is what a baseline is judged by."""
    raw: dict[str, Any] = json.loads((FIXTURES / "baseline.json").read_text(encoding="utf-8"))
    raw["meta"]["started_at"] = started_at
    raw["meta"]["ended_at"] = started_at
    target = raw["targets"][0]
    target["records"] = None
    target["summary"]["ttft_ms"]["p95"] = ttft_p95
    if tokens_per_s is not None:
        target["summary"]["throughput"]["output_tokens_per_s"] = tokens_per_s
    if price_as_of is not None and isinstance(target["summary"].get("cost"), dict):
        target["summary"]["cost"]["price_as_of"] = price_as_of
    return RunResult.model_validate(raw)


def write_run(path: Path, result: RunResult) -> Path:
    from costcli.results.document import dumps

    path.write_text(dumps(result), encoding="utf-8")
    return path


def pg_binaries() -> tuple[Path, Path] | None:
    """(initdb, pg_ctl) where both are installed, else None."""
    for folder in PG_BIN_DIRS:
        initdb, pg_ctl = Path(folder) / "initdb", Path(folder) / "pg_ctl"
        if initdb.exists() and pg_ctl.exists():
            return initdb, pg_ctl
    found = shutil.which("initdb"), shutil.which("pg_ctl")
    return (Path(found[0]), Path(found[1])) if found[0] and found[1] else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root: run it as `postgres` (or `nobody`) there."""
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        if subprocess.run(["id", user], capture_output=True, check=False).returncode == 0:
            return ["runuser", "-u", user, "--"]
    raise RuntimeError("running as root with no postgres or nobody user to start PostgreSQL")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (trust auth); yields its admin URL."""
    binaries = pg_binaries()
    assert binaries is not None
    initdb, pg_ctl = binaries
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="costcli-pg-"))
    data = root / "data"
    if prefix:
        shutil.chown(root, user=prefix[2])
    port = _free_port()
    subprocess.run(
        [*prefix, str(initdb), "-D", str(data), "-A", "trust", "-U", "costcli", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = root / "server.log"
    subprocess.run(
        [*prefix, str(pg_ctl), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield f"postgresql://costcli@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def new_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
