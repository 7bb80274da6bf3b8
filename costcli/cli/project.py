"""`costcli project`: a month of traffic on each API and on your own hardware.

From a results file the token shape (mean input/output tokens of each target) and, for
self-hosted targets (`self_hosted: true`), one replica's capacity (`capacity_rps`) come from
the measured run; flags override. Without one it prices the shape given on the command line.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from costcli.catalog import load_catalog
from costcli.cost import (
    DAYS_PER_MONTH,
    ApiTarget,
    HardwareTarget,
    ProjectionReport,
    Scenario,
    project_report,
)
from costcli.errors import BadInputError
from costcli.prices import load_prices
from costcli.render.projection import (
    COLUMNS,
    render_csv,
    render_json,
    render_markdown,
    summary_lines,
    table_rows,
    usd,
)


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


def _mean(summary: dict[str, Any], key: str) -> float | None:
    value = (summary.get(key) or {}).get("mean") if isinstance(summary, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def read_results_targets(path: Path) -> list[dict[str, Any]]:
    """The targets of a results file: provider, model, self_hosted, shape, capacity."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"{path}: cannot be read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    targets = doc.get("targets") if isinstance(doc, dict) else None
    if not isinstance(targets, list) or not targets:
        raise BadInputError(
            f"{path}: key 'targets' is missing or empty; pass a costcli results file"
        )
    out = []
    for i, t in enumerate(targets):
        if not isinstance(t, dict) or not t.get("provider") or not t.get("model"):
            raise BadInputError(f"{path}: key 'targets.{i}' needs 'provider' and 'model'")
        summary = t.get("summary") or {}
        out.append(
            {
                "provider": str(t["provider"]),
                "model": str(t["model"]),
                "self_hosted": bool(t.get("self_hosted")),
                "hardware": t.get("hardware"),
                "capacity_rps": t.get("capacity_rps"),
                "input_tokens": _mean(summary, "input_tokens"),
                "output_tokens": _mean(summary, "output_tokens"),
            }
        )
    return out


def _rate_limits(provider: str) -> tuple[Any, ...]:
    catalog = load_catalog()
    prov = catalog.providers.get(provider)
    return tuple(prov.rate_limits) if prov else ()


def _default_hardware(provider: str) -> str | None:
    prov = load_catalog().providers.get(provider)
    return prov.hardware if prov else None


def render_console(report: ProjectionReport, width: int | None = None) -> str:
    """The Rich table as text (so it is testable without a terminal)."""
    table = Table(title="costcli project · monthly cost", title_justify="left")
    for key, title in COLUMNS:
        table.add_column(title, justify="left" if key in ("label", "basis") else "right")
    for row in table_rows(report):
        table.add_row(*(row[k] for k, _ in COLUMNS))
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width or max(120, shutil.get_terminal_size((160, 24)).columns),
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,
    )
    console.print(table)
    for line in summary_lines(report):
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
    peak_factor: float = typer.Option(1.0, "--peak-factor", help="Peak load / mean load."),
    cache_hit: float = typer.Option(0.0, "--cache-hit", help="Share of input tokens cached."),
    batch_share: float = typer.Option(0.0, "--batch-share", help="Share sent via batch APIs."),
    months: int | None = typer.Option(None, "--months", help="Month-by-month table length."),
    growth: str = typer.Option("0%", "--growth", help="Monthly growth, e.g. 10%."),
    prices_file: Path | None = typer.Option(None, "--prices", help="A prices.toml to use."),
    fmt: ProjectFormat = typer.Option(ProjectFormat.table, "--format"),
) -> None:
    """Project monthly cost, rate-limit tier, replicas and break-even for a workload."""
    if (requests_per_month is None) == (requests_per_day is None):
        raise BadInputError("give exactly one of --requests-per-month or --requests-per-day")
    if requests_per_month is not None:
        volume = requests_per_month
    else:
        volume = (requests_per_day or 0.0) * DAYS_PER_MONTH
    prices = load_prices(prices_file)
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
    for t in measured:
        t_in, t_out = own(t["input_tokens"], input_tokens), own(t["output_tokens"], output_tokens)
        if t["self_hosted"]:
            name = hardware or t["hardware"] or _default_hardware(t["provider"])
            capacity = capacity_rps if capacity_rps is not None else t["capacity_rps"]
            if not name or not capacity:
                raise BadInputError(
                    f"{results}: self-hosted target {t['provider']}:{t['model']} needs a hardware "
                    "profile and a capacity; pass --hardware NAME --capacity-rps R"
                )
            boxes.append(
                HardwareTarget(
                    prices.find_hardware(name),
                    float(capacity),
                    t["provider"],
                    t["model"],
                    t_in,
                    t_out,
                )
            )
        else:
            price = prices.find_model(t["provider"], t["model"])
            apis.append(ApiTarget(price, _rate_limits(price.provider), t_in, t_out))
    for spec in model:
        provider, sep, name = spec.partition(":")
        if not sep or not name:
            raise BadInputError(f"--model {spec}: use PROVIDER:MODEL, e.g. openai:gpt-4.1-mini")
        price = prices.find_model(provider, name)
        apis.append(ApiTarget(price, _rate_limits(provider)))
    if hardware and not any(b.hardware.name == hardware for b in boxes):
        if capacity_rps is None or capacity_rps <= 0:
            raise BadInputError(f"--hardware {hardware}: also pass --capacity-rps R (above 0)")
        boxes.append(HardwareTarget(prices.find_hardware(hardware), capacity_rps))
    if not apis and not boxes:
        raise BadInputError("nothing to project: pass a results file, --model P:M or --hardware")
    report = project_report(scenario, apis, boxes, months=months, growth=parse_growth(growth))
    renderers = {
        ProjectFormat.json: render_json,
        ProjectFormat.csv: render_csv,
        ProjectFormat.markdown: render_markdown,
        ProjectFormat.table: render_console,
    }
    typer.echo(renderers[fmt](report), nl=False)
