"""The terminal comparison table (Rich), rendered to a string."""

from __future__ import annotations

import io
import os
import shutil

from rich.console import Console
from rich.table import Table

from costcli.render.rows import (
    CAPTION,
    COLUMNS,
    client_lines,
    error_lines,
    fmt,
    price_lines,
    rows,
)
from costcli.results import RunResult


def render(result: RunResult, width: int | None = None) -> str:
    # one row per metric, one column per target: fits a terminal whatever the metric count
    table = Table(
        title=f"costcli · {result.meta.workload.name}",
        title_justify="left",
    )
    all_rows = rows(result)
    table.add_column("metric", justify="left", no_wrap=True)
    for row in all_rows:
        table.add_column(str(row["target"]), justify="right", no_wrap=True)
    for key, title in COLUMNS[1:]:
        table.add_row(title, *(fmt(row[key], key) for row in all_rows))
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width or max(100, shutil.get_terminal_size((160, 24)).columns),
        force_terminal=False,
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,
        emoji=False,
        markup=False,
    )
    console.print(table)
    console.print(CAPTION)
    for line in error_lines(result):
        console.print(f"errors · {line}")
    for line in price_lines(result):
        console.print(line)
    for t in result.targets:
        s = t.summary
        if s.output_check:
            oc = s.output_check
            console.print(
                f"{t.label}: {oc.valid}/{oc.checked} answers matched the JSON schema "
                f"({oc.valid_share:.0%})"
            )
        if s.server:
            parts = [
                f"{name} p50 {p.p50:.1f} ms"
                for name, p in (
                    ("queue", s.server.queue_ms),
                    ("prefill", s.server.prefill_ms),
                    ("decode", s.server.decode_ms),
                )
                if p is not None
            ]
            console.print(f"{t.label}: server reports " + ", ".join(parts))
        if s.goodput:
            console.print(
                f"{t.label}: goodput {s.goodput.requests_per_s:.2f} req/s "
                f"({s.goodput.attainment:.0%} of requests met the SLO)"
            )
        if t.sweep:
            for point in t.sweep:
                ps = point.summary
                ttft = f"{ps.ttft_ms.p95:.0f}" if ps.ttft_ms else "-"
                mark = "meets SLO" if point.meets_slo else "misses SLO"
                console.print(
                    f"{t.label} @ {point.load}: {ps.throughput.requests_per_s:.2f} req/s, "
                    f"TTFT p95 {ttft} ms, errors {ps.error_rate:.0%} · {mark}"
                )
            if t.capacity_rps is not None:
                console.print(
                    f"{t.label}: capacity {t.capacity_rps:.2f} req/s at {t.capacity_load}"
                )
            else:
                console.print(f"{t.label}: no load point met the SLO")
        if t.stopped:
            console.print(f"{t.label}: stopped early ({t.stopped})")
    for line in client_lines(result):
        console.print(f"warning: {line}")
    if not result.complete:
        console.print("incomplete run: interrupted; what was measured is kept")
    return buf.getvalue()
