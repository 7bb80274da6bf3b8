"""`costcli project` output as text: table, JSON, CSV, Markdown. Pure `render_*(report) -> str`."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from costcli.pricing.cost import BASIS_MEASURED, Projection, ProjectionReport
from costcli.pricing.projection import Answer
from costcli.render.numbers import count as number
from costcli.render.numbers import usd
from costcli.render.text import rich_text

API_BASIS = "priced from token shape"
# the console's short words for tier_needed (JSON/CSV keep the full phrase)
SHORT_TIER = {"": "no tier data", "exceeds the highest tier": "over known tiers"}

COLUMNS: tuple[tuple[str, str], ...] = (
    ("label", "target"),
    ("basis", "basis"),
    ("cost_per_request_usd", "$/request"),
    ("monthly_cost_usd", "$/month"),
    ("cost_per_1m_output_tokens_usd", "$/1M out tok"),
    ("peak_rpm", "peak RPM"),
    ("peak_tpm", "peak TPM"),
    ("tier_needed", "tier needed"),
    ("replicas", "replicas"),
    ("utilization", "utilization"),
    ("energy_kwh_per_month", "kWh/month"),
    ("price_as_of", "price as of"),
)

CSV_FIELDS = (
    "kind",
    "provider",
    "model",
    "hardware",
    "requests_per_month",
    "cost_per_request_usd",
    "monthly_cost_usd",
    "cost_per_1m_output_tokens_usd",
    "stale_price",
    "price_as_of",
    "price_source",
    "token_basis",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "reasoning_unpriced",
    "service_tier",
    "shuts_down",
    "peak_rpm",
    "peak_tpm",
    "tier_needed",
    "stale_rate_limits",
    "replicas",
    "replica_hours_per_month",
    "pricing",
    "utilization",
    "energy_kwh_per_month",
    "capacity_rps",
    "cache_hit",
    "cache_hit_basis",
    "accuracy",
    "cost_per_correct_answer_usd",
)


def basis(p: Projection) -> str:
    if p.kind == "api":
        return f"tokens: {p.token_basis}"
    return f"capacity {p.capacity_rps:g} req/s per replica"


def table_rows(report: ProjectionReport) -> list[dict[str, str]]:
    """Display cells for each projection, keyed like COLUMNS."""
    out = []
    for p in report.projections:
        as_of = p.price_as_of.isoformat() + (" (stale)" if p.stale_price else "")
        if p.deprecated:
            as_of += f" (shuts down {p.deprecated.isoformat()})"
        out.append(
            {
                "label": p.label,
                "basis": basis(p),
                "cost_per_request_usd": usd(p.cost_per_request_usd),
                "monthly_cost_usd": usd(p.monthly_cost_usd),
                "cost_per_1m_output_tokens_usd": usd(p.cost_per_1m_output_tokens_usd),
                "peak_rpm": number(p.peak_rpm, 1),
                "peak_tpm": number(p.peak_tpm),
                "tier_needed": p.tier_needed or ("-" if p.kind == "self_hosted" else "unknown"),
                "replicas": number(p.replicas),
                "utilization": "-" if p.utilization is None else f"{p.utilization:.1%}",
                "energy_kwh_per_month": number(p.energy_kwh_per_month, 1),
                "price_as_of": as_of,
                "accuracy": "-" if p.accuracy is None else f"{p.accuracy:.1%}",
                "cost_per_correct_answer_usd": usd(p.cost_per_correct_answer_usd),
            }
        )
    return out


GRADED_COLUMNS = (("accuracy", "accuracy"), ("cost_per_correct_answer_usd", "$/correct"))


def _graded(report: ProjectionReport) -> bool:
    return any(p.accuracy is not None for p in report.projections)


def _ordered(report: ProjectionReport) -> tuple[str, list[Projection]]:
    """The table's title and rows: cheapest first, or as ranked per correct answer."""
    if report.rank == "per-correct":
        return "cheapest per correct answer first", list(report.projections)
    rows = sorted(report.projections, key=lambda p: p.monthly_cost_usd)
    return "cheapest first", rows


def summary_lines(report: ProjectionReport) -> list[str]:
    """Break-even and notes, one sentence each."""
    lines = []
    for be in report.break_even:
        if be.requests_per_month is None:
            lines.append(
                f"{be.hardware} never becomes cheaper than {be.api} (up to 1e12 req/month)"
            )
        else:
            lines.append(
                f"{be.hardware} becomes cheaper than {be.api} "
                f"at {be.requests_per_month:,.0f} requests/month"
            )
    return lines + list(report.notes)


def render_json(report: ProjectionReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


def render_csv(report: ProjectionReport) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for p in report.projections:
        row = p.to_dict()
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in CSV_FIELDS})
    return buf.getvalue()


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def render_markdown(report: ProjectionReport) -> str:
    s = report.scenario
    lines = [
        "## Monthly cost projection",
        "",
        f"{s.requests_per_month:,.0f} requests/month, {s.input_tokens:,.0f} input and "
        f"{s.output_tokens:,.0f} output tokens per request, peak factor {s.peak_factor:g}, "
        f"cache hit {s.cache_hit:.0%} ({s.cache_hit_basis}), batch share {s.batch_share:.0%}.",
        "",
    ]
    cells = table_rows(report)
    columns = COLUMNS + (GRADED_COLUMNS if _graded(report) else ())
    lines += _md_table([title for _, title in columns], [[c[k] for k, _ in columns] for c in cells])
    extra = summary_lines(report)
    if extra:
        lines += ["", *[f"- {line}" for line in extra]]
    if report.growth:
        labels = list(report.growth[0].monthly_cost_usd)
        lines += ["", "### Month by month", ""]
        rows = [
            [str(g.month), f"{g.requests_per_month:,.0f}"]
            + [usd(g.monthly_cost_usd[label]) for label in labels]
            for g in report.growth
        ]
        lines += _md_table(["month", "requests", *labels], rows)
    return "\n".join(lines) + "\n"


TABLE_COLUMNS = (
    "target",
    "$/month",
    "$/request",
    "$/1M out tok",
    "peak RPM",
    "fits",
    "price as of",
)


def _table_cells(p: Projection, graded: bool) -> list[str]:
    """One row of the console table: compact words for the tier and the replicas."""
    if p.kind == "api":
        star = "" if p.token_basis == BASIS_MEASURED else " *"
        label, fits = p.label + star, SHORT_TIER.get(p.tier_needed or "", p.tier_needed or "")
    else:
        util = "-" if p.utilization is None else f"{p.utilization:.0%}"
        on = f" ({p.provider})" if p.provider else ""
        label, fits = f"{p.hardware}{on}", f"{number(p.replicas)} x {util} busy"
    cells = [
        label,
        usd(p.monthly_cost_usd),
        usd(p.cost_per_request_usd),
        usd(p.cost_per_1m_output_tokens_usd),
        number(p.peak_rpm, 1) if p.kind == "api" else "-",
        fits,
        p.price_as_of.isoformat() + (" stale" if p.stale_price else ""),
    ]
    if graded:
        accuracy = "-" if p.accuracy is None else f"{p.accuracy:.0%}"
        cells += [accuracy, usd(p.cost_per_correct_answer_usd)]
    return cells


def _growth_table(report: ProjectionReport) -> Any:
    from rich.table import Table

    growth = Table(title="month by month", title_justify="left")
    labels = list(report.growth[0].monthly_cost_usd)
    for col in ("month", "requests", *labels):
        growth.add_column(col, justify="right")
    for g in report.growth:
        cells = [usd(g.monthly_cost_usd[label]) for label in labels]
        growth.add_row(str(g.month), f"{g.requests_per_month:,.0f}", *cells)
    return growth


def render_table(
    report: ProjectionReport, width: int | None = None, *, break_even: bool = True
) -> str:
    """The Rich table as text (so it is testable without a terminal); compact for a
    terminal, cheapest first (Markdown, CSV and JSON carry every column)."""
    from rich.table import Table

    order, projections = _ordered(report)
    graded = _graded(report)
    table = Table(
        title=f"costcli project · monthly cost, {order}",
        title_justify="left",
        caption="* API rows not measured on that model (token basis in the notes)",
        caption_justify="left",
    )
    for title in (*TABLE_COLUMNS, *(("accuracy", "$/correct") if graded else ())):
        left = title in ("target", "fits")
        table.add_column(title, justify="left" if left else "right", no_wrap=True)
    for p in projections:
        table.add_row(*_table_cells(p, graded))
    lines = summary_lines(report) if break_even else list(report.notes)
    parts: list[object] = [table, *lines]
    if report.growth:
        parts.append(_growth_table(report))
    return rich_text(*parts, width=width, min_width=120)


def run_heading(report: ProjectionReport) -> str:
    """The line above the projection that `costcli run` prints after its table."""
    s = report.scenario
    return (
        f"Projection at {s.requests_per_month:,.0f} requests/month, "
        f"peak load = mean x {s.peak_factor:g}, "
        f"{s.input_tokens:.0f} input + {s.output_tokens:.0f} output tokens per request "
        "(measured); API rows are priced from that shape, not measured. "
        "`costcli project RESULTS.json` for other scenarios."
    )


RENDERERS = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "markdown": render_markdown,
}


def _row(p: Projection) -> str:
    how = f", {number(p.replicas)} replica(s)" if p.kind == "self_hosted" else ""
    return f"{p.label} at {usd(p.monthly_cost_usd)}/month{how}"


SHOWN_CROSSINGS = 3  # the lowest break-evens after a run; `project` lists them all


def answer_lines(a: Answer, slo: str | None) -> list[str]:
    """The verdict after a run, one sentence a line. Without an SLO, nothing was judged
    against one, so the answer says only what is cheapest."""
    at = f"At {a.requests_per_month:,.0f} requests/month"
    lines = []
    if a.cheapest is not None:
        unmeasured = " (latency not measured here)" if slo and a.cheapest.meets_slo is None else ""
        lines.append(f"{at} the cheapest option is {_row(a.cheapest)}{unmeasured}.")
    if slo and a.cheapest_within_slo is not None:
        lines.append(f"Cheapest measured within the SLO ({slo}): {_row(a.cheapest_within_slo)}.")
    elif slo and a.measured:
        lines.append(f"Nothing measured in this run met the SLO ({slo}).")
    elif slo:  # what it measured has no price: it is not among the rows at all
        lines.append(
            "Nothing this run measured is priced, so none of the rows is judged on its SLO."
        )
    for b in a.crossings[:SHOWN_CROSSINGS]:
        lines.append(
            f"{b.hardware} becomes cheaper than {b.api} from "
            f"{b.requests_per_month or 0:,.0f} requests/month."
        )
    if len(a.crossings) > SHOWN_CROSSINGS:
        rest = a.crossings[SHOWN_CROSSINGS:]
        lines.append(
            f"It becomes cheaper than {len(rest)} more APIs from "
            f"{rest[0].requests_per_month or 0:,.0f} requests/month up "
            "(`costcli project RESULTS --all-models` lists them)."
        )
    if a.never:
        lines.append(
            f"Self-hosting never undercuts {', '.join(a.never)} (up to 1e12 requests/month)."
        )
    return lines
