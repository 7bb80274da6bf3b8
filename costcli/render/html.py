"""The HTML report: one self-contained page of plotly charts that opens offline.

`render(runs, projection) -> str` is pure. plotly (the `report` extra) draws the charts and
its JavaScript bundle is inlined once, so the page loads no script, font or image from the
network. Charts: latency CDFs per target, TTFT/TPOT/E2E percentile bars, cost vs p95
latency, and, given `costcli project --format json` output, monthly cost against volume
with the break-even points.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from costcli import __version__
from costcli.render.rows import COLUMNS, fmt, target_row
from costcli.results.document import RunResult, TargetResult
from costcli.results.metrics import Percentiles

CDF_MAX_POINTS = 2000
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
PCT_POINTS = (("min", 0.0), ("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
CONFIG = {"displaylogo": False, "responsive": True}


class PlotlyMissingError(ImportError):
    """plotly is not installed: `pip install 'costcli[report]'`."""


@dataclass(frozen=True)
class Series:
    """One target of one run, with its colour across every chart."""

    label: str
    target: TargetResult
    color: str


def _series(runs: Sequence[tuple[str, RunResult]]) -> list[Series]:
    out: list[Series] = []
    for name, result in runs:
        for t in result.targets:
            label = f"{t.label}"
            if len(runs) > 1:
                label = f"{name} · {label}"
            out.append(Series(label, t, PALETTE[len(out) % len(PALETTE)]))
    return out


def _record_values(t: TargetResult, key: str) -> list[float]:
    values = []
    for r in t.records or ():
        v = getattr(r, key, None)
        if r.ok and isinstance(v, (int, float)):
            values.append(float(v))
    return sorted(values)


def cdf_points(t: TargetResult, key: str) -> tuple[list[float], list[float], bool]:
    """(x, y, from_records): the empirical CDF from records, else the percentile points."""
    values = _record_values(t, key)
    if values:
        n = len(values)
        step = max(1, n // CDF_MAX_POINTS)
        idx = list(range(0, n, step))
        if idx[-1] != n - 1:
            idx.append(n - 1)
        return [values[i] for i in idx], [(i + 1) / n for i in idx], True
    p: Percentiles | None = getattr(t.summary, key)
    if p is None:
        return [], [], False
    return [float(getattr(p, s)) for s, _ in PCT_POINTS], [q for _, q in PCT_POINTS], False


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError as exc:
        raise PlotlyMissingError("plotly is not installed; pip install 'costcli[report]'") from exc
    return go, make_subplots


LATENCIES = (("ttft_ms", "TTFT"), ("tpot_ms", "TPOT"), ("e2e_ms", "E2E"))


def cdf_figure(series: Sequence[Series]) -> Any:
    go, make_subplots = _plotly()
    fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{n} (ms)" for _, n in LATENCIES])
    for col, (key, _) in enumerate(LATENCIES, start=1):
        for s in series:
            x, y, exact = cdf_points(s.target, key)
            if not x:
                continue
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    name=s.label,
                    legendgroup=s.label,
                    showlegend=col == 1,
                    mode="lines" if exact else "lines+markers",
                    line={
                        "color": s.color,
                        "shape": "hv" if exact else "linear",
                        "dash": "solid" if exact else "dot",
                    },
                    hovertemplate="%{x:.1f} ms: %{y:.0%}<extra>"
                    + html.escape(s.label)
                    + "</extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    fig.update_yaxes(title_text="share of requests", row=1, col=1)
    fig.update_layout(height=380, template="plotly_white", margin={"t": 40, "b": 40})
    return fig


def bars_figure(series: Sequence[Series]) -> Any:
    go, make_subplots = _plotly()
    stats = ("p50", "p90", "p95", "p99")
    fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{n} (ms)" for _, n in LATENCIES])
    for col, (key, _) in enumerate(LATENCIES, start=1):
        for s in series:
            p: Percentiles | None = getattr(s.target.summary, key)
            if p is None:
                continue
            fig.add_trace(
                go.Bar(
                    x=list(stats),
                    y=[float(getattr(p, q)) for q in stats],
                    name=s.label,
                    legendgroup=s.label,
                    showlegend=col == 1,
                    marker_color=s.color,
                ),
                row=1,
                col=col,
            )
    fig.update_layout(
        barmode="group", height=380, template="plotly_white", margin={"t": 40, "b": 40}
    )
    return fig


def cost_figure(series: Sequence[Series]) -> tuple[Any, list[str]]:
    """Cost per 1k requests against E2E p95; the unpriced targets are returned apart."""
    go, _ = _plotly()
    fig = go.Figure()
    unpriced = []
    for s in series:
        cost, p = s.target.cost_per_1k_requests_usd, s.target.summary.e2e_ms
        if cost is None or p is None:
            unpriced.append(s.label)
            continue
        fig.add_trace(
            go.Scatter(
                x=[p.p95],
                y=[cost],
                name=s.label,
                mode="markers+text",
                text=[s.label],
                textposition="top center",
                marker={"size": 14, "color": s.color},
                hovertemplate="E2E p95 %{x:.0f} ms, $%{y:.4f} per 1k requests<extra></extra>",
            )
        )
    if not fig.data:
        fig.add_annotation(
            text="no priced target in these runs", showarrow=False, x=0.5, y=0.5,
            xref="paper", yref="paper",
        )  # fmt: skip
    fig.update_layout(
        height=420,
        template="plotly_white",
        xaxis={"title": "E2E p95 latency (ms) · lower is better", "rangemode": "tozero"},
        yaxis={"title": "USD per 1k requests · lower is better", "rangemode": "tozero"},
        margin={"t": 30, "b": 50},
    )
    return fig, unpriced


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def projection_curves(projection: dict[str, Any]) -> list[dict[str, Any]]:
    """The cost-against-volume curves of `costcli project --format json` (its `curves`),
    computed by the same projectors as its table; malformed entries are skipped."""
    curves = []
    for c in projection.get("curves") or ():
        if not isinstance(c, dict):
            continue
        xs, ys = c.get("requests_per_month"), c.get("monthly_cost_usd")
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
            continue
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if _number(x) and _number(y)]
        curves.append(
            {
                "label": str(c.get("label")),
                "kind": c.get("kind"),
                "x": [x for x, _ in points],
                "y": [y for _, y in points],
            }
        )
    return curves


def _volume(v: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= size:
            return f"{v / size:.3g}{suffix}"
    return f"{v:.0f}"


def projection_figure(projection: dict[str, Any]) -> Any:
    go, _ = _plotly()
    scenario = projection.get("scenario") or {}
    base = _number(scenario.get("requests_per_month")) or 1_000_000.0
    evens = [
        b for b in projection.get("break_even") or () if isinstance(b, dict)
        and _number(b.get("requests_per_month")) and _number(b.get("monthly_cost_usd"))
    ]  # fmt: skip
    curves = projection_curves(projection)
    fig = go.Figure()
    for i, c in enumerate(curves):
        fig.add_trace(
            go.Scatter(
                x=c["x"],
                y=c["y"],
                name=c["label"],
                mode="lines",
                line={
                    "color": PALETTE[i % len(PALETTE)],
                    "shape": "hv" if c["kind"] == "self_hosted" else "linear",
                },
            )
        )
    for b in evens:
        v = float(b["requests_per_month"])
        fig.add_trace(
            go.Scatter(
                x=[v],
                y=[float(b["monthly_cost_usd"])],
                mode="markers+text",
                marker={"symbol": "diamond", "size": 12, "color": "black"},
                text=[f"break-even {_volume(v)}/month"],
                textposition="bottom right",
                hovertext=[
                    f"{b.get('hardware')} costs no more than {b.get('api')} from {v:,.0f} requests/month"
                ],
                hoverinfo="text",
                name=f"break-even vs {b.get('api')}",
                showlegend=False,
            )
        )
    fig.add_vline(x=base, line_dash="dash", line_color="#888", annotation_text="scenario")
    fig.update_layout(
        height=460,
        template="plotly_white",
        xaxis={"type": "log", "title": "requests per month"},
        yaxis={"type": "log", "title": "USD per month"},
        margin={"t": 30, "b": 50},
    )
    return fig


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1280px; color: #222; padding: 0 16px; }
h1 { font-size: 1.5rem; margin-bottom: 4px; } h2 { font-size: 1.15rem; margin-top: 28px; }
.meta, .note { color: #555; font-size: 0.9rem; }
table { border-collapse: collapse; font-size: 0.85rem; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.chart { min-height: 380px; }
"""


def _table(series_rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(fmt(row[key], key))}</td>" for key, _ in COLUMNS)
        + "</tr>"
        for row in series_rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(
    runs: Sequence[tuple[str, RunResult]],
    projection: dict[str, Any] | None = None,
    *,
    generated_at: datetime | None = None,
) -> str:
    """The whole page as one string; plotly.js is inlined in the first chart."""
    _plotly()
    series = _series(runs)
    rows = []
    for s in series:
        row = target_row(s.target)
        row["target"] = s.label
        rows.append(row)
    parts = [_section(i, *chart) for i, chart in enumerate(_charts(series, projection))]
    workloads = ", ".join(sorted({html.escape(r.meta.workload.name) for _, r in runs}))
    names = ", ".join(html.escape(n) for n, _ in runs)
    when = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>costcli report · {workloads}</title><style>{STYLE}</style></head><body>"
        f'<h1>costcli report</h1><p class="meta">runs: {names} · workload: {workloads} · '
        f"costcli {html.escape(__version__)} · {when}</p>"
        f"<section><h2>Summary</h2>{_table(rows)}</section>" + "".join(parts) + "</body></html>\n"
    )


def _charts(
    series: Sequence[Series], projection: dict[str, Any] | None
) -> list[tuple[str, str, Any, str]]:
    """(div id, title, figure, note) for each chart of the page."""
    cost_fig, unpriced = cost_figure(series)
    charts: list[tuple[str, str, Any, str]] = [
        (
            "chart-cdf",
            "Latency distribution (CDF)",
            cdf_figure(series),
            "Solid: every request (from --records). Dotted: percentile points only.",
        ),
        ("chart-bars", "TTFT / TPOT / E2E percentiles", bars_figure(series), ""),
        (
            "chart-cost",
            "Cost vs p95 latency",
            cost_fig,
            ("Unpriced (not shown): " + ", ".join(unpriced)) if unpriced else "",
        ),
    ]
    if projection is not None:
        charts.append(
            (
                "chart-projection",
                "Monthly cost vs volume",
                projection_figure(projection),
                "API cost grows with volume; self-hosted cost steps with the replicas the peak "
                "needs. Diamonds mark the break-even volumes.",
            )
        )
    return charts


def _section(i: int, div_id: str, title: str, fig: Any, note: str) -> str:
    """One chart as a page section; plotly.js is inlined in the first only."""
    chart = fig.to_html(
        full_html=False,
        include_plotlyjs=i == 0,
        include_mathjax=False,
        div_id=div_id,
        config=CONFIG,
        default_width="100%",
    )
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return (
        f'<section><h2>{html.escape(title)}</h2><div class="chart" data-chart="{div_id}">'
        f"{chart}</div>{note_html}</section>"
    )
