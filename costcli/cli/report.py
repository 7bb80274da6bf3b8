"""`costcli report`: compare runs and targets as Markdown, CSV, or one offline HTML page.

    costcli report base.json new.json --html report.html [--projection projection.json]

The HTML page (charts by plotly, behind the `report` extra) is written to `--html`; the
Markdown or CSV table goes to stdout.
"""

from __future__ import annotations

from pathlib import Path

import typer

from costcli.files.errors import BadInputError

REPORT_FORMATS = ("markdown", "csv")


HISTORY = typer.Option(
    False,
    "--history",
    help="Chart the history store over time instead of results files.",
    rich_help_panel="History",
)
SINCE = typer.Option(
    None, "--since", help="--history: runs since 30d, 12h, 2w or a date.", rich_help_panel="History"
)
DB = typer.Option(
    None, "--db", help="--history: the store (as costcli history).", rich_help_panel="History"
)
CONFIG = typer.Option(
    None,
    "--config",
    help="--history: the benchmark file naming the store.",
    rich_help_panel="History",
)


def run_names(paths: list[Path]) -> list[str]:
    """Short names for the runs: file stems, or whole paths where stems collide."""
    stems = [p.stem for p in paths]
    return stems if len(set(stems)) == len(stems) else [str(p) for p in paths]


def report_command(
    results: list[Path] = typer.Argument(
        None, help="One or more costcli results files (none with --history)."
    ),
    projection: Path | None = typer.Option(
        None,
        "--projection",
        rich_help_panel="Inputs",
        help="`costcli project --format json` output to chart.",
    ),
    fmt_: str = typer.Option(
        "markdown", "--format", "-f", help="markdown or csv.", rich_help_panel="Output"
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Write a self-contained HTML report here.", rich_help_panel="Output"
    ),
    history: bool = HISTORY,
    since: str | None = SINCE,
    db: str | None = DB,
    config: Path | None = CONFIG,
) -> None:
    """Compare runs and targets: a table, and with --html a page of charts that opens offline."""
    if history or since is not None or db is not None:
        from costcli.cli.history import history_report

        history_report((results, projection, history), since, db, config, (html, fmt_))
        return
    if not results:
        raise BadInputError("report: name one or more results files, or pass --history")
    from costcli.api import read_result
    from costcli.pricing.projection import read_projection
    from costcli.render.report import render_csv, render_markdown
    from costcli.results.document import check_writable, write_or_refuse

    if fmt_ not in REPORT_FORMATS:
        raise BadInputError(f"--format {fmt_}: use one of {', '.join(REPORT_FORMATS)}")
    if html is not None:
        check_writable(html, "--html")
    runs = list(zip(run_names(results), (read_result(p) for p in results), strict=True))
    proj = read_projection(projection) if projection is not None else None
    if html is not None:
        from costcli.render.html import PlotlyMissingError, render

        try:
            page = render(runs, proj)
        except PlotlyMissingError:
            raise BadInputError(
                "--html needs plotly: install `costcli[report]` (pip install 'costcli[report]')"
            ) from None
        write_or_refuse(html, page, "--html")
        typer.echo(f"report written to {html}", err=True)
    typer.echo((render_csv if fmt_ == "csv" else render_markdown)(runs), nl=False)
