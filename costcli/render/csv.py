"""One CSV row per target, raw numbers (no rounding), stable column names."""

from __future__ import annotations

import csv
import io

from costcli.render.rows import COLUMNS, WORKLOAD_COLUMNS, rows
from costcli.results.document import RunResult


def render(result: RunResult) -> str:
    buf = io.StringIO()
    fields = [key for key, _ in COLUMNS] + ["stale_price"] + [key for key, _ in WORKLOAD_COLUMNS]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows(result):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()
