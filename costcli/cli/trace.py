"""`costcli trace analyze`: a Mooncake trace's rate, token shape, prefix sharing and
daily profile (costcli/workloads/trace_stats.py), streamed."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

app = typer.Typer(help="Mooncake traces: what a trace holds.", no_args_is_help=True)


class TraceFormat(str, Enum):
    table = "table"
    json = "json"


@app.command("analyze")
def analyze_command(
    file: Path = typer.Argument(..., help="A Mooncake trace (JSONL) or a folder of JSONL parts."),
    block_tokens: int = typer.Option(
        512, "--block-tokens", min=1, help="Tokens per hash_ids block (Mooncake: 512)."
    ),
    fmt: TraceFormat = typer.Option(TraceFormat.table, "--format", "-f", help="table or json."),
) -> None:
    """Requests, rates, token lengths, the prefix hit share and the hourly profile."""
    from costcli.render.trace import render_json, render_text
    from costcli.workloads.trace_stats import analyze_trace

    facts, notes = analyze_trace(file, block_tokens)
    for note in notes:
        typer.echo(f"costcli: note: {note}", err=True)
    typer.echo(render_json(facts) if fmt is TraceFormat.json else render_text(facts), nl=False)
