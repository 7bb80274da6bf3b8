"""Pure renderers: `render(result) -> str`. Only console.py touches Rich."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from costcli.results.document import RunResult

FORMATS = ("table", "json", "csv", "markdown")


def renderer(fmt: str) -> Callable[[RunResult], str]:
    if fmt == "json":
        from costcli.render.json import render
    elif fmt == "csv":
        from costcli.render.csv import render
    elif fmt == "markdown":
        from costcli.render.markdown import render
    else:
        from costcli.render.console import render
    return render
