"""`costcli check`: the CI gate. Budgets against a baseline, limits on the run alone.

Exit 0 when every check holds, 1 on any regression or breached limit, 2 on bad input.
Writes a Markdown verdict to `$GITHUB_STEP_SUMMARY` when set and JUnit XML with `--junit`
(renderers: costcli/render/verdict.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from costcli.files.errors import BadInputError

if TYPE_CHECKING:
    pass

CHECK_FORMATS = ("table", "json", "markdown")


def _summary_error(path: Path, why: str) -> BadInputError:
    return BadInputError(
        f"GITHUB_STEP_SUMMARY={path}: {why}; point it at a writable file or unset it"
    )


def _check_summary_file(path: Path) -> None:
    """Refuse a step summary that cannot be appended to before judging anything."""
    if path.is_dir():
        raise _summary_error(path, "is a folder")
    if not path.parent.is_dir():
        raise _summary_error(path, f"{path.parent} is not a folder")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise _summary_error(path, "not writable")


def _append_summary(path: Path, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise _summary_error(path, f"cannot be appended to ({exc.strerror or exc})") from None


def check_command(
    results: Path = typer.Argument(..., help="The results file of this run."),
    baseline: Path | None = typer.Option(
        None, "--baseline", help="Results file to compare against."
    ),
    budget: list[str] = typer.Option(
        [], "--budget", help="METRIC=+10% or METRIC=+50: how much worse than the baseline."
    ),
    limit: list[str] = typer.Option(
        [], "--limit", help="METRIC=VALUE: an SLO, error budget or cost ceiling on this run."
    ),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML here."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or markdown."),
    resamples: int = typer.Option(2000, "--resamples", min=100, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 2, not 1, when a check could not be evaluated at all."
    ),
) -> None:
    """Gate a run: budgets against a baseline, limits on the run; exit 1 on any failure."""
    from costcli.api import check, read_result
    from costcli.render.verdict import RENDERERS, render_junit, render_markdown
    from costcli.results.document import check_writable, write_or_refuse
    from costcli.results.regress import gate, parse_budget, parse_limit

    if fmt not in CHECK_FORMATS:
        raise BadInputError(f"--format {fmt}: use one of {', '.join(CHECK_FORMATS)}")
    budgets = [parse_budget(b) for b in budget]
    limits = [parse_limit(v) for v in limit]
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        _check_summary_file(Path(summary))
    if junit is not None:
        check_writable(junit, "--junit")
    current = read_result(results)
    base = read_result(baseline) if baseline is not None else None
    verdict = check(
        current,
        base,
        budgets,
        limits,
        current_name=str(results),
        baseline_name=str(baseline),
        resamples=resamples,
        seed=seed,
    )
    typer.echo(RENDERERS[fmt](verdict), nl=False)
    if summary:
        _append_summary(Path(summary), render_markdown(verdict) + "\n")
    if junit is not None:
        write_or_refuse(junit, render_junit(verdict), "--junit")
    code = gate(verdict, strict=strict)
    if code:
        raise typer.Exit(code)
