"""`costcli project`: a month of traffic on each API and on your own hardware.

From a results file the token shape and, for self-hosted targets, one replica's capacity
come from the measured run (costcli/projection.py); flags override. Without one it prices
the shape given on the command line.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from costcli.files.errors import BadInputError

DAYS_PER_MONTH = 730.0 / 24  # as costcli.pricing.cost
DEFAULT_PEAK_FACTOR = 3.0  # as costcli.pricing.projection (kept here so --help imports no pydantic)


class ServiceTierChoice(str, Enum):
    default = "default"
    flex = "flex"
    priority = "priority"


class PricingChoice(str, Enum):
    on_demand = "on-demand"
    spot = "spot"
    reserved = "reserved"


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


def monthly_volume(per_month: float | None, per_day: float | None) -> float:
    if (per_month is None) == (per_day is None):
        raise BadInputError("give exactly one of --requests-per-month or --requests-per-day")
    return per_month if per_month is not None else (per_day or 0.0) * DAYS_PER_MONTH


def project_command(
    results: Path | None = typer.Argument(None, help="A costcli results file (optional)."),
    model: list[str] = typer.Option([], "--model", help="PROVIDER:MODEL to price (repeatable)."),
    all_models: bool = typer.Option(
        False, "--all-models", help="Every priced catalogue model that has not shut down."
    ),
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
    cache_hit: float | None = typer.Option(
        None,
        "--cache-hit",
        help="Share of input tokens cached (default: the run's measured cache_hit_share).",
    ),
    rank: str | None = typer.Option(
        None, "--rank", help="Order rows by: monthly, or per-correct (cost per correct answer)."
    ),
    batch_share: float = typer.Option(0.0, "--batch-share", help="Share sent via batch APIs."),
    reasoning_tokens: float | None = typer.Option(
        None, "--reasoning-tokens", help="Hidden reasoning tokens per request, on top of output."
    ),
    cache_write: float | None = typer.Option(
        None,
        "--cache-write",
        help="Share of input tokens written to the cache (default: the uncached share).",
    ),
    service_tier: ServiceTierChoice = typer.Option(
        ServiceTierChoice.default, "--service-tier", help="default, flex or priority."
    ),
    hourly_profile: str | None = typer.Option(
        None, "--hourly-profile", help="24 relative weights w0,...,w23 (hour of day load)."
    ),
    min_replicas: int = typer.Option(1, "--min-replicas", help="Self-hosted floor per hour."),
    pricing: PricingChoice = typer.Option(
        PricingChoice.on_demand, "--pricing", help="Hardware rent: on-demand, spot or reserved."
    ),
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
    from costcli.api import project, read_result
    from costcli.plan import parse_options
    from costcli.pricing.cost import parse_hourly_profile
    from costcli.pricing.projection import ProjectionPlan
    from costcli.render.projection import RENDERERS

    plan = parse_options(
        ProjectionPlan,
        requests_per_month=monthly_volume(requests_per_month, requests_per_day),
        peak_factor=peak_factor,
        cache_hit=cache_hit,
        rank=rank,
        batch_share=batch_share,
        reasoning_tokens=reasoning_tokens,
        cache_write=cache_write,
        service_tier=service_tier.value,
        hourly_profile=parse_hourly_profile(hourly_profile) if hourly_profile else None,
        min_replicas=min_replicas,
        pricing=pricing.value,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        models=tuple(model),
        all_models=all_models,
        hardware=hardware,
        capacity_rps=capacity_rps,
        months=months,
        growth=parse_growth(growth),
        prices=prices_file,
        providers=tuple(providers),
    )
    report = project(read_result(results) if results else None, plan)
    typer.echo(RENDERERS[fmt.value](report), nl=False)
