"""Option parsing shared by several commands (SLOs, observers, formats)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from costcli.files.errors import BadInputError

if TYPE_CHECKING:
    from rich.console import Console

    from costcli.results.metrics import SLO

SLO_KEYS = {"ttft": "ttft_ms", "tpot": "tpot_ms", "e2e": "e2e_ms"}


def parse_slo(values: list[str]) -> SLO | None:
    """`--slo ttft=500 --slo tpot=50,e2e=4000` (milliseconds) -> SLO."""
    from costcli.results.metrics import SLO

    if not values:
        return None
    found: dict[str, float] = {}
    for value in values:
        for part in filter(None, value.split(",")):
            key, sep, num = part.partition("=")
            key = key.strip().removesuffix("_ms")
            if not sep or key not in SLO_KEYS:
                raise BadInputError(f"--slo {part}: use ttft=MS, tpot=MS or e2e=MS")
            try:
                found[SLO_KEYS[key]] = float(num.removesuffix("ms"))
            except ValueError:
                raise BadInputError(
                    f"--slo {part}: '{num}' is not a number of milliseconds"
                ) from None
    return SLO(**found)


def live_display_allowed(no_progress: bool) -> bool:
    return not no_progress and sys.stdout.isatty() and not os.environ.get("CI")


def stderr_console() -> Console:
    from rich.console import Console

    return Console(
        stderr=True, no_color=bool(os.environ.get("NO_COLOR")), emoji=False, markup=False
    )
