"""A GitHub-flavoured Markdown comparison table."""

from __future__ import annotations

from costcli.render.rows import COLUMNS, client_lines, error_lines, fmt, price_lines, rows
from costcli.results import RunResult


def render(result: RunResult) -> str:
    lines = [
        f"**costcli** · workload `{result.meta.workload.name}` · {result.meta.started_at}",
        "",
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows(result):
        lines.append("| " + " | ".join(fmt(row[key], key) for key, _ in COLUMNS) + " |")
    errors = error_lines(result)
    if errors:
        lines += ["", "Errors: " + "; ".join(errors)]
    stale = price_lines(result)
    if stale:
        lines += ["", "; ".join(stale)]
    lines += [f"\n**Warning:** {line}" for line in client_lines(result)]
    if not result.complete:
        lines += ["", "_Incomplete run: interrupted before every request finished._"]
    return "\n".join(lines) + "\n"
