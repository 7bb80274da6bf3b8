"""`costcli prices list` as text: the models and hardware profiles in force."""

from __future__ import annotations

import json
from datetime import date

from costcli.pricing.prices import ModelPrice, Prices, entry_dicts, is_stale
from costcli.render.numbers import per_mtok
from costcli.render.text import rich_text


def render_json(prices: Prices, today: date | None = None) -> str:
    doc = {"models": entry_dicts(prices.models), "hardware": entry_dicts(prices.hardware)}
    return json.dumps(doc, indent=2) + "\n"


def _notes(price: ModelPrice, today: date) -> str:
    note = []
    if is_stale(price.as_of, today):
        note.append("stale")
    if price.deprecated:
        note.append(f"shuts down {price.deprecated}")
    if price.tiers:
        note.append(f"{len(price.tiers)} long-context tier(s)")
    return ", ".join(note)


def render_table(prices: Prices, today: date | None = None) -> str:
    from rich.table import Table

    today = today or date.today()
    models = Table(title=f"models · {prices.path}", title_justify="left")
    for col in ("model", "in $/1M", "cached $/1M", "out $/1M", "batch off", "as of", "note"):
        models.add_column(col, justify="left" if col in ("model", "note") else "right")
    for p in prices.models:
        models.add_row(
            p.label,
            per_mtok(p.input_per_mtok),
            per_mtok(p.cached_input_per_mtok),
            per_mtok(p.output_per_mtok),
            f"{p.batch_discount:.0%}" if p.batch_discount else "-",
            p.as_of.isoformat(),
            _notes(p, today),
        )
    hardware = Table(title="hardware", title_justify="left")
    for col in ("name", "$/hour", "capex", "watts", "idle W", "PUE", "$/kWh", "as of"):
        hardware.add_column(col, justify="left" if col == "name" else "right")
    for h in prices.hardware:
        hardware.add_row(
            h.name,
            per_mtok(h.hourly_usd),
            "-" if h.capex_usd is None else f"{h.capex_usd:g} / {h.amortization_months:g} mo",
            f"{h.watts:g}",
            f"{h.idle:g}",
            f"{h.pue:g}",
            f"{h.electricity_usd_per_kwh:g}",
            h.as_of.isoformat(),
        )
    return rich_text(models, hardware, width=160)
