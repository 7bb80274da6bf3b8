"""The results document itself, as JSON."""

from __future__ import annotations

from costcli.results.document import RunResult, dumps


def render(result: RunResult) -> str:
    return dumps(result)
