"""`costcli recover`: a run's journal (after a kill, a crash, a lost results file) -> the
results document of what it measured."""

from __future__ import annotations

from pathlib import Path

import typer

from costcli.files.errors import BadInputError
from costcli.render import FORMATS


def recover_command(
    journals: list[Path] = typer.Argument(
        ...,
        help="The run's journal (NAME.journal.jsonl); a split run's parts are found from it. "
        "Several: the journals of the shards of one run, joined.",
        metavar="JOURNAL...",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write the results document here (atomically).",
        rich_help_panel="Output",
    ),
    fmt: str = typer.Option(
        "table", "--format", "-f", help="table, json, csv or markdown.", rich_help_panel="Output"
    ),
) -> None:
    """Turn a journal into a results document: every figure from the records it holds,
    `complete: false` unless the run had ended on its own."""
    from costcli.cli.options import stderr_console
    from costcli.cli.run import echo
    from costcli.engines.journaled import recover
    from costcli.render import renderer
    from costcli.results.document import check_writable, dumps, write_or_refuse

    if fmt not in FORMATS:
        raise BadInputError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if output is not None:
        check_writable(output, "--output")
    result, notes = recover(journals)
    for note in notes:
        stderr_console().print(f"costcli: note: {note}", highlight=False)
    if output is not None:
        write_or_refuse(output, dumps(result), "--output")
    echo(renderer(fmt)(result))
    requests = sum(
        sum(p.summary.requests.total for p in t.sweep or t.search or [])
        if t.sweep or t.search
        else t.summary.requests.total
        for t in result.targets
    )
    stderr_console().print(
        f"costcli: recovered {requests} requests from {len(journals)} journal(s)"
        + (f"; results written to {output}" if output else ""),
        highlight=False,
    )
