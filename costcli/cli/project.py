"""`costcli project`: a month of traffic on each API and on your own hardware.

From a results file the token shape and, for self-hosted targets, one replica's capacity
come from the measured run (costcli/projection.py); flags override. Without one it prices
the shape given on the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from costcli.cli.options import command_of, plan_values
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


@dataclasses.dataclass(frozen=True)
class ProjectOptions:
    """`costcli project`'s options, each declared once; its ProjectionPlan field by name."""

    results: Path | None = typer.Argument(None, help="A costcli results file (optional).")
    model: list[str] = typer.Option(
        [], "--model", help="PROVIDER:MODEL to price (repeatable).", rich_help_panel="What to price"
    )
    all_models: bool = typer.Option(
        False,
        "--all-models",
        help="Every priced catalogue model that has not shut down.",
        rich_help_panel="What to price",
    )
    hardware: str | None = typer.Option(
        None, "--hardware", help="Hardware profile name.", rich_help_panel="What to price"
    )
    capacity_rps: float | None = typer.Option(
        None,
        "--capacity-rps",
        help="Requests/s one replica sustains within the SLO.",
        rich_help_panel="What to price",
    )
    input_tokens: float | None = typer.Option(
        None, "--input-tokens", help="Per request.", rich_help_panel="Scenario"
    )
    output_tokens: float | None = typer.Option(
        None, "--output-tokens", help="Per request.", rich_help_panel="Scenario"
    )
    requests_per_month: float | None = typer.Option(
        None, "--requests-per-month", rich_help_panel="Scenario"
    )
    requests_per_day: float | None = typer.Option(
        None, "--requests-per-day", rich_help_panel="Scenario"
    )
    peak_factor: float = typer.Option(
        DEFAULT_PEAK_FACTOR,
        "--peak-factor",
        help="Peak load / mean load (default 3: peak load = mean x 3).",
        show_default=False,
        rich_help_panel="Scenario",
    )
    cache_hit: float | None = typer.Option(
        None,
        "--cache-hit",
        help="Share of input tokens cached (default: the run's measured cache_hit_share).",
        rich_help_panel="Scenario",
    )
    rank: str | None = typer.Option(
        None,
        "--rank",
        help="Order rows by: monthly, or per-correct (cost per correct answer).",
        rich_help_panel="Files and output",
    )
    batch_share: float = typer.Option(
        0.0, "--batch-share", help="Share sent via batch APIs.", rich_help_panel="Scenario"
    )
    reasoning_tokens: float | None = typer.Option(
        None,
        "--reasoning-tokens",
        help="Hidden reasoning tokens per request, on top of output.",
        rich_help_panel="Scenario",
    )
    cache_write: float | None = typer.Option(
        None,
        "--cache-write",
        help="Share of input tokens written to the cache (default: the uncached share).",
        rich_help_panel="Scenario",
    )
    service_tier: ServiceTierChoice = typer.Option(
        ServiceTierChoice.default,
        "--service-tier",
        help="default, flex or priority.",
        rich_help_panel="Scenario",
    )
    hourly_profile: str | None = typer.Option(
        None,
        "--hourly-profile",
        help="24 relative weights w0,...,w23 (hour of day load).",
        rich_help_panel="Scenario",
    )
    min_replicas: int = typer.Option(
        1, "--min-replicas", help="Self-hosted floor per hour.", rich_help_panel="What to price"
    )
    pricing: PricingChoice = typer.Option(
        PricingChoice.on_demand,
        "--pricing",
        help="Hardware rent: on-demand, spot or reserved.",
        rich_help_panel="What to price",
    )
    months: int | None = typer.Option(
        None, "--months", help="Month-by-month table length.", rich_help_panel="Scenario"
    )
    growth: str = typer.Option(
        "0%", "--growth", help="Monthly growth, e.g. 10%.", rich_help_panel="Scenario"
    )
    prices_file: Path | None = typer.Option(
        None, "--prices", help="A prices.toml to use.", rich_help_panel="Files and output"
    )
    providers: list[Path] = typer.Option(
        [],
        "--providers",
        help="Extra provider file or folder (repeatable).",
        rich_help_panel="Files and output",
    )
    fmt: ProjectFormat = typer.Option(
        ProjectFormat.table,
        "--format",
        "-f",
        help="table, json, csv or markdown.",
        rich_help_panel="Files and output",
    )
    trace: Path | None = typer.Option(
        None,
        "--trace",
        help="A Mooncake trace: its rate (unless a volume is given), token shape, prefix hit share and hourly profile.",
        rich_help_panel="Scenario",
    )
    trace_block_tokens: int = typer.Option(
        512,
        "--block-tokens",
        help="--trace: tokens per hash_ids block.",
        rich_help_panel="Scenario",
    )
    benchmark: str | None = typer.Option(
        None,
        "--benchmark",
        help="A benchmark of the benchmark file: its results and [project] scenario.",
        rich_help_panel="Benchmark file",
    )
    config: Path | None = typer.Option(
        None,
        "--config",
        help="The benchmark file (default ./costcli.toml).",
        rich_help_panel="Benchmark file",
    )

    def plan_options(self) -> dict[str, Any]:
        """ProjectionPlan options: each field by its name (PLAN_NAMES where the flag is
        spelled otherwise), converted by PARSE; the volume from either of its two flags."""
        from costcli.pricing.projection import ProjectionPlan

        fields = ProjectionPlan.model_fields
        plan = plan_values(self, fields, PLAN_NAMES, PARSE, PRESENTATION)
        volume = (self.requests_per_month, self.requests_per_day)
        if self.trace is None or volume != (None, None):
            plan["requests_per_month"] = monthly_volume(*volume)
        else:  # a trace alone keeps its own rate
            del plan["requests_per_month"]
        return plan


PLAN_NAMES = {"model": "models", "prices_file": "prices"}
PRESENTATION = frozenset({"results", "fmt", "requests_per_day", "benchmark", "config"})


def _hourly(text: str | None) -> Any:
    from costcli.pricing.cost import parse_hourly_profile

    return parse_hourly_profile(text) if text else None


PARSE: dict[str, Callable[[Any], Any]] = {
    "service_tier": lambda choice: choice.value,
    "pricing": lambda choice: choice.value,
    "hourly_profile": _hourly,
    "growth": parse_growth,
    "model": tuple,
    "providers": tuple,
}


def project_run(opts: ProjectOptions) -> None:
    """Project monthly cost, rate-limit tier, replicas and break-even for a workload."""
    from costcli.api import project, read_result
    from costcli.cli.benchmark import benchmark_scenario
    from costcli.plan import parse_options
    from costcli.pricing.projection import ProjectionPlan
    from costcli.render.projection import RENDERERS

    opts, values = benchmark_scenario(
        opts, PLAN_NAMES
    )  # the benchmark file's [project] under the flags
    plan = parse_options(ProjectionPlan, **values)
    report = project(read_result(opts.results, journal=False) if opts.results else None, plan)
    typer.echo(RENDERERS[opts.fmt.value](report), nl=False)


project_command = command_of(ProjectOptions, project_run)
