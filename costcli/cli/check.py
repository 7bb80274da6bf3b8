"""`costcli check`: the CI gate. Budgets against a baseline, limits on the run alone.

Exit 0 when every check holds, 1 on any regression or breached limit, 2 on bad input.
Writes a Markdown verdict to `$GITHUB_STEP_SUMMARY` when set and JUnit XML with `--junit`.
The renderers here are pure: `render_*(verdict) -> str`.
"""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from costcli.errors import BadInputError

if TYPE_CHECKING:
    from costcli.regress import CheckRow, Verdict

CHECK_FORMATS = ("table", "json", "markdown")
MARK = {"pass": "pass", "fail": "FAIL", "n/a": "n/a"}
MD_MARK = {"pass": "✅ pass", "fail": "❌ FAIL", "n/a": "➖ n/a"}


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def _change(row: CheckRow) -> str:
    if row.change is None:
        return "-"
    if row.relative:
        return f"{row.change * 100:+.1f}%"
    return f"{row.change:+.4g}"


def _interval(row: CheckRow) -> str:
    iv = row.interval
    if iv is None:
        return "-"
    if row.relative:
        return f"[{iv.low * 100:+.1f}%, {iv.high * 100:+.1f}%]"
    return f"[{iv.low:+.4g}, {iv.high:+.4g}]"


HEADER = ("status", "target", "metric", "check", "baseline", "current", "change", "95% CI", "why")


def _cells(row: CheckRow, marks: dict[str, str]) -> list[str]:
    kind = f"budget {row.threshold}" if row.kind == "budget" else f"limit {row.threshold}"
    return [
        marks[row.status],
        row.target,
        row.metric,
        kind,
        _num(row.baseline),
        _num(row.current),
        _change(row),
        _interval(row),
        row.reason,
    ]


def _headline(verdict: Verdict) -> str:
    n = len(verdict.rows)
    if verdict.passed:
        return f"costcli check: passed ({n} checks, workload {verdict.workload})"
    return (
        f"costcli check: FAILED {len(verdict.failures)} of {n} checks (workload {verdict.workload})"
    )


def render_table(verdict: Verdict, width: int = 160) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=_headline(verdict), title_justify="left")
    for col in HEADER:
        table.add_column(
            col, justify="right" if col in ("baseline", "current", "change") else "left"
        )
    for row in verdict.rows:
        table.add_row(*_cells(row, MARK))
    buf = io.StringIO()
    console = Console(
        file=buf, width=width, no_color=bool(os.environ.get("NO_COLOR")), highlight=False
    )
    console.print(table)
    for note in verdict.notes:
        console.print(f"note · {note}")
    return buf.getvalue()


def render_json(verdict: Verdict) -> str:
    return json.dumps(verdict.to_dict(), indent=2) + "\n"


def render_markdown(verdict: Verdict) -> str:
    icon = "✅" if verdict.passed else "❌"
    lines = [f"### {icon} {_headline(verdict)}", ""]
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "---|" * len(HEADER))
    for row in verdict.rows:
        cells = [c.replace("|", "\\|") for c in _cells(row, MD_MARK)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\n> {note}" for note in verdict.notes]
    return "\n".join(lines) + "\n"


def render_junit(verdict: Verdict) -> str:
    """One testcase per metric and target; a <failure> per breach, <skipped> where n/a."""
    suite = ET.Element(
        "testsuite",
        name="costcli check",
        tests=str(len(verdict.rows)),
        failures=str(len(verdict.failures)),
        errors="0",
        skipped=str(sum(r.status == "n/a" for r in verdict.rows)),
    )
    for row in verdict.rows:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"costcli.{row.target}",
            name=f"{row.metric} {row.kind} {row.threshold}",
        )
        if row.status == "fail":
            failure = ET.SubElement(case, "failure", message=row.reason, type=row.kind)
            failure.text = (
                f"{row.target} {row.metric}: baseline {_num(row.baseline)}, current "
                f"{_num(row.current)}, change {_change(row)}, CI {_interval(row)} ({row.method})"
            )
        elif row.status == "n/a":
            ET.SubElement(case, "skipped", message=row.reason)
    root = ET.Element("testsuites", name="costcli", tests=suite.get("tests", "0"))
    root.set("failures", suite.get("failures", "0"))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


RENDERERS = {"table": render_table, "json": render_json, "markdown": render_markdown}


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
    from costcli.regress import check, gate, parse_budget, parse_limit
    from costcli.results import check_writable, read_result, write_or_refuse

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
