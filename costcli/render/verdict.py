"""`costcli check` verdicts as text: table, JSON, Markdown (the step summary) and JUnit XML.

Pure `render_*(verdict) -> str`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from costcli.render.numbers import figure
from costcli.render.text import rich_text
from costcli.results.regress import CheckRow, Verdict

CHECK_FORMATS = ("table", "json", "markdown")
MARK = {"pass": "pass", "fail": "FAIL", "n/a": "n/a"}
MD_MARK = {"pass": "✅ pass", "fail": "❌ FAIL", "n/a": "➖ n/a"}


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
        figure(row.baseline),
        figure(row.current),
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
    from rich.table import Table

    table = Table(title=_headline(verdict), title_justify="left")
    for col in HEADER:
        table.add_column(
            col, justify="right" if col in ("baseline", "current", "change") else "left"
        )
    for row in verdict.rows:
        table.add_row(*_cells(row, MARK))
    return rich_text(table, *(f"note · {note}" for note in verdict.notes), width=width)


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
                f"{row.target} {row.metric}: baseline {figure(row.baseline)}, current "
                f"{figure(row.current)}, change {_change(row)}, CI {_interval(row)} ({row.method})"
            )
        elif row.status == "n/a":
            ET.SubElement(case, "skipped", message=row.reason)
    root = ET.Element("testsuites", name="costcli", tests=suite.get("tests", "0"))
    root.set("failures", suite.get("failures", "0"))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


RENDERERS = {"table": render_table, "json": render_json, "markdown": render_markdown}
