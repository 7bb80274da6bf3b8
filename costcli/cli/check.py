"""`costcli check`: the CI gate. Budgets against a baseline, limits on the run alone.

Exit 0 when every check holds, 1 on any regression or breached limit, 2 on bad input.
Writes a Markdown verdict to `$GITHUB_STEP_SUMMARY` when set and JUnit XML with `--junit`
(renderers: costcli/render/verdict.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import typer

from costcli.cli.options import command_of
from costcli.files.errors import BadInputError

CHECK_FORMATS = ("table", "json", "markdown")
BASELINE, LIMITS, OUTPUT = "Against a baseline", "On this run alone", "Output"
BENCH = "Benchmark file and history"


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


@dataclass(frozen=True)
class CheckOptions:
    """`costcli check`'s options, each declared once: flag, help and panel."""

    results: Path | None = typer.Argument(
        None, help="The results file of this run (default: the benchmark file's benchmark's)."
    )
    baseline: str | None = typer.Option(
        None,
        "--baseline",
        help="Results file, or history:last, history:best-of:N[:METRIC], history:label=KEY=VALUE.",
        rich_help_panel=BASELINE,
    )
    budget: list[str] = typer.Option(
        [],
        "--budget",
        rich_help_panel=BASELINE,
        help="METRIC=+10% or METRIC=+50: how much worse than the baseline.",
    )
    resamples: int = typer.Option(
        2000, "--resamples", min=100, help="Bootstrap resamples.", rich_help_panel=BASELINE
    )
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed.", rich_help_panel=BASELINE)
    limit: list[str] = typer.Option(
        [],
        "--limit",
        rich_help_panel=LIMITS,
        help="METRIC=VALUE: an SLO, error budget or cost ceiling on this run.",
    )
    strict: bool = typer.Option(
        False,
        "--strict",
        rich_help_panel=LIMITS,
        help="Exit 2, not 1, when a check could not be evaluated at all.",
    )
    fmt: str = typer.Option(
        "table", "--format", "-f", help="table, json or markdown.", rich_help_panel=OUTPUT
    )
    junit: Path | None = typer.Option(
        None, "--junit", help="Write JUnit XML here.", rich_help_panel=OUTPUT
    )
    benchmark: str | None = typer.Option(
        None,
        "--benchmark",
        help="A benchmark of the benchmark file: its results and [gate] (default: its default).",
        rich_help_panel=BENCH,
    )
    config: Path | None = typer.Option(
        None, "--config", help="The benchmark file (default ./costcli.toml).", rich_help_panel=BENCH
    )
    db: str | None = typer.Option(
        None, "--db", help="History store for --baseline history:...", rich_help_panel=BENCH
    )


def check_run(opts: CheckOptions) -> None:
    """Gate a run: budgets against a baseline, limits on the run; exit 1 on any failure."""
    from costcli.api import check, read_result
    from costcli.cli.gate import gated_options, load_baseline
    from costcli.render.verdict import RENDERERS, render_junit, render_markdown
    from costcli.results.document import check_writable, write_or_refuse
    from costcli.results.regress import gate, parse_budget, parse_limit

    if opts.fmt not in CHECK_FORMATS:
        raise BadInputError(f"--format {opts.fmt}: use one of {', '.join(CHECK_FORMATS)}")
    opts = gated_options(opts)  # the benchmark file's results and [gate] under the flags given
    assert opts.results is not None
    budgets = [parse_budget(b) for b in opts.budget]
    limits = [parse_limit(v) for v in opts.limit]
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        _check_summary_file(Path(summary))
    if opts.junit is not None:
        check_writable(opts.junit, "--junit")
    current = read_result(opts.results)
    base, base_name = load_baseline(opts, current, budgets)
    verdict = check(
        current,
        base,
        budgets,
        limits,
        current_name=str(opts.results),
        baseline_name=base_name,
        resamples=opts.resamples,
        seed=opts.seed,
    )
    typer.echo(RENDERERS[opts.fmt](verdict), nl=False)
    if summary:
        _append_summary(Path(summary), render_markdown(verdict) + "\n")
    if opts.junit is not None:
        write_or_refuse(opts.junit, render_junit(verdict), "--junit")
    code = gate(verdict, strict=opts.strict)
    if code:
        raise typer.Exit(code)


check_command = command_of(CheckOptions, check_run)
