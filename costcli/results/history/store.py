"""The history store: one schema, two databases (SQLite by path, PostgreSQL by URL).

Schema version 2 (`costcli_schema.version`):
  runs(id, run_key UNIQUE, started_at UTC ISO, ended_at, added_at, workload,
       workload_sha256, costcli_version, complete, source, document JSON)
  labels(run_id, key, value)                       -- --label KEY=VALUE
  target_metrics(run_id, target, metric, value)    -- every figure `check` can gate on
  run_targets(run_id, target, price_as_of, price_source)   -- added in version 2
A run's key is the SHA-256 of its results document: the same document added twice (by
`run --history` and `history add`, or by a retried CI job) is kept once. Every write is
one transaction, so concurrent writers (two CI jobs on one store) lose nothing: SQLite in
WAL mode with `BEGIN IMMEDIATE` and a busy timeout, PostgreSQL's own transactions.
A database whose schema is newer than this costcli's is refused, not downgraded.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, cast

from costcli.files.errors import BadInputError
from costcli.results.document import RunResult, dumps
from costcli.results.metrics import RunCost
from costcli.results.regress import METRICS, target_key

SCHEMA_VERSION = 2


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class Backend(Protocol):
    """What a database gives the store: its name for messages, a transaction, its DDL."""

    name: str  # the path, or the URL with its password hidden
    id_column: str  # the DDL of an auto-numbered primary key

    def transaction(self, *, write: bool) -> Any: ...  # a context manager yielding a Cursor
    def has_table(self, cur: Cursor, table: str) -> bool: ...
    def close(self) -> None: ...


# Each migration brings the schema from version N-1 to N: statements, then an optional
# backfill over the rows already stored.
def _v1(backend: Backend) -> list[str]:
    return [
        f"""CREATE TABLE runs (
            id {backend.id_column},
            run_key TEXT NOT NULL UNIQUE,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            added_at TEXT NOT NULL,
            workload TEXT NOT NULL,
            workload_sha256 TEXT NOT NULL,
            costcli_version TEXT,
            complete INTEGER NOT NULL,
            source TEXT,
            document TEXT NOT NULL)""",
        """CREATE TABLE labels (
            run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_id, key))""",
        """CREATE TABLE target_metrics (
            run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            target TEXT NOT NULL, metric TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, target, metric))""",
        "CREATE INDEX runs_started ON runs (started_at)",
    ]


def _v2(backend: Backend) -> list[str]:
    return [
        """CREATE TABLE run_targets (
            run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            target TEXT NOT NULL, price_as_of TEXT, price_source TEXT,
            PRIMARY KEY (run_id, target))""",
        "CREATE INDEX target_metrics_series ON target_metrics (target, metric)",
    ]


def _backfill_v2(cur: Cursor) -> None:
    """Runs stored before version 2 get their targets' price dates from their documents."""
    cur.execute("SELECT id, document FROM runs")
    for run_id, text in cur.fetchall():
        result = RunResult.model_validate_json(text)
        for row in _target_rows(result):
            cur.execute("INSERT INTO run_targets VALUES (?, ?, ?, ?)", (run_id, *row))


MIGRATIONS: list[tuple[Callable[[Backend], list[str]], Callable[[Cursor], None] | None]] = [
    (_v1, None),
    (_v2, _backfill_v2),
]
assert len(MIGRATIONS) == SCHEMA_VERSION


@dataclass(frozen=True)
class StoredRun:
    """One run as the store holds it (the document itself: `HistoryStore.document`)."""

    id: int
    run_key: str
    started_at: str
    workload: str
    workload_sha256: str
    complete: bool
    source: str | None
    labels: dict[str, str] = field(default_factory=dict)
    # target -> metric -> value
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    prices: dict[str, str | None] = field(default_factory=dict)  # target -> price_as_of

    @property
    def targets(self) -> list[str]:
        return sorted(self.metrics)


@dataclass(frozen=True)
class Point:
    """One value of a series: a run's figure for a target, with its prices' date."""

    run_id: int
    started_at: str
    value: float
    price_as_of: str | None
    labels: dict[str, str] = field(default_factory=dict)


def run_key(result: RunResult) -> str:
    return hashlib.sha256(dumps(result).encode("utf-8")).hexdigest()


def utc_iso(text: str) -> str:
    """A timestamp as sortable UTC ISO text (naive ones are taken as UTC)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _metric_rows(result: RunResult) -> Iterator[tuple[str, str, float]]:
    for t in result.targets:
        for name, metric in METRICS.items():
            value = metric.from_summary(t)
            if value is not None and math.isfinite(value):
                yield target_key(t), name, float(value)


def _target_rows(result: RunResult) -> Iterator[tuple[str, str | None, str | None]]:
    for t in result.targets:
        cost = t.summary.cost
        if isinstance(cost, RunCost):
            yield target_key(t), cost.price_as_of, cost.price_source
        else:
            yield target_key(t), None, None


class HistoryStore:
    """Runs kept in a database. Every method is one transaction."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self._migrate()

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Cursor]:
        with self.backend.transaction(write=write) as cur:
            yield cast(Cursor, cur)

    def _migrate(self) -> None:
        with self._tx(write=True) as cur:
            version = self.version(cur)
            if version > SCHEMA_VERSION:
                raise BadInputError(
                    f"{self.name}: history schema version {version} is newer than this "
                    f"costcli's ({SCHEMA_VERSION}); upgrade costcli (pip install -U costcli) "
                    "or pass another --db"
                )
            if version == 0 and self._foreign(cur):
                raise BadInputError(
                    f"{self.name}: holds tables but is not a costcli history store; "
                    "pass another --db"
                )
            if version == 0:
                cur.execute("CREATE TABLE costcli_schema (version INTEGER NOT NULL)")
                cur.execute("INSERT INTO costcli_schema VALUES (0)")
            for number, (ddl, backfill) in enumerate(MIGRATIONS, start=1):
                if number <= version:
                    continue
                for statement in ddl(self.backend):
                    cur.execute(statement)
                if backfill is not None:
                    backfill(cur)
                cur.execute("UPDATE costcli_schema SET version = ?", (number,))

    def _foreign(self, cur: Cursor) -> bool:
        return self.backend.has_table(cur, "runs")

    def version(self, cur: Cursor | None = None) -> int:
        """The schema version of the database (0: a new, empty one)."""
        if cur is None:
            with self._tx() as fresh:
                return self.version(fresh)
        if not self.backend.has_table(cur, "costcli_schema"):
            return 0
        cur.execute("SELECT version FROM costcli_schema")
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def add(
        self, result: RunResult, labels: dict[str, str] | None = None, source: str | None = None
    ) -> tuple[int, bool]:
        """Keep a run: (its id, whether it is new). The same document is kept once."""
        key = run_key(result)
        meta = result.meta
        row = (
            key,
            utc_iso(meta.started_at),
            utc_iso(meta.ended_at),
            utc_iso(datetime.now(timezone.utc).isoformat()),
            meta.workload.name,
            meta.workload.sha256,
            meta.costcli_version,
            int(result.complete),
            source,
            dumps(result),
        )
        with self._tx(write=True) as cur:
            cur.execute(
                "INSERT INTO runs (run_key, started_at, ended_at, added_at, workload, "
                "workload_sha256, costcli_version, complete, source, document) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_key) DO NOTHING "
                "RETURNING id",
                row,
            )
            inserted = cur.fetchone()
            if inserted is None:
                cur.execute("SELECT id FROM runs WHERE run_key = ?", (key,))
                return int(cur.fetchone()[0]), False
            run_id = int(inserted[0])
            for k, v in sorted((labels or {}).items()):
                cur.execute("INSERT INTO labels VALUES (?, ?, ?)", (run_id, k, v))
            for target, metric, value in _metric_rows(result):
                cur.execute(
                    "INSERT INTO target_metrics VALUES (?, ?, ?, ?)",
                    (run_id, target, metric, value),
                )
            for target_row in _target_rows(result):
                cur.execute("INSERT INTO run_targets VALUES (?, ?, ?, ?)", (run_id, *target_row))
            return run_id, True

    def runs(
        self,
        *,
        target: str | None = None,
        since: str | None = None,
        label: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[StoredRun]:
        """Stored runs, newest first (by when they started; the later added first on a tie)."""
        where, params = ["1 = 1"], []
        if target is not None:
            where.append(
                "EXISTS (SELECT 1 FROM run_targets t WHERE t.run_id = runs.id AND t.target = ?)"
            )
            params.append(target)
        if since is not None:
            where.append("started_at >= ?")
            params.append(since)
        if label is not None:
            where.append(
                "EXISTS (SELECT 1 FROM labels l WHERE l.run_id = runs.id AND l.key = ? AND l.value = ?)"
            )
            params += list(label)
        clauses = " AND ".join(where)  # fixed text; every value is bound
        sql = (
            "SELECT id, run_key, started_at, workload, workload_sha256, complete, source "  # noqa: S608
            f"FROM runs WHERE {clauses} ORDER BY started_at DESC, id DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._tx() as cur:
            cur.execute(sql, params)
            heads = cur.fetchall()
            return [self._stored(cur, head) for head in heads]

    def _stored(self, cur: Cursor, head: Sequence[Any]) -> StoredRun:
        run_id = int(head[0])
        cur.execute("SELECT key, value FROM labels WHERE run_id = ? ORDER BY key", (run_id,))
        labels = {k: v for k, v in cur.fetchall()}
        cur.execute("SELECT target, metric, value FROM target_metrics WHERE run_id = ?", (run_id,))
        metrics: dict[str, dict[str, float]] = {}
        for target, metric, value in cur.fetchall():
            metrics.setdefault(target, {})[metric] = float(value)
        cur.execute("SELECT target, price_as_of FROM run_targets WHERE run_id = ?", (run_id,))
        prices = {target: as_of for target, as_of in cur.fetchall()}
        for target in prices:
            metrics.setdefault(target, {})
        return StoredRun(
            run_id,
            head[1],
            head[2],
            head[3],
            head[4],
            bool(head[5]),
            head[6],
            labels,
            metrics,
            prices,
        )

    def document(self, run_id: int) -> RunResult:
        """The results document of a stored run, as it was added."""
        with self._tx() as cur:
            cur.execute("SELECT document FROM runs WHERE id = ?", (run_id,))
            row = cur.fetchone()
        if row is None:
            raise BadInputError(f"{self.name}: no run {run_id}; see costcli history list")
        return RunResult.model_validate(json.loads(row[0]))

    def series(self, target: str, metric: str, since: str | None = None) -> list[Point]:
        """One target's figure over time, oldest first."""
        sql = (
            "SELECT r.id, r.started_at, m.value, t.price_as_of FROM target_metrics m "
            "JOIN runs r ON r.id = m.run_id "
            "LEFT JOIN run_targets t ON t.run_id = m.run_id AND t.target = m.target "
            "WHERE m.target = ? AND m.metric = ?"
        )
        params: list[Any] = [target, metric]
        if since is not None:
            sql += " AND r.started_at >= ?"
            params.append(since)
        with self._tx() as cur:
            cur.execute(sql + " ORDER BY r.started_at, r.id", params)
            rows = cur.fetchall()
            points = []
            for run_id, started, value, as_of in rows:
                cur.execute("SELECT key, value FROM labels WHERE run_id = ?", (run_id,))
                points.append(
                    Point(int(run_id), started, float(value), as_of, dict(cur.fetchall()))
                )
            return points

    def targets(self) -> list[tuple[str, int]]:
        """Every target stored, with how many runs measured it."""
        with self._tx() as cur:
            cur.execute("SELECT target, COUNT(*) FROM run_targets GROUP BY target ORDER BY target")
            return [(t, int(n)) for t, n in cur.fetchall()]


def open_store(db: str) -> HistoryStore:
    """The store at `db`: a postgresql:// URL, else a SQLite file path (made if missing)."""
    if db.startswith(("postgresql://", "postgres://")):
        from costcli.results.history.postgres import PostgresBackend

        return HistoryStore(PostgresBackend(db))
    from costcli.results.history.sqlite import SqliteBackend

    return HistoryStore(SqliteBackend(db))
