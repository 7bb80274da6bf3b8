"""The history store in a SQLite file: WAL mode, `BEGIN IMMEDIATE` for every write, a
busy timeout, so several processes may add runs at once and none is lost. A file that is
not a SQLite database (or is damaged) is refused in one line naming it and the fix."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from costcli.files.errors import BadInputError

BUSY_TIMEOUT_S = 60.0


def _wal(conn: sqlite3.Connection) -> None:
    """WAL mode. Two processes making a new file at once: the change of journal mode can
    answer "locked" at once, without waiting for the busy timeout (SQLite does not call the
    busy handler there), so it is tried again until the timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteBackend:
    id_column = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.name = str(path)
        if self.path.is_dir():
            raise BadInputError(f"--db {path}: is a folder; pass a file path")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            _wal(self.conn)
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        except sqlite3.DatabaseError as exc:
            raise self._refused(exc) from None
        except OSError as exc:
            raise BadInputError(
                f"--db {path}: cannot be opened ({exc.strerror or exc}); pass another path"
            ) from None

    def _refused(self, exc: sqlite3.Error) -> BadInputError:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return BadInputError(
                f"{self.name}: still locked by another writer after {BUSY_TIMEOUT_S:g} s; "
                "retry when it is done"
            )
        return BadInputError(
            f"{self.name}: not a usable costcli history database ({exc}); move it aside "
            "(a new one is made on the next write) or pass another --db"
        )

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Any]:
        cur = self.conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield cur
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise self._refused(exc) from None
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        finally:
            cur.close()

    def has_table(self, cur: Any, table: str) -> bool:
        cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return cur.fetchone() is not None

    def close(self) -> None:
        self.conn.close()
