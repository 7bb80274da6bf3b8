"""The history store's runs and series as text: a table of runs, a series with a sparkline,
and the series as JSON or CSV. Pure: `render_*(x) -> str`."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence

from costcli.results.history.store import Point, StoredRun

SPARKS = "▁▂▃▄▅▆▇█"
LIST_METRICS = ("ttft_p95_ms", "e2e_p95_ms", "error_rate", "cost_per_1k_requests_usd")


def sparkline(values: Sequence[float]) -> str:
    """One block per value, scaled from the lowest (▁) to the highest (█)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = high - low
    out = []
    for v in values:
        if not math.isfinite(v):
            out.append(" ")
        elif span == 0:
            out.append(SPARKS[len(SPARKS) // 2])
        else:
            out.append(SPARKS[min(len(SPARKS) - 1, int((v - low) / span * len(SPARKS)))])
    return "".join(out)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


def render_runs(runs: Sequence[StoredRun], store: str) -> str:
    """The runs, newest first: one line per run and target."""
    if not runs:
        return f"no runs in {store}\n"
    header = ["run", "started (UTC)", "workload", "target", *LIST_METRICS, "labels"]
    rows = [header]
    for run in runs:
        for target in run.targets or ["-"]:
            figures = run.metrics.get(target, {})
            rows.append(
                [
                    str(run.id),
                    run.started_at[:19].replace("T", " "),
                    run.workload,
                    target,
                    *(_num(figures.get(m)) for m in LIST_METRICS),
                    _labels(run.labels),
                ]
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines) + f"\n{len(runs)} run(s) in {store}\n"


def render_series(points: Sequence[Point], target: str, metric: str) -> str:
    """The series as a sparkline and a table, oldest first; price changes marked."""
    if not points:
        return f"no stored figure of {metric} for {target}\n"
    values = [p.value for p in points]
    lines = [
        f"{target} {metric}: {len(points)} run(s)",
        f"{sparkline(values)}  min {_num(min(values))}  max {_num(max(values))}  "
        f"last {_num(values[-1])}",
        "",
        f"{'run':>5}  {'started (UTC)':19}  {metric:>14}  prices as of",
    ]
    previous: str | None = None
    for p in points:
        mark = "" if previous is None or p.price_as_of == previous else "  <- prices changed"
        previous = p.price_as_of
        lines.append(
            f"{p.run_id:>5}  {p.started_at[:19].replace('T', ' '):19}  {_num(p.value):>14}  "
            f"{p.price_as_of or '-'}{mark}"
        )
    return "\n".join(lines) + "\n"


def series_rows(points: Sequence[Point]) -> list[dict[str, object]]:
    return [
        {
            "run": p.run_id,
            "started_at": p.started_at,
            "value": p.value,
            "price_as_of": p.price_as_of,
            "labels": p.labels,
        }
        for p in points
    ]


def render_series_json(points: Sequence[Point], target: str, metric: str) -> str:
    doc = {"target": target, "metric": metric, "points": series_rows(points)}
    return json.dumps(doc, indent=2) + "\n"


def render_series_csv(points: Sequence[Point], target: str, metric: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", "started_at", "target", "metric", "value", "price_as_of", "labels"])
    for p in points:
        writer.writerow(
            [
                p.run_id,
                p.started_at,
                target,
                metric,
                repr(p.value),
                p.price_as_of or "",
                _labels(p.labels),
            ]
        )
    return out.getvalue()


SERIES_RENDERERS = {"table": render_series, "json": render_series_json, "csv": render_series_csv}
