"""`costcli report`: compare runs and targets as Markdown, CSV, or one offline HTML page.

    costcli report base.json new.json --html report.html [--projection projection.json]

The HTML page (charts by plotly, behind the `report` extra) is written to `--html`; the
Markdown or CSV table goes to stdout.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from costcli.errors import BadInputError

if TYPE_CHECKING:
    from costcli.results import RunResult

REPORT_FORMATS = ("markdown", "csv")


def labelled_rows(runs: list[tuple[str, RunResult]]) -> list[dict[str, Any]]:
    """One row per target of each run; the run's name leads the label when there are several."""
    from costcli.render.rows import target_row

    out = []
    for name, result in runs:
        for t in result.targets:
            row = target_row(t)
            row["run"] = name
            row["workload"] = result.meta.workload.name
            if len(runs) > 1:
                row["target"] = f"{name} · {row['target']}"
            out.append(row)
    return out


def run_names(paths: list[Path]) -> list[str]:
    """Short names for the runs: file stems, or whole paths where stems collide."""
    stems = [p.stem for p in paths]
    return stems if len(set(stems)) == len(stems) else [str(p) for p in paths]


def render_markdown(runs: list[tuple[str, RunResult]]) -> str:
    from costcli.render.rows import COLUMNS, fmt

    lines = ["## costcli report", ""]
    workloads = sorted({r.meta.workload.name for _, r in runs})
    lines.append(f"Runs: {', '.join(n for n, _ in runs)} · workload: {', '.join(workloads)}")
    lines.append("")
    lines.append("| " + " | ".join(title for _, title in COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    for row in labelled_rows(runs):
        cells = [fmt(row[key], key).replace("|", "\\|") for key, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_csv(runs: list[tuple[str, RunResult]]) -> str:
    from costcli.render.rows import COLUMNS

    buf = io.StringIO()
    fields = ["run", "workload", *(key for key, _ in COLUMNS)]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in labelled_rows(runs):
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in fields})
    return buf.getvalue()


def read_projection(path: Path) -> dict[str, Any]:
    """The JSON of `costcli project --format json`; only its general shape is required."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"{path}: cannot be read ({exc.strerror}); check the path") from None
    except ValueError as exc:
        raise BadInputError(
            f"{path}: not JSON ({exc}); pass `costcli project --format json` output"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("projections"), list):
        raise BadInputError(
            f"{path}: key 'projections' is missing; pass the output of `costcli project --format json`"
        )
    return doc


def report_command(
    results: list[Path] = typer.Argument(..., help="One or more costcli results files."),
    html: Path | None = typer.Option(
        None, "--html", help="Write a self-contained HTML report here."
    ),
    projection: Path | None = typer.Option(
        None, "--projection", help="`costcli project --format json` output to chart."
    ),
    fmt_: str = typer.Option("markdown", "--format", "-f", help="markdown or csv."),
) -> None:
    """Compare runs and targets: a table, and with --html a page of charts that opens offline."""
    from costcli.results import check_writable, read_result, write_or_refuse

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
