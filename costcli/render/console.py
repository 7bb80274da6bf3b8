"""The terminal comparison table (Rich), rendered to a string."""

from __future__ import annotations

from rich.table import Table

from costcli.render.repeats import repeat_lines
from costcli.render.rows import (
    CAPTION,
    client_lines,
    columns_for,
    error_lines,
    fmt,
    price_lines,
    rows,
    schedule_lines,
    turn_lines,
)
from costcli.render.text import rich_text
from costcli.results.document import RunResult, TargetResult
from costcli.results.metrics import ProviderBill, RunCost, ServerTelemetry
from costcli.results.server_metrics import ServerMetrics


def render(result: RunResult, width: int | None = None) -> str:
    # one row per metric, one column per target: fits a terminal whatever the metric count
    table = Table(title=f"costcli · {result.meta.workload.name}", title_justify="left")
    all_rows = rows(result)
    table.add_column("metric", justify="left", no_wrap=True)
    for row in all_rows:
        table.add_column(str(row["target"]), justify="right", no_wrap=True)
    for key, title in columns_for(all_rows)[1:]:
        table.add_row(title, *(fmt(row[key], key) for row in all_rows))
    lines = [CAPTION, *(f"errors · {line}" for line in error_lines(result))]
    lines += price_lines(result)
    lines += turn_lines(result)
    for t in result.targets:
        lines += target_lines(t)
    lines += [f"repeats · {line}" for line in repeat_lines(result)]
    lines += schedule_lines(result)
    lines += [f"warning: {line}" for line in client_lines(result)]
    if not result.complete:
        lines.append("incomplete run: interrupted; what was measured is kept")
    return rich_text(table, *lines, width=width)


def bill_line(label: str, bill: ProviderBill) -> str:
    """The provider's own bill beside costcli's price for the same requests."""
    apart = "" if bill.difference_pct is None else f" (costcli {bill.difference_pct:+.1f}%)"
    return (
        f"{label}: the provider billed ${bill.provider_usd:.6g} for {bill.requests} requests; "
        f"costcli's prices give ${bill.costcli_usd:.6g}{apart}"
    )


def target_lines(t: TargetResult) -> list[str]:
    """The sentences under the table for one target: checks, telemetry, goodput, sweep."""
    s = t.summary
    lines = []
    if s.quality:
        q = s.quality
        lines.append(f"{t.label}: {q.correct}/{q.graded} graded answers correct ({q.accuracy:.0%})")
    if s.tool_calls:
        tc = s.tool_calls
        lines.append(
            f"{t.label}: {tc.requests} requests called tools ({tc.calls} calls); "
            f"{tc.valid}/{tc.requests} with valid arguments ({tc.valid_share:.0%})"
        )
    if s.output_check and not s.tool_calls:
        oc = s.output_check
        lines.append(
            f"{t.label}: {oc.valid}/{oc.checked} answers matched the JSON schema "
            f"({oc.valid_share:.0%})"
        )
    if s.server:
        lines.append(server_line(t.label, s.server))
    if isinstance(s.cost, RunCost) and s.cost.provider_billed:
        lines.append(bill_line(t.label, s.cost.provider_billed))
    if s.goodput:
        lines.append(
            f"{t.label}: goodput {s.goodput.requests_per_s:.2f} req/s "
            f"({s.goodput.attainment:.0%} of requests met the SLO)"
        )
    lines += load_lines(t)
    if t.stopped:
        lines.append(f"{t.label}: stopped early ({t.stopped})")
    return lines


def server_line(label: str, server: ServerTelemetry) -> str:
    parts = [
        f"{name} p50 {p.p50:.1f} ms"
        for name, p in (
            ("queue", server.queue_ms),
            ("prefill", server.prefill_ms),
            ("decode", server.decode_ms),
        )
        if p is not None
    ]
    return f"{label}: server reports " + ", ".join(parts)


def load_lines(t: TargetResult) -> list[str]:
    """What the load points found: a sweep's or a search's, and the server's own view."""
    lines = sweep_lines(t) if t.sweep else []
    lines += search_lines(t) if t.search else []
    if t.server_metrics:
        lines.append(server_metrics_line(t.label, t.server_metrics))
    return lines


def search_lines(t: TargetResult) -> list[str]:
    """A capacity search's steps in the order they ran, then its answer."""
    lines = []
    for n, step in enumerate(t.search or [], 1):
        share = f"{step.slo_attainment:.0%} met the SLO" if step.slo_attainment is not None else ""
        ttft = f"TTFT p95 {step.ttft_p95_ms:.0f} ms" if step.ttft_p95_ms is not None else ""
        queue = (
            f"server queue max {step.requests_waiting_max:g}"
            if step.requests_waiting_max is not None
            else ""
        )
        figures = ", ".join(x for x in (f"{step.requests} requests", share, ttft, queue) if x)
        ended = f" ({step.ended})" if step.ended else ""
        lines.append(f"{t.label} search {n} @ {step.load}: {figures} · {step.verdict}{ended}")
    if t.capacity_rps is not None:
        lines.append(
            f"{t.label}: capacity {t.capacity_rps:.2f} req/s at {t.capacity_load} "
            f"(the highest load found within the SLO in {len(t.search or [])} steps)"
        )
    else:
        lines.append(f"{t.label}: no load the search tried met the SLO")
    return lines


def server_metrics_line(label: str, m: ServerMetrics) -> str:
    """What the server's own metrics said while the summary's point ran."""
    figures = [
        f"{name} {value:{form}}"
        for name, value, form in (
            ("running max", m.requests_running_max, "g"),
            ("waiting max", m.requests_waiting_max, "g"),
            ("KV cache max", m.kv_cache_usage_max, ".0%"),
            ("prefix cache hits", m.prefix_cache_hit_share, ".0%"),
            ("generated tok/s", m.generation_tokens_per_s, ".1f"),
        )
        if value is not None
    ]
    failed = f"; {m.failed} scrapes failed ({m.error})" if m.failed else ""
    said = ", ".join(figures) if figures else "no metric costcli reads"
    return f"{label}: server metrics ({m.samples} scrapes of {m.url}): {said}{failed}"


def sweep_lines(t: TargetResult) -> list[str]:
    lines = []
    for point in t.sweep or []:
        ps = point.summary
        ttft = f"{ps.ttft_ms.p95:.0f}" if ps.ttft_ms else "-"
        mark = "meets SLO" if point.meets_slo else "misses SLO"
        lines.append(
            f"{t.label} @ {point.load}: {ps.throughput.requests_per_s:.2f} req/s, "
            f"TTFT p95 {ttft} ms, errors {ps.error_rate:.0%} · {mark}"
        )
    if t.capacity_rps is not None:
        lines.append(f"{t.label}: capacity {t.capacity_rps:.2f} req/s at {t.capacity_load}")
    else:
        lines.append(f"{t.label}: no load point met the SLO")
    return lines
