"""Rich renderables to plain text: the one place a renderer turns a table into a string."""

from __future__ import annotations

import io
import os
import shutil
from typing import Any


def rich_text(*renderables: Any, width: int | None = None, min_width: int = 100) -> str:
    """Print renderables (tables, strings) to a string, as a terminal of `width` would show
    them (default: the terminal's width, at least `min_width`). NO_COLOR is honoured."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width or max(min_width, shutil.get_terminal_size((160, 24)).columns),
        force_terminal=False,
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,
        emoji=False,
        markup=False,
    )
    for item in renderables:
        console.print(item)
    return buf.getvalue()
