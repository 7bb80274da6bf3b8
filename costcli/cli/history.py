"""`costcli history add|list|show`: runs kept in a database, and their figures over time.

The store is `--db` (a SQLite path or a postgresql:// URL), else `COSTCLI_HISTORY_DB`, else
the benchmark file's `[history] db`, else `.costcli/history.sqlite` here. `costcli run
--history` adds a run as it finishes; `costcli check --baseline history:...` draws its
baseline from it; `costcli report --history --html` charts it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from costcli.files.errors import BadInputError

if TYPE_CHECKING:
    from costcli.files.benchmark import Benchmark
    from costcli.results.document import RunResult
    from costcli.results.history.store import HistoryStore

app = typer.Typer(
    help="Runs kept in a database (SQLite or PostgreSQL), and their figures over time.",
    no_args_is_help=True,
)
SERIES_FORMATS = ("table", "json", "csv")
_SINCE = re.compile(r"^(\d+(?:\.\d+)?)\s*([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}

DB_HELP = "SQLite path or postgresql://... (default: COSTCLI_HISTORY_DB, the benchmark file's [history] db, .costcli/history.sqlite)."
CONFIG_HELP = (
    "The benchmark file (default ./costcli.toml, else [tool.costcli] in ./pyproject.toml)."
)


def parse_since(text: str | None, now: datetime | None = None) -> str | None:
    """`30d`, `12h`, `2w` or an ISO date/time -> the UTC ISO cutoff."""
    from costcli.results.history.store import utc_iso

    if text is None:
        return None
    found = _SINCE.match(text.strip())
    if found:
        moment = (now or datetime.now(timezone.utc)) - timedelta(
            **{_UNITS[found[2]]: float(found[1])}
        )
        return moment.isoformat(timespec="microseconds")
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise BadInputError(
            f"--since {text}: use a span (30d, 12h, 2w) or a date (2026-11-01)"
        ) from None
    return utc_iso(text)


def parse_labels(values: list[str]) -> dict[str, str]:
    labels = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"--label {value}: use KEY=VALUE (e.g. --label branch=main)")
        labels[key.strip()] = text.strip()
    return labels


def resolve_db(db: str | None, config: Path | None) -> tuple[str, Benchmark | None]:
    """The store named by --db, the environment, or the benchmark file (see module doc)."""
    from costcli.files.benchmark import find_file, history_db

    found = find_file(config)
    bench = found.benchmark() if found is not None and found.tables else None
    db_of_file = found.history.db if found is not None else None
    if db_of_file and "://" not in db_of_file and found is not None:
        db_of_file = str(found.path.parent / db_of_file)
    return history_db(db, db_of_file), bench


def open_db(db: str) -> HistoryStore:
    from costcli.results.history import open_store

    return open_store(db)


# --- costcli run --history -------------------------------------------------------------------


def history_target(opts: Any, bench: Benchmark | None) -> str | None:
    """The store `costcli run` adds to: with --history, or a benchmark with history = true."""
    from costcli.files.benchmark import history_db

    if not opts.history and not (bench is not None and bench.history):
        if opts.db is not None or opts.label:
            flag = "--db" if opts.db is not None else "--label"
            raise BadInputError(f"{flag} is for --history; add --history or drop it")
        return None
    parse_labels(opts.label)  # refused before the run, not after it
    return history_db(opts.db, bench.db if bench else None)


def after_run(db: str | None, result: RunResult, opts: Any, bench: Benchmark | None) -> None:
    """Add the finished run to the store (an interrupted one is kept out)."""
    from costcli.cli.options import stderr_console

    if db is None or not result.complete:
        return
    labels = {**(bench.labels if bench else {}), **parse_labels(opts.label)}
    if bench is not None:
        labels.setdefault("benchmark", bench.name)
    with open_db(db) as store:
        run_id, new = store.add(result, labels, source="costcli run")
    if not opts.quiet:
        stderr_console().print(f"run {run_id} {'added to' if new else 'already in'} {store.name}")


# --- the commands ------------------------------------------------------------------------------


@app.command("add")
def add_command(
    results: list[Path] = typer.Argument(
        None, help="Results files (default: the benchmark file's default benchmark's output)."
    ),
    label: list[str] = typer.Option([], "--label", help="KEY=VALUE stored with each run."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Keep runs in the history store (the same results file is kept once)."""
    from costcli.api import read_result

    labels = parse_labels(label)
    target, bench = resolve_db(db, config)
    paths = list(results or [])
    if not paths:
        if bench is None:
            raise BadInputError(
                "history add: name a results file (or run in a folder with a costcli.toml)"
            )
        paths = [bench.output]
        labels = {**bench.labels, "benchmark": bench.name, **labels}
    documents = [(p, read_result(p)) for p in paths]  # every file checked before any is added
    with open_db(target) as store:
        for path, result in documents:
            run_id, new = store.add(result, labels, source=str(path))
            state = "added" if new else "already stored"
            typer.echo(f"{path}: run {run_id} {state} in {store.name}")


@app.command("list")
def list_command(
    target: str | None = typer.Option(None, "--target", "-t", help="Only runs of PROVIDER:MODEL."),
    since: str | None = typer.Option(None, "--since", help="30d, 12h, 2w or a date."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most N runs."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """The stored runs, newest first."""
    from costcli.render.history import render_runs

    cutoff = parse_since(since)
    with open_db(resolve_db(db, config)[0]) as store:
        if target is not None:  # a provider's name will do, as in a benchmark file
            target = stored_target([t for t, _ in store.targets()], target) or target
        runs = store.runs(target=target, since=cutoff, limit=limit)
        typer.echo(render_runs(runs, store.name), nl=False)


def stored_target(stored: list[str], name: str) -> str | None:
    """The stored PROVIDER:MODEL that `name` means: itself, or the one target of the
    provider `name` (a benchmark file's `targets` name providers); None if none is."""
    if name in stored:
        return name
    of_provider = [t for t in stored if t.partition(":")[0] == name]
    if len(of_provider) > 1:
        raise BadInputError(
            f"--target {name}: the store holds {len(of_provider)} targets of that provider "
            f"({', '.join(of_provider)}); name one as PROVIDER:MODEL"
        )
    return of_provider[0] if of_provider else None


def default_target(store: HistoryStore, target: str | None, bench: Benchmark | None) -> str:
    """--target (a provider's name will do), else the benchmark's only target, else the
    store's only one."""
    stored = [t for t, _ in store.targets()]
    held = ", ".join(stored) or "no runs"
    if target is not None:
        found = stored_target(stored, target)
        if found is None:
            raise BadInputError(f"--target {target}: no stored run measured it (the store "
                                f"holds: {held}); name one of those")  # fmt: skip
        return found
    named = (bench.plan.get("targets") or []) if bench else []
    wanted = {found for t in named if (found := stored_target(stored, t)) is not None}
    for choice in (sorted(wanted), stored):
        if len(choice) == 1:
            return choice[0]
    raise BadInputError(f"history show: name --target (the store holds: {held})")


@app.command("show")
def show_command(
    target: str | None = typer.Option(None, "--target", "-t", help="PROVIDER:MODEL."),
    metric: str = typer.Option("ttft_p95_ms", "--metric", "-m", help="A metric check knows."),
    since: str | None = typer.Option(None, "--since", help="30d, 12h, 2w or a date."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    config: Path | None = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """One target's metric over time: a sparkline and the figures, or JSON/CSV."""
    from costcli.render.history import SERIES_RENDERERS
    from costcli.results.regress import find_metric

    if fmt not in SERIES_FORMATS:
        raise BadInputError(f"--format {fmt}: use one of {', '.join(SERIES_FORMATS)}")
    name = find_metric(metric, "--metric").name
    cutoff = parse_since(since)
    where, bench = resolve_db(db, config)
    with open_db(where) as store:
        chosen = default_target(store, target, bench)
        points = store.series(chosen, name, cutoff)
    typer.echo(SERIES_RENDERERS[fmt](points, chosen, name), nl=False)


def history_report(
    inputs: tuple[list[Path] | None, Path | None, bool],
    since: str | None,
    db: str | None,
    config: Path | None,
    output: tuple[Path | None, str],
) -> None:
    """`costcli report --history`: every stored target's figures over time. `inputs`:
    report's results files, --projection and --history (files are refused with --history)."""
    results, projection, wanted = inputs
    html, fmt = output
    if results or projection is not None or not wanted:
        raise BadInputError(
            "--history charts the history store: give it without results files or "
            "--projection (and --since/--db only with --history)"
        )
    from costcli.render.history_html import HISTORY_METRICS, History, render_history_markdown
    from costcli.results.document import check_writable, write_or_refuse

    if fmt != "markdown":
        raise BadInputError(f"--format {fmt}: --history reports as markdown (and --html)")
    if html is not None:
        check_writable(html, "--html")
    cutoff = parse_since(since)
    with open_db(resolve_db(db, config)[0]) as store:
        targets = [t for t, _ in store.targets()]
        series = {
            name: {t: store.series(t, name, cutoff) for t in targets} for name, _ in HISTORY_METRICS
        }
        history = History(series, store.name, cutoff)
    if html is not None:
        from costcli.render.history_html import render_history
        from costcli.render.html import PlotlyMissingError

        try:
            page = render_history(history)
        except PlotlyMissingError:
            raise BadInputError(
                "--html needs plotly: install `costcli[report]` (pip install 'costcli[report]')"
            ) from None
        write_or_refuse(html, page, "--html")
        typer.echo(f"report written to {html}", err=True)
    typer.echo(render_history_markdown(history), nl=False)
