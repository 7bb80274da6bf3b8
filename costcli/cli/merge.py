"""`costcli merge`: shard results files (costcli run --shard i/N) -> one results document."""

from __future__ import annotations

from pathlib import Path

import typer

from costcli.files.errors import BadInputError
from costcli.render import FORMATS


def merge_command(
    files: list[Path] = typer.Argument(..., help="The results files of every shard of one run."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the merged results document here (atomically)."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or markdown."),
    records: bool = typer.Option(
        False, "--records", help="Keep every request's record in the merged results."
    ),
    prices: Path | None = typer.Option(
        None, "--prices", help="A prices.toml to price the merged run with."
    ),
) -> None:
    """Join the shards of one run; every figure is computed once, from all the records."""
    from costcli.cli.run import echo
    from costcli.engines.merge import merge_files
    from costcli.pricing.prices import load_prices
    from costcli.render import renderer
    from costcli.results.document import check_writable, dumps, write_or_refuse

    if fmt not in FORMATS:
        raise BadInputError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if output is not None:
        check_writable(output, "--output")
    result = merge_files(files, load_prices(prices), records)
    if output is not None:
        write_or_refuse(output, dumps(result), "--output")
    echo(renderer(fmt)(result))
