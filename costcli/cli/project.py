"""`costcli project`: a month of traffic on each API and on your own hardware.

From a results file the token shape (mean input/output tokens of each target) and, for
self-hosted targets (`self_hosted: true`), one replica's capacity (`capacity_rps`) come from
the measured run; flags override. Without one it prices the shape given on the command line.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from costcli.errors import BadInputError

if TYPE_CHECKING:
    from costcli.catalog import Catalog
    from costcli.cost import HardwareTarget, ProjectionReport
    from costcli.prices import Prices
    from costcli.results import RunResult

# the console's short words for tier_needed (JSON/CSV keep the full phrase)
SHORT_TIER = {"": "no tier data", "exceeds the highest tier": "over known tiers"}
DEFAULT_REQUESTS_PER_MONTH = 1_000_000
DEFAULT_PEAK_FACTOR = 3.0


class ProjectFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def parse_growth(text: str) -> float:
    """'10%' or '0.1' -> 0.1."""
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise BadInputError(f"--growth {text}: use a percentage like 10% or a fraction") from None


def read_results_targets(path: Path) -> list[dict[str, Any]]:
    """The targets of a results file: provider, model, self_hosted, shape, capacity."""
    from costcli.results import read_result

    return [
        {
            "provider": t.provider,
            "model": t.model,
            "self_hosted": t.self_hosted,
            "hardware": t.hardware,
            "capacity_rps": t.capacity_rps,
            "measured_rps": t.summary.throughput.requests_per_s,
            "input_tokens": t.summary.input_tokens.mean if t.summary.requests.ok else None,
            "output_tokens": t.summary.output_tokens.mean if t.summary.requests.ok else None,
        }
        for t in read_result(path).targets
    ]


def _rate_limits(catalog: Catalog, provider: str) -> tuple[Any, ...]:
    prov = catalog.providers.get(provider)
    return tuple(prov.rate_limits) if prov else ()


def _default_hardware(catalog: Catalog, provider: str) -> str | None:
    prov = catalog.providers.get(provider)
    return prov.hardware if prov else None


def capacity_note(label: str, hardware: str, capacity: float, basis: str, load: str | None) -> str:
    """One line on where a self-hosted row's per-replica capacity came from."""
    if basis == "sweep":
        at = f" at {load}" if load else ""
        return f"{label} on {hardware}: one replica carries {capacity:.2f} req/s (sweep{at})"
    return (
        f"{label} on {hardware}: capacity taken from this run's {capacity:.2f} req/s, a floor; "
        "`costcli run --sweep` measures it"
    )


def _row_label(box: HardwareTarget) -> str:
    """The label project_report gives a self-hosted row (Projection.label)."""
    return (
        f"{box.hardware.name} ({box.provider}:{box.model})" if box.provider else box.hardware.name
    )


def render_json_with_basis(report: ProjectionReport, basis: dict[str, str]) -> str:
    """render_json's document, each self-hosted row with its `capacity_basis`."""
    doc = report.to_dict()
    for row in doc["projections"]:
        if row.get("kind") == "self_hosted" and row.get("label") in basis:
            row["capacity_basis"] = basis[row["label"]]
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def render_console(report: ProjectionReport, width: int | None = None) -> str:
    """The Rich table as text (so it is testable without a terminal)."""
    from rich.console import Console
    from rich.table import Table

    from costcli.render.projection import number, summary_lines, usd

    # compact for a terminal: cheapest first; Markdown/CSV/JSON carry every column
    table = Table(
        title="costcli project · monthly cost, cheapest first",
        title_justify="left",
        caption="* API rows are priced from the token shape, not measured",
        caption_justify="left",
    )
    for title in (
        "target",
        "$/month",
        "$/request",
        "$/1M out tok",
        "peak RPM",
        "fits",
        "price as of",
    ):
        table.add_column(
            title,
            justify="left" if title in ("target", "fits") else "right",
            no_wrap=True,
        )
    retiring: list[str] = []
    for p in sorted(report.projections, key=lambda p: p.monthly_cost_usd):
        if p.kind == "api":
            label, fits = p.label + " *", SHORT_TIER.get(p.tier_needed or "", p.tier_needed or "")
        else:
            util = "-" if p.utilization is None else f"{p.utilization:.0%}"
            on = f" ({p.provider})" if p.provider else ""
            label, fits = f"{p.hardware}{on}", f"{number(p.replicas)} x {util} busy"
        as_of = p.price_as_of.isoformat() + (" stale" if p.stale_price else "")
        if p.deprecated:
            retiring.append(f"{p.label} shuts down on {p.deprecated.isoformat()}")
        table.add_row(
            label,
            usd(p.monthly_cost_usd),
            usd(p.cost_per_request_usd),
            usd(p.cost_per_1m_output_tokens_usd),
            number(p.peak_rpm, 1) if p.kind == "api" else "-",
            fits,
            as_of,
        )
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width or max(120, shutil.get_terminal_size((160, 24)).columns),
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,
        emoji=False,
        markup=False,
    )
    console.print(table)
    for line in [*retiring, *summary_lines(report)]:
        console.print(line)
    if report.growth:
        growth = Table(title="month by month", title_justify="left")
        labels = list(report.growth[0].monthly_cost_usd)
        for col in ("month", "requests", *labels):
            growth.add_column(col, justify="right")
        for g in report.growth:
            cells = [usd(g.monthly_cost_usd[label]) for label in labels]
            growth.add_row(str(g.month), f"{g.requests_per_month:,.0f}", *cells)
        console.print(growth)
    return buf.getvalue()


def project_command(
    results: Path | None = typer.Argument(None, help="A costcli results file (optional)."),
    model: list[str] = typer.Option([], "--model", help="PROVIDER:MODEL to price (repeatable)."),
    hardware: str | None = typer.Option(None, "--hardware", help="Hardware profile name."),
    capacity_rps: float | None = typer.Option(
        None, "--capacity-rps", help="Requests/s one replica sustains within the SLO."
    ),
    input_tokens: float | None = typer.Option(None, "--input-tokens", help="Per request."),
    output_tokens: float | None = typer.Option(None, "--output-tokens", help="Per request."),
    requests_per_month: float | None = typer.Option(None, "--requests-per-month"),
    requests_per_day: float | None = typer.Option(None, "--requests-per-day"),
    peak_factor: float = typer.Option(
        DEFAULT_PEAK_FACTOR,
        "--peak-factor",
        help="Peak load / mean load (default 3: peak load = mean x 3).",
        show_default=False,
    ),
    cache_hit: float = typer.Option(0.0, "--cache-hit", help="Share of input tokens cached."),
    batch_share: float = typer.Option(0.0, "--batch-share", help="Share sent via batch APIs."),
    months: int | None = typer.Option(None, "--months", help="Month-by-month table length."),
    growth: str = typer.Option("0%", "--growth", help="Monthly growth, e.g. 10%."),
    prices_file: Path | None = typer.Option(None, "--prices", help="A prices.toml to use."),
    providers: list[Path] = typer.Option(
        [], "--providers", help="Extra provider file or folder (repeatable)."
    ),
    fmt: ProjectFormat = typer.Option(
        ProjectFormat.table, "--format", "-f", help="table, json, csv or markdown."
    ),
) -> None:
    """Project monthly cost, rate-limit tier, replicas and break-even for a workload."""
    from costcli.catalog import load_catalog
    from costcli.cost import DAYS_PER_MONTH, ApiTarget, HardwareTarget, Scenario, project_report
    from costcli.prices import load_prices
    from costcli.render.projection import render_csv, render_markdown

    if (requests_per_month is None) == (requests_per_day is None):
        raise BadInputError("give exactly one of --requests-per-month or --requests-per-day")
    if requests_per_month is not None:
        volume = requests_per_month
    else:
        volume = (requests_per_day or 0.0) * DAYS_PER_MONTH
    prices = load_prices(prices_file)
    catalog = load_catalog(providers)  # once: rate limits and default hardware come from it
    measured = read_results_targets(results) if results else []
    shapes = [
        t for t in measured if t["input_tokens"] is not None and t["output_tokens"] is not None
    ]
    default_in, default_out = input_tokens, output_tokens
    if shapes and default_in is None:
        default_in = sum(t["input_tokens"] for t in shapes) / len(shapes)
    if shapes and default_out is None:
        default_out = sum(t["output_tokens"] for t in shapes) / len(shapes)
    if default_in is None or default_out is None:
        raise BadInputError(
            "no token shape: pass --input-tokens and --output-tokens, or a results file"
        )
    try:
        scenario = Scenario(volume, default_in, default_out, peak_factor, cache_hit, batch_share)
    except ValueError as exc:
        raise BadInputError(f"scenario: {exc}") from None

    def own(value: float | None, flag: float | None) -> float | None:
        return flag if flag is not None else value

    apis: list[ApiTarget] = []
    boxes: list[HardwareTarget] = []
    basis: dict[str, str] = {}  # self-hosted row label -> where its capacity came from
    notes: list[str] = []
    for t in measured:
        t_in, t_out = own(t["input_tokens"], input_tokens), own(t["output_tokens"], output_tokens)
        if t["self_hosted"]:
            name = hardware or t["hardware"] or _default_hardware(catalog, t["provider"])
            # a sweep's capacity, else this run's sustained rate: a floor, since the run may
            # not have saturated the server (`costcli run --sweep` measures the real one)
            if capacity_rps:
                capacity, how = capacity_rps, "flag"
            elif t["capacity_rps"]:
                capacity, how = t["capacity_rps"], "sweep"
            else:
                capacity, how = t["measured_rps"], "measured rate"
            if not name or not capacity:
                raise BadInputError(
                    f"{results}: self-hosted target {t['provider']}:{t['model']} needs a hardware "
                    "profile and a capacity; pass --hardware NAME --capacity-rps R"
                )
            box = HardwareTarget(
                prices.find_hardware(name),
                float(capacity),
                t["provider"],
                t["model"],
                t_in,
                t_out,
            )
            boxes.append(box)
            basis[_row_label(box)] = how
            if how == "measured rate":
                label = f"{t['provider']}:{t['model']}"
                notes.append(capacity_note(label, box.hardware.name, box.capacity_rps, how, None))
        else:
            price = prices.find_model(t["provider"], t["model"])
            apis.append(ApiTarget(price, _rate_limits(catalog, price.provider), t_in, t_out))
    for spec in model:
        provider, sep, name = spec.partition(":")
        if not sep or not name:
            raise BadInputError(f"--model {spec}: use PROVIDER:MODEL, e.g. openai:gpt-4.1-mini")
        price = prices.find_model(provider, name)
        apis.append(ApiTarget(price, _rate_limits(catalog, provider)))
    if hardware and not any(b.hardware.name == hardware for b in boxes):
        if capacity_rps is None or capacity_rps <= 0:
            raise BadInputError(f"--hardware {hardware}: also pass --capacity-rps R (above 0)")
        box = HardwareTarget(prices.find_hardware(hardware), capacity_rps)
        boxes.append(box)
        basis[_row_label(box)] = "flag"
    if not apis and not boxes:
        raise BadInputError("nothing to project: pass a results file, --model P:M or --hardware")
    report = project_report(scenario, apis, boxes, months=months, growth=parse_growth(growth))
    if notes:  # printed under the table (and the Markdown), kept in JSON's "notes"
        report = dataclasses.replace(report, notes=(*report.notes, *notes))
    renderers = {
        ProjectFormat.json: lambda r: render_json_with_basis(r, basis),
        ProjectFormat.csv: render_csv,
        ProjectFormat.markdown: render_markdown,
        ProjectFormat.table: render_console,
    }
    typer.echo(renderers[fmt](report), nl=False)


def default_projection_text(
    result: RunResult,
    prices: Prices,
    hardware: str | None = None,
    requests_per_month: float | None = None,
    catalog: Catalog | None = None,
) -> str:
    """After `costcli run`: the measured self-hosted box(es) against the priced API models.

    The token shape is the run's measured mean; the peak factor is DEFAULT_PEAK_FACTOR, the
    same default as `costcli project`. Self-hosted capacity is the sweep's capacity, or else
    the sustained requests/s of this run (a floor: the run may not have saturated the
    server). API rows are priced from the shape, not measured. `catalog` is the run's own
    (with its --providers); without one the default search path is loaded.
    """
    from datetime import date

    from costcli.catalog import load_catalog
    from costcli.cost import ApiTarget, HardwareTarget, Scenario, project_report
    from costcli.prices import is_retired

    measured = [t for t in result.targets if t.summary.requests.ok]
    if not measured:
        return ""
    shape_in = measured[0].summary.input_tokens.mean
    shape_out = measured[0].summary.output_tokens.mean
    volume = requests_per_month or DEFAULT_REQUESTS_PER_MONTH
    scenario = Scenario(volume, shape_in, shape_out, DEFAULT_PEAK_FACTOR)
    boxes = []
    notes = []
    for t in measured:
        if not t.self_hosted:
            continue
        name = hardware or t.hardware
        profile = prices.get_hardware(name) if name else None
        how = "sweep" if t.capacity_rps else "measured rate"
        capacity = t.capacity_rps or t.summary.throughput.requests_per_s
        if profile is None or capacity <= 0:
            notes.append(f"{t.label}: no hardware profile; pass --hardware NAME")
            continue
        notes.append(capacity_note(t.label, profile.name, capacity, how, t.capacity_load))
        boxes.append(
            HardwareTarget(
                profile,
                capacity,
                t.provider,
                t.model,
                t.summary.input_tokens.mean,
                t.summary.output_tokens.mean,
            )
        )
    if catalog is None:
        catalog = load_catalog()
    today = date.today()
    apis = []
    for prov in catalog.providers.values():
        if prov.self_hosted:
            continue
        for model in prov.known_models:
            price = prices.get_model(prov.name, model)
            if price is not None and not is_retired(price, today):
                apis.append(ApiTarget(price, tuple(prov.rate_limits)))
    if not apis and not boxes:
        return ""
    report = project_report(scenario, apis, boxes)
    head = (
        f"Projection at {volume:,.0f} requests/month, "
        f"peak load = mean x {DEFAULT_PEAK_FACTOR:g}, "
        f"{shape_in:.0f} input + {shape_out:.0f} output tokens per request (measured); "
        "API rows are priced from that shape, not measured. "
        "`costcli project RESULTS.json` for other scenarios."
    )
    return "\n".join([head, *notes, render_console(report)])
