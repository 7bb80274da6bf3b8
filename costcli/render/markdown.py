"""A GitHub-flavoured Markdown comparison table."""

from __future__ import annotations

from costcli.render.repeats import repeat_lines
from costcli.render.rows import (
    client_lines,
    columns_for,
    error_lines,
    fmt,
    price_lines,
    rows,
    schedule_lines,
    turn_lines,
)
from costcli.results.document import RunResult


def render(result: RunResult) -> str:
    all_rows = rows(result)
    columns = columns_for(all_rows)
    lines = [
        f"**costcli** · workload `{result.meta.workload.name}` · {result.meta.started_at}",
        "",
        "| " + " | ".join(title for _, title in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in all_rows:
        lines.append("| " + " | ".join(fmt(row[key], key) for key, _ in columns) + " |")
    turns = turn_lines(result)
    if turns:
        lines += ["", *(f"- {line}" for line in turns)]
    repeats = repeat_lines(result)
    if repeats:
        lines += ["", *(f"- {line}" for line in repeats)]
    errors = error_lines(result)
    if errors:
        lines += ["", "Errors: " + "; ".join(errors)]
    stale = price_lines(result)
    if stale:
        lines += ["", "; ".join(stale)]
    lines += [f"\n{line}" for line in schedule_lines(result)]
    lines += [f"\n**Warning:** {line}" for line in client_lines(result)]
    if not result.complete:
        lines += ["", "_Incomplete run: interrupted before every request finished._"]
    return "\n".join(lines) + "\n"
