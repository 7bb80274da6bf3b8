"""`costcli report`: several runs and targets side by side, as Markdown or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from costcli.render.rows import COLUMNS, fmt, target_row
from costcli.results.document import RunResult

REPORT_FORMATS = ("markdown", "csv")


def labelled_rows(runs: list[tuple[str, RunResult]]) -> list[dict[str, Any]]:
    """One row per target of each run; the run's name leads the label when there are several."""
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


def render_markdown(runs: list[tuple[str, RunResult]]) -> str:
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
    buf = io.StringIO()
    fields = ["run", "workload", *(key for key, _ in COLUMNS)]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in labelled_rows(runs):
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in fields})
    return buf.getvalue()
