"""The history report: one self-contained page of time-series charts that opens offline.

`render_history(history) -> str` is pure, like the run report (costcli/render/html.py),
whose plotly bundle (inlined once), style and sections it shares. One chart per metric
(latency percentiles, error rate, cost per 1k requests), a line per target; a dotted
vertical line marks each run whose prices file date differs from that target's previous
run, so a cost step can be told from a price change. `render_history_markdown` is the
same history as a table (first, last, lowest, highest per target and metric).
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from costcli import __version__
from costcli.render.html import PALETTE, STYLE, _plotly, _section
from costcli.results.history.store import Point

HISTORY_METRICS = (
    ("ttft_p50_ms", "TTFT p50 (ms)"),
    ("ttft_p95_ms", "TTFT p95 (ms)"),
    ("ttft_p99_ms", "TTFT p99 (ms)"),
    ("tpot_p95_ms", "TPOT p95 (ms)"),
    ("e2e_p95_ms", "E2E p95 (ms)"),
    ("error_rate", "Error rate"),
    ("cost_per_1k_requests_usd", "Cost per 1k requests (USD)"),
)


@dataclass(frozen=True)
class History:
    """metric -> target -> points (oldest first), and where they came from."""

    series: Mapping[str, Mapping[str, Sequence[Point]]]
    store: str
    since: str | None = None


def price_changes(points: Sequence[Point]) -> list[Point]:
    """The points whose prices date differs from the previous point's (both known)."""
    return [
        p
        for prev, p in itertools.pairwise(points)
        if p.price_as_of and prev.price_as_of and p.price_as_of != prev.price_as_of
    ]


def metric_figure(title: str, by_target: Mapping[str, Sequence[Point]]) -> Any:
    go, _ = _plotly()
    fig = go.Figure()
    for i, (target, points) in enumerate(sorted(by_target.items())):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=[p.started_at for p in points],
                y=[p.value for p in points],
                name=target,
                mode="lines+markers",
                line={"color": color},
                customdata=[[p.run_id, p.price_as_of or "-"] for p in points],
                hovertemplate="run %{customdata[0]}: %{y:.4g}<br>prices as of %{customdata[1]}"
                f"<extra>{html.escape(target)}</extra>",
            )
        )
        for p in price_changes(points):
            fig.add_vline(
                x=p.started_at,
                line={"color": color, "dash": "dot", "width": 1},
                annotation_text=f"prices {p.price_as_of}",
                annotation_position="top left",
            )
    fig.update_layout(
        yaxis_title=title, xaxis_title="run started (UTC)", margin={"t": 30}, height=360
    )
    return fig


def render_history(history: History, *, generated_at: datetime | None = None) -> str:
    """The whole page; a metric no run recorded is left out."""
    _plotly()
    charts = [
        (f"chart-{name}", title, metric_figure(title, history.series[name]), "")
        for name, title in HISTORY_METRICS
        if any(history.series.get(name, {}).values())
    ]
    parts = [_section(i, *chart) for i, chart in enumerate(charts)]
    targets = sorted({t for by in history.series.values() for t, pts in by.items() if pts})
    runs = len({p.run_id for by in history.series.values() for pts in by.values() for p in pts})
    when = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    since = f" · since {html.escape(history.since[:19])}Z" if history.since else ""
    body = "".join(parts) or "<p>No stored run has these figures yet.</p>"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>costcli history · {html.escape(', '.join(targets))}</title>"
        f"<style>{STYLE}</style></head><body><h1>costcli history</h1>"
        f'<p class="meta">{runs} run(s) of {html.escape(", ".join(targets) or "no target")} '
        f"from {html.escape(history.store)}{since} · costcli {html.escape(__version__)} · "
        f"{when}</p>{body}</body></html>\n"
    )


def render_history_markdown(history: History) -> str:
    lines = [
        "| target | metric | runs | first | last | lowest | highest |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, _ in HISTORY_METRICS:
        for target, points in sorted(history.series.get(name, {}).items()):
            if not points:
                continue
            values = [p.value for p in points]
            figures = (values[0], values[-1], min(values), max(values))
            lines.append(
                f"| {target} | {name} | {len(points)} | "
                + " | ".join(f"{v:.4g}" for v in figures)
                + " |"
            )
    return "\n".join(lines) + "\n"
