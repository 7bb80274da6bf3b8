"""`costcli prices list|show|check|import-litellm`: the dated prices file."""

from __future__ import annotations

import json
from datetime import date
from enum import Enum
from pathlib import Path

import typer

from costcli.files.errors import BadInputError

# Option defaults, copied from costcli.pricing.prices so that building the CLI does not import
# pydantic (tests/e2e/test_cli_startup.py checks that they stay equal).
DEFAULT_MAX_AGE_DAYS = 90
DEFAULT_HARDWARE_MAX_AGE_DAYS = 365
LITELLM_MAP_URL = (
    "https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json"
)

prices_app = typer.Typer(
    help="Dated API prices and self-hosting hardware profiles (prices.toml).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PricesOption = typer.Option(
    None, "--prices", help="A prices.toml to use instead of the search path (no merging)."
)


class ListFormat(str, Enum):
    table = "table"
    json = "json"


@prices_app.command("list")
def list_command(
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help="table or json."),
    prices_file: Path | None = PricesOption,
) -> None:
    """Every model price and hardware profile in force."""
    from costcli.pricing.prices import load_prices
    from costcli.render.prices import render_json, render_table

    prices = load_prices(prices_file)
    render = render_json if fmt is ListFormat.json else render_table
    typer.echo(render(prices, date.today()), nl=False)


@prices_app.command("show")
def show_command(
    spec: str = typer.Argument(..., help="PROVIDER:MODEL, or a hardware profile name."),
    prices_file: Path | None = PricesOption,
) -> None:
    """One entry with every field."""
    from costcli.pricing.prices import load_prices

    prices = load_prices(prices_file)
    if ":" in spec:
        provider, _, model = spec.partition(":")
        doc = prices.find_model(provider, model).model_dump(mode="json")
    else:
        doc = prices.find_hardware(spec).model_dump(mode="json")
    typer.echo(json.dumps(doc, indent=2))


@prices_app.command("check")
def check_command(
    prices_file: Path | None = PricesOption,
    max_age_days: int = typer.Option(
        DEFAULT_MAX_AGE_DAYS, "--max-age-days", help="Model prices older than this are stale."
    ),
    hardware_max_age_days: int = typer.Option(
        DEFAULT_HARDWARE_MAX_AGE_DAYS,
        "--hardware-max-age-days",
        help="Hardware figures older than this are stale.",
    ),
) -> None:
    """Flag stale prices and missing provenance; exit 1 when any error is found."""
    from costcli.pricing.prices import check_prices, load_prices

    prices = load_prices(prices_file)
    problems = check_prices(prices, date.today(), max_age_days, hardware_max_age_days)
    for problem in problems:
        typer.echo(str(problem), err=problem.level == "error")
    errors = sum(p.level == "error" for p in problems)
    typer.echo(
        f"{prices.path}: {len(prices.models)} models, {len(prices.hardware)} hardware profiles; "
        f"{errors} error(s), {len(problems) - errors} warning(s)"
    )
    if errors:
        raise typer.Exit(1)


@prices_app.command("import-litellm")
def import_litellm_command(
    file: Path = typer.Argument(
        ..., help="LiteLLM's model_prices_and_context_window.json, or a litellm wheel."
    ),
    provider: list[str] = typer.Option(
        [],
        "--provider",
        help="Keep only this litellm_provider (repeatable).",
        rich_help_panel="What to import",
    ),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="YYYY-MM-DD the map was published or read (required).",
        rich_help_panel="Provenance",
    ),
    source: str = typer.Option(
        LITELLM_MAP_URL,
        "--source",
        help="Where the map was read (a wheel adds its version).",
        rich_help_panel="Provenance",
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write here, not stdout.", rich_help_panel="Output"
    ),
) -> None:
    """Convert LiteLLM's JSON price map (chat and responses models) into [[models]] entries."""
    from costcli.pricing.prices import litellm_to_prices, prices_to_toml, read_litellm_map
    from costcli.results.document import write_atomic

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise BadInputError(f"--as-of {as_of}: use YYYY-MM-DD") from None
    litellm = read_litellm_map(file)
    try:
        models = litellm_to_prices(litellm.data, provider, day, litellm.source(source))
    except BadInputError as exc:
        raise BadInputError(f"{file}: {exc}") from None
    if not models:
        raise BadInputError(f"{file}: no chat model with per-token prices for {provider or 'any'}")
    text = prices_to_toml(models)
    if output:
        write_atomic(output, text)  # all entries or none
        typer.echo(f"wrote {len(models)} entries to {output}", err=True)
    else:
        typer.echo(text, nl=False)
