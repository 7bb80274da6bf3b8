"""The comparison rows every tabular renderer shows, one per target."""

from __future__ import annotations

from typing import Any

from costcli.render.numbers import metric as fmt
from costcli.results.document import RunResult, TargetResult
from costcli.results.metrics import Percentiles, RunCost

__all__ = [
    "CAPTION",
    "COLUMNS",
    "WORKLOAD_COLUMNS",
    "columns_for",
    "error_lines",
    "fmt",
    "price_lines",
    "rows",
    "target_row",
    "turn_lines",
]

# (key, title): keys are the CSV header; titles are short so the table fits a terminal.
# Latencies are milliseconds; the titles say so once, in the table's caption.
COLUMNS = (
    ("target", "target"),
    ("requests", "ok/n"),
    ("error_rate", "errors"),
    ("ttft_p50_ms", "TTFT p50"),
    ("ttft_p95_ms", "TTFT p95"),
    ("itl_p50_ms", "ITL p50"),
    ("itl_p99_ms", "ITL p99"),
    ("tpot_p50_ms", "TPOT p50"),
    ("e2e_p50_ms", "E2E p50"),
    ("e2e_p95_ms", "E2E p95"),
    ("decode_tps_p50", "decode tok/s"),
    ("output_tokens_per_s", "out tok/s"),
    ("requests_per_s", "req/s"),
    ("cost_per_1k_requests_usd", "$/1k req"),
)
# Shown by the table and Markdown only when some target has the figure (reasoning, prompt
# caching, tool calls, conversations, graded answers); always in the CSV, empty when absent.
WORKLOAD_COLUMNS = (
    ("ttfo_p50_ms", "TTFO p50"),
    ("ttfo_p95_ms", "TTFO p95"),
    ("reasoning_tokens_mean", "reasoning tok"),
    ("cached_input_tokens_mean", "cached in tok"),
    ("cache_write_tokens_mean", "cache write tok"),
    ("cache_hit_share", "cache hit"),
    ("tool_call_requests", "tool calls"),
    ("tool_calls_valid_share", "tool args ok"),
    ("sessions", "sessions ok/n"),
    ("accuracy", "accuracy"),
    ("cost_per_session_usd", "$/session"),
    ("cost_per_correct_answer_usd", "$/correct"),
)
CAPTION = "latencies in ms; decode tok/s is the per-request p50"


def _p(p: Percentiles | None, q: str) -> float | None:
    return None if p is None else float(getattr(p, q))


def target_row(t: TargetResult) -> dict[str, Any]:
    s = t.summary
    cost = s.cost if isinstance(s.cost, RunCost) else None
    return {
        "target": f"{t.label}",
        "requests": f"{s.requests.ok}/{s.requests.total}",
        "error_rate": s.error_rate,
        "ttft_p50_ms": _p(s.ttft_ms, "p50"),
        "ttft_p95_ms": _p(s.ttft_ms, "p95"),
        "itl_p50_ms": _p(s.itl_ms, "p50"),
        "itl_p99_ms": _p(s.itl_ms, "p99"),
        "tpot_p50_ms": _p(s.tpot_ms, "p50"),
        "e2e_p50_ms": _p(s.e2e_ms, "p50"),
        "e2e_p95_ms": _p(s.e2e_ms, "p95"),
        "decode_tps_p50": _p(s.decode_tokens_per_s, "p50"),
        "output_tokens_per_s": s.throughput.output_tokens_per_s,
        "requests_per_s": s.throughput.requests_per_s,
        "cost_per_1k_requests_usd": "unpriced" if cost is None else cost.per_1k_requests_usd,
        "stale_price": bool(cost and cost.stale_price),
        **workload_cells(t),
    }


def workload_cells(t: TargetResult) -> dict[str, Any]:
    s = t.summary
    cost = s.cost if isinstance(s.cost, RunCost) else None
    return {
        "ttfo_p50_ms": _p(s.ttfo_ms, "p50"),
        "ttfo_p95_ms": _p(s.ttfo_ms, "p95"),
        "reasoning_tokens_mean": s.reasoning_tokens.mean if s.reasoning_tokens else None,
        "cached_input_tokens_mean": s.cached_input_tokens.mean if s.cached_input_tokens else None,
        "cache_write_tokens_mean": s.cache_write_tokens.mean if s.cache_write_tokens else None,
        "cache_hit_share": s.cache_hit_share,
        "tool_call_requests": s.tool_calls.requests if s.tool_calls else None,
        "tool_calls_valid_share": s.tool_calls.valid_share if s.tool_calls else None,
        "sessions": f"{s.sessions.ok}/{s.sessions.total}" if s.sessions else None,
        "accuracy": s.quality.accuracy if s.quality else None,
        "cost_per_session_usd": cost.per_session_usd if cost else None,
        "cost_per_correct_answer_usd": cost.per_correct_answer_usd if cost else None,
    }


def columns_for(all_rows: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """The comparison columns, with each workload column that some target has a figure for.
    TTFO shows only where it differs from TTFT (reasoning, or a tool call after text)."""
    present = tuple(
        (key, title)
        for key, title in WORKLOAD_COLUMNS
        if any(row.get(key) is not None for row in all_rows)
        and (not key.startswith("ttfo") or any(_ttfo_differs(row) for row in all_rows))
    )
    ttfo = tuple(c for c in present if c[0].startswith("ttfo"))
    rest = tuple(c for c in present if not c[0].startswith("ttfo"))
    return COLUMNS[:5] + ttfo + COLUMNS[5:] + rest


def _ttfo_differs(row: dict[str, Any]) -> bool:
    return row.get("ttfo_p50_ms") != row.get("ttft_p50_ms") or (
        row.get("ttfo_p95_ms") != row.get("ttft_p95_ms")
    )


def turn_lines(result: RunResult) -> list[str]:
    """Latency by turn index of conversational runs, one line per target and turn."""
    out = []
    for t in result.targets:
        for turn in t.summary.by_turn or ():
            ttft, ttfo = _p(turn.ttft_ms, "p50"), _p(turn.ttfo_ms, "p50")
            out.append(
                f"{t.label} turn {turn.turn + 1}: {turn.requests} requests, "
                f"TTFT p50 {fmt(ttft)} ms, TTFO p50 {fmt(ttfo)} ms"
            )
    return out


def rows(result: RunResult) -> list[dict[str, Any]]:
    return [target_row(t) for t in result.targets]


def price_lines(result: RunResult) -> list[str]:
    """One line per target priced from a stale price (DESIGN.md: flag it in every output)."""
    return [
        f"{t.label}: priced at rates as of {t.summary.cost.price_as_of}, "
        "older than 90 days: stale; refresh prices.toml (costcli prices check)"
        for t in result.targets
        if isinstance(t.summary.cost, RunCost) and t.summary.cost.stale_price
    ]


def client_lines(result: RunResult) -> list[str]:
    """One line per target whose client fell behind its schedule or hit --max-concurrency:
    its latencies carry the client's own delay, and every output says so."""
    lines = [
        f"{t.label}: {t.client.warning}" for t in result.targets if t.client and t.client.warning
    ]
    return lines + worker_lines(result)


def schedule_lines(result: RunResult) -> list[str]:
    """A fixed schedule (a trace): how late each target's sends left against the plan."""
    if not result.meta.workload.fixed_schedule:
        return []
    lines = []
    for t in result.targets:
        delay = t.summary.client_delay_ms
        if delay is None or t.client is None:
            continue
        lines.append(
            f"{t.label}: sends against the trace's plan: p50 {delay.p50:.1f} ms, p99 "
            f"{delay.p99:.1f} ms, max {delay.max:.1f} ms late; {t.client.late_requests} of "
            f"{t.client.requests} over {t.client.late_ms:g} ms"
        )
    return lines


def worker_lines(result: RunResult) -> list[str]:
    """`--engine ray`: one line per task that did not finish, with what it left unsent."""
    lines = []
    for w in result.meta.workers or ():
        if w.state == "finished":
            continue
        unsent = f"; {w.not_sent} of its requests not sent" if w.not_sent else ""
        why = f" ({w.error})" if w.error else ""
        lines.append(
            f"worker {w.shard} {w.state}{why}: {w.records} records kept{unsent}; "
            "the run is incomplete"
        )
    return lines


def error_lines(result: RunResult) -> list[str]:
    """One line per target with failures: its error classes and counts."""
    out = []
    for t in result.targets:
        errs = {k: v for k, v in t.summary.errors.items() if v}
        if errs:
            detail = ", ".join(f"{k} {v}" for k, v in errs.items())
            out.append(f"{t.label}: {detail}")
    return out
