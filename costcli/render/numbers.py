"""How every output writes a number: one set of formatters for all renderers."""

from __future__ import annotations

from typing import Any


def usd(value: float | None) -> str:
    """Dollars: cents above a cent, six decimals below ($0.000027)."""
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.6f}"
    return f"${value:,.2f}"


def count(value: float | None, digits: int = 0) -> str:
    """A count or volume with thousands separators."""
    return "-" if value is None else f"{value:,.{digits}f}"


def per_mtok(value: float | None) -> str:
    """A price per 1M tokens as the prices file writes it."""
    return "-" if value is None else f"{value:g}"


def share(value: float, digits: int = 1) -> str:
    """A fraction as a percentage; whole when exactly 0 or 1."""
    return f"{value:.0%}" if value in (0.0, 1.0) else f"{value:.{digits}%}"


def figure(value: float | None) -> str:
    """A measured figure in a verdict: 4 significant digits, grouped above 100."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def metric(value: Any, key: str = "") -> str:
    """A cell of the comparison table (render/rows.py COLUMNS), by its key."""
    if value is None:
        return "-"
    if key in ("error_rate", "cache_hit_share", "tool_calls_valid_share", "accuracy"):
        return share(value) if isinstance(value, float) else str(value)
    if key.endswith("_usd") and key != "cost_per_1k_requests_usd" and isinstance(value, float):
        return f"${value:.3g}" if value < 1 else f"${value:,.2f}"
    if key == "cost_per_1k_requests_usd" and isinstance(value, float):
        return f"${value:.4f}" if value < 1 else f"${value:,.2f}"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.1f}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"
    return str(value)
