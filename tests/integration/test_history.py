"""The history store, the same tests on SQLite and on a real PostgreSQL server (started
from initdb/pg_ctl where installed; skipped with the reason where not)."""

from __future__ import annotations

import itertools
import multiprocessing
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from costcli.files.errors import BadInputError
from costcli.results.history import open_store
from costcli.results.history.baseline import pick
from costcli.results.history.store import SCHEMA_VERSION
from costcli.results.regress import parse_budget

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from history_fixture import known_run, new_database, pg_binaries, postgres_server, write_run

REPO = Path(__file__).resolve().parents[2]
_names = itertools.count()


def _psycopg_missing() -> str | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'costcli[postgres]')"
    return None


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[str]:
    if pg_binaries() is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)")
    missing = _psycopg_missing()
    if missing:
        pytest.skip(missing)
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store: a SQLite path, or a fresh database on the test server."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    admin: str = request.getfixturevalue("pg_admin")
    return new_database(admin, f"costcli_test_{next(_names)}")


def _day(n: int) -> str:
    return f"2026-11-{n:02d}T12:00:00+00:00"


def test_a_run_added_is_listed_and_read_back_as_it_was(db: str) -> None:
    run = known_run(150.0, _day(1))
    with open_store(db) as store:
        run_id, new = store.add(run, {"branch": "main"}, source="a.json")
        again, new_again = store.add(run, {"branch": "other"})
        runs = store.runs()
        document = store.document(run_id)
        assert store.version() == SCHEMA_VERSION
    assert (new, new_again, again) == (True, False, run_id)  # the same document is kept once
    assert [r.id for r in runs] == [run_id]
    assert runs[0].labels == {"branch": "main"}
    assert runs[0].metrics["mock:mock-model"]["ttft_p95_ms"] == 150.0
    assert document == run


def test_runs_are_listed_newest_first_and_filtered_by_since_target_and_label(db: str) -> None:
    with open_store(db) as store:
        ids = [store.add(known_run(100.0 + n, _day(n)), {"n": str(n)})[0] for n in (3, 1, 2)]
        newest_first = [r.labels["n"] for r in store.runs()]
        since = [r.labels["n"] for r in store.runs(since="2026-11-02T00:00:00+00:00")]
        labelled = store.runs(label=("n", "1"))
        other = store.runs(target="groq:nothing")
        series = store.series("mock:mock-model", "ttft_p95_ms")
    assert newest_first == ["3", "2", "1"]
    assert since == ["3", "2"]
    assert [r.id for r in labelled] == [ids[1]]
    assert other == []
    assert [p.value for p in series] == [101.0, 102.0, 103.0]  # oldest first


def test_best_of_7_picks_the_lowest_ttft_p95_of_the_seven_newest(db: str) -> None:
    # day: ttft p95 (ms). Day 1 is the best overall but not among the seven newest;
    # days 4 and 8 tie at 90: the newer (day 8) is picked.
    figures = {1: 50.0, 2: 120.0, 3: 95.0, 4: 90.0, 5: 130.0, 6: 110.0, 7: 100.0, 8: 90.0}
    current = known_run(140.0, _day(9))
    with open_store(db) as store:
        ids = {day: store.add(known_run(v, _day(day)))[0] for day, v in figures.items()}
        store.add(current)  # the run being checked is never its own baseline
        best = pick(store, "history:best-of:7", current)
        best_of_3 = pick(store, "history:best-of:3", current)
        last = pick(store, "history:last", current)
    assert best.run.id == ids[8]
    assert best.result.targets[0].summary.ttft_ms is not None
    assert best.result.targets[0].summary.ttft_ms.p95 == 90.0
    assert best_of_3.run.id == ids[8]  # days 8, 7, 6
    assert last.run.id == ids[8]


def test_best_of_uses_the_first_budgets_metric_and_its_direction(db: str) -> None:
    current = known_run(100.0, _day(9))
    with open_store(db) as store:
        slow = store.add(known_run(80.0, _day(1), tokens_per_s=150.0))[0]
        fast = store.add(known_run(120.0, _day(2), tokens_per_s=300.0))[0]
        by_throughput = pick(
            store, "history:best-of:7", current, [parse_budget("output_tokens_per_s=-10%")]
        )
        by_name = pick(store, "history:best-of:7:ttft_p95_ms", current)
    assert by_throughput.run.id == fast  # higher is better for throughput
    assert by_name.run.id == slow


def test_a_label_baseline_is_the_newest_run_with_that_label(db: str) -> None:
    current = known_run(100.0, _day(9))
    with open_store(db) as store:
        release = store.add(known_run(90.0, _day(1)), {"release": "1.2"})[0]
        store.add(known_run(95.0, _day(2)), {"release": "1.3"})
        store.add(known_run(99.0, _day(3)))
        chosen = pick(store, "history:label=release=1.2", current)
        with pytest.raises(BadInputError) as missing:
            pick(store, "history:label=release=9", current)
    assert chosen.run.id == release
    assert "no stored run" in missing.value.message
    assert len(missing.value.problems) == 1


def test_ten_runs_added_from_two_processes_at_once_are_all_kept(db: str, tmp_path: Path) -> None:
    files = [
        write_run(tmp_path / f"run{n}.json", known_run(100.0 + n, _day(n + 1))) for n in range(10)
    ]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "costcli", "history", "add", "--db", db]
    writers = [
        subprocess.Popen(
            [*command, *map(str, files[half::2])],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for half in (0, 1)
    ]
    outputs = [w.communicate(timeout=120) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], outputs
    with open_store(db) as store:
        stored = store.runs()
    assert len(stored) == 10
    assert sorted(r.metrics["mock:mock-model"]["ttft_p95_ms"] for r in stored) == [
        100.0 + n for n in range(10)
    ]


def _open_new_store(path: str, barrier: Any, answers: Any) -> None:
    barrier.wait()  # every process opens the file no one has made yet at the same moment
    try:
        open_store(path).close()
        answers.put("ok")
    except BadInputError as exc:
        answers.put(str(exc))


def test_three_processes_making_one_new_sqlite_store_at_once_all_open_it(
    tmp_path: Path,
) -> None:
    """Switching a new file to WAL answers "locked" at once to the losers of the race
    (SQLite's busy handler is not called there): each must wait, not fail."""
    context = multiprocessing.get_context("spawn")
    for attempt in range(15):
        path = str(tmp_path / f"h{attempt}.sqlite")
        barrier, answers = context.Barrier(3), context.Queue()
        workers = [
            context.Process(target=_open_new_store, args=(path, barrier, answers)) for _ in range(3)
        ]
        for worker in workers:
            worker.start()
        got = [answers.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        assert got == ["ok"] * 3, (attempt, got)


def _set_version(db: str, version: int) -> None:
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("UPDATE costcli_schema SET version = %s", (version,))
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE costcli_schema SET version = ?", (version,))


def test_a_store_with_a_newer_schema_is_refused_in_one_line(db: str) -> None:
    open_store(db).close()
    _set_version(db, SCHEMA_VERSION + 1)
    with pytest.raises(BadInputError) as refused:
        open_store(db)
    assert refused.value.problems == [
        f"{db}: history schema version {SCHEMA_VERSION + 1} is newer than this costcli's "
        f"({SCHEMA_VERSION}); upgrade costcli (pip install -U costcli) or pass another --db"
    ]


def test_a_version_1_store_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    from costcli.results.history.sqlite import SqliteBackend
    from costcli.results.history.store import MIGRATIONS

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE costcli_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO costcli_schema VALUES (1)")
        for statement in MIGRATIONS[0][0](SqliteBackend.__new__(SqliteBackend)):
            conn.execute(statement)
        run = known_run(123.0, _day(1))
        from costcli.results.document import dumps

        conn.execute(
            "INSERT INTO runs (run_key, started_at, added_at, workload, workload_sha256, "
            "complete, document) VALUES ('k', ?, ?, ?, ?, 1, ?)",
            (_day(1), _day(1), run.meta.workload.name, run.meta.workload.sha256, dumps(run)),
        )
        conn.execute("INSERT INTO target_metrics VALUES (1, 'mock:mock-model', 'ttft_p95_ms', 123)")
    with open_store(str(path)) as store:
        assert store.version() == SCHEMA_VERSION
        runs = store.runs(target="mock:mock-model")  # run_targets, new in v2, backfilled
    assert [r.metrics["mock:mock-model"]["ttft_p95_ms"] for r in runs] == [123.0]


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all, just text\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["text", "damaged"],
)
def test_a_corrupt_sqlite_file_is_refused_in_one_line_naming_it(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(content)
    with pytest.raises(BadInputError) as refused:
        open_store(str(path))
    assert len(refused.value.problems) == 1
    assert refused.value.message.startswith(f"{path}: not a usable costcli history database")
    assert "move it aside" in refused.value.message


def test_another_programs_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (x)")
    with pytest.raises(BadInputError, match="is not a costcli history store"):
        open_store(str(path))


def test_an_unreachable_postgres_url_is_one_line_without_the_password(
    closed_port: int,
) -> None:
    if _psycopg_missing():
        pytest.skip(_psycopg_missing() or "")
    from costcli.files.errors import UnreachableError

    with pytest.raises(UnreachableError) as refused:
        open_store(f"postgresql://ci:s3cret-pw@127.0.0.1:{closed_port}/history")
    assert "s3cret-pw" not in refused.value.message
    assert refused.value.message.startswith(
        f"--db postgresql://ci:***@127.0.0.1:{closed_port}/history"
    )
    assert "\n" not in refused.value.message


def test_check_against_history_best_of_7_names_the_run_it_picked(
    db: str, tmp_path: Path, cli: Callable[..., object]
) -> None:
    figures = {1: 120.0, 2: 80.0, 3: 100.0}
    with open_store(db) as store:
        ids = {d: store.add(known_run(v, _day(d)))[0] for d, v in figures.items()}
    current = write_run(tmp_path / "current.json", known_run(85.0, _day(4)))
    done = cli(
        "check", str(current), "--baseline", "history:best-of:7", "--db", db,
        "--budget", "ttft_p95_ms=+10%", "--format", "json",
    )  # fmt: skip
    import json

    verdict = json.loads(done.stdout)  # type: ignore[attr-defined]
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    row = next(r for r in verdict["checks"] if r["metric"] == "ttft_p95_ms")
    assert (row["baseline"], row["current"], row["status"]) == (80.0, 85.0, "pass")
    assert f"baseline: history:best-of:7 -> run {ids[2]} of 2026-11-02T12:00:00Z" in (
        done.stderr  # type: ignore[attr-defined]
    )


def test_report_history_charts_every_stored_run_offline(
    db: str, tmp_path: Path, cli: Callable[..., object]
) -> None:
    figures = {1: 120.0, 2: 80.0, 3: 100.0}
    with open_store(db) as store:
        for d, v in figures.items():
            store.add(known_run(v, _day(d)))
    page = tmp_path / "history.html"
    done = cli("report", "--history", "--db", db, "--html", str(page))
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    table = done.stdout  # type: ignore[attr-defined]
    assert "mock:mock-model" in table
    for value in ("120", "80", "100"):  # each stored run's TTFT p95 is in the table
        assert value in table
    html = page.read_text(encoding="utf-8")
    assert "mock:mock-model" in html
    assert "<script src=" not in html  # offline: plotly inlined, nothing fetched
    refused = cli("report", "--history", "--db", db, str(tmp_path / "x.json"))
    assert refused.exit_code == 2  # type: ignore[attr-defined]


def test_history_show_and_list_take_a_providers_name_as_a_benchmark_file_names_it(
    db: str,
) -> None:
    from typer.testing import CliRunner

    from costcli.cli import app

    with open_store(db) as store:
        for n in (1, 2):
            store.add(known_run(100.0 + n, _day(n)), {"n": str(n)})
    runner = CliRunner()
    shown = runner.invoke(app, ["history", "show", "--target", "mock", "--db", db])
    listed = runner.invoke(app, ["history", "list", "--target", "mock", "--db", db])
    unknown = runner.invoke(app, ["history", "show", "--target", "groq", "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "mock:mock-model ttft_p95_ms: 2 run(s)" in shown.output
    assert listed.exit_code == 0
    assert listed.output.count("mock:mock-model") == 2
    assert unknown.exit_code == 2
    assert "--target groq: no stored run measured it (the store holds: mock:mock-model)" in (
        unknown.output
    )
