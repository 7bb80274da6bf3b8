"""`costcli config show [NAME] [run options]`: the plan `costcli run` would run, every field
with where its value came from (the command line, the benchmark file, or the default),
and the benchmark's gate, projection scenario, results file and history store."""

from __future__ import annotations

import json
from typing import Any

import typer

from costcli.cli.options import command_of
from costcli.cli.run import PARSE, PLAN_NAMES, PRESENTATION, RunOptions
from costcli.files.errors import BadInputError

app = typer.Typer(help="The benchmark file, resolved.", no_args_is_help=True)
SHOW_FORMATS = ("table", "json")


def resolved(opts: RunOptions) -> dict[str, Any]:
    """The resolved benchmark as plain data (what `config show --format json` prints)."""
    from costcli.cli.benchmark import plan_rows, run_plan
    from costcli.files.benchmark import DB_ENV, history_db

    plan, bench, sources = run_plan(opts, PLAN_NAMES, PARSE, PRESENTATION)
    doc: dict[str, Any] = {
        "benchmark": bench.name if bench else None,
        "file": str(bench.file) if bench else None,
        "plan": {k: {"value": v, "source": s} for k, v, s in plan_rows(plan, sources)},
    }
    if bench is not None:
        from costcli.files.benchmark import unknown_keys
        from costcli.pricing.projection import ProjectionPlan

        where = f"{bench.file} [{bench.table}.project]"
        unknown_keys(where, bench.project, ProjectionPlan.model_fields)
        doc["gate"] = bench.gate.model_dump(mode="json")
        doc["project"] = bench.project
        doc["output"] = str(opts.output or bench.output)
        doc["history_on_run"] = bench.history or opts.history
        doc["labels"] = bench.labels
    import os

    db_source = (
        "command line (--db)"
        if opts.db
        else f"environment ({DB_ENV})"
        if os.environ.get(DB_ENV)
        else f"{bench.file} [history]"
        if bench is not None and bench.db
        else DEFAULT_SOURCE
    )
    from costcli.results.history.postgres import redacted

    db = redacted(history_db(opts.db, bench.db if bench else None))
    doc["history_db"] = {"value": db, "source": db_source}
    return doc


DEFAULT_SOURCE = "default"


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_resolved(doc: dict[str, Any]) -> str:
    if doc["benchmark"] is None:
        lines = ["no benchmark file here: the plan from the command line and defaults"]
    else:
        lines = [f"benchmark '{doc['benchmark']}' from {doc['file']}"]
    lines.append("")
    rows = [(k, _show(v["value"]), v["source"]) for k, v in doc["plan"].items()]
    width = max(len(k) for k, _, _ in rows)
    value_width = min(40, max(len(v) for _, v, _ in rows))
    lines += [f"  {k:<{width}}  {v:<{value_width}}  {s}" for k, v, s in rows]
    if doc["benchmark"] is not None:
        gate = {k: v for k, v in doc["gate"].items() if v not in (None, [], False)}
        lines += ["", "gate (costcli check):"]
        lines += [f"  {k} = {_show(v)}" for k, v in gate.items()] or ["  (none)"]
        lines += ["", "projection (costcli project):"]
        lines += [f"  {k} = {_show(v)}" for k, v in doc["project"].items()] or ["  (defaults)"]
        lines += ["", f"results file: {doc['output']}"]
        lines.append(
            f"added to the history on every run: {'yes' if doc['history_on_run'] else 'no'}"
        )
    db = doc["history_db"]
    lines.append(f"history store: {db['value']}  ({db['source']})")
    return "\n".join(lines) + "\n"


def config_show(opts: RunOptions) -> None:
    """Print the plan `costcli run [NAME]` would run and where each value came from."""
    if opts.fmt not in SHOW_FORMATS:
        raise BadInputError(f"--format {opts.fmt}: use one of {', '.join(SHOW_FORMATS)}")
    doc = resolved(opts)
    if opts.fmt == "json":
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(render_resolved(doc), nl=False)


show_command = command_of(RunOptions, config_show)
show_command.__name__ = "show"
app.command("show")(show_command)
