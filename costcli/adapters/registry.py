"""Adapter registry: built-ins and the `costcli.adapters` entry-point group, one path.

A built-in is declared exactly like a plugin: a name and an "module:attribute" reference
to a factory taking (Target, TransportOptions). Plugins add entries to the
`costcli.adapters` entry-point group in their own package metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from costcli.adapters.base import Adapter, TransportOptions
from costcli.adapters.catalog import Target
from costcli.files.entry_points import Entry, entries
from costcli.files.errors import BadInputError

BUILTINS = {
    "openai": "costcli.adapters.openai:OpenAIAdapter",
    "openai-responses": "costcli.adapters.openai_responses:OpenAIResponsesAdapter",
    "groq": "costcli.adapters.groq:GroqAdapter",
    "llamacpp": "costcli.adapters.llamacpp:LlamaCppAdapter",
    "anthropic": "costcli.adapters.anthropic:AnthropicAdapter",
}
GROUP = "costcli.adapters"
PROTOCOL_MEMBERS = ("name", "start", "stream", "close", "describe", "fit_workload", "refresh_facts")


def available() -> dict[str, Entry]:
    """Every adapter by name; a plugin may not shadow a built-in."""
    return entries(BUILTINS, GROUP)


def create(target: Target, transport: TransportOptions) -> Adapter:
    found = available()
    entry = found.get(target.adapter)
    if entry is None:
        raise BadInputError(
            f"{target.source_file}: key 'adapter' is '{target.adapter}', which no installed "
            f"adapter provides; use one of: {', '.join(sorted(found))}"
        )
    try:
        factory = cast(Callable[[Target, TransportOptions], Adapter], entry.load())
    except (ImportError, AttributeError) as exc:
        raise BadInputError(
            f"{target.source_file}: key 'adapter' is '{target.adapter}', provided by "
            f"{entry.origin} as {entry.reference}, which cannot be loaded ({exc}); "
            "reinstall that package or pick another adapter"
        ) from None
    adapter = factory(target, transport)
    if not isinstance(adapter, Adapter):
        missing = [m for m in PROTOCOL_MEMBERS if not hasattr(adapter, m)]
        raise BadInputError(
            f"{target.source_file}: key 'adapter' is '{target.adapter}', whose class lacks "
            f"{', '.join(missing)}; subclass costcli.adapters.base.AdapterBase for the defaults"
        )
    return adapter


def dialect(adapter: str) -> str:
    """The wire format an adapter speaks (its class's `dialect`), without starting it; a
    plugin that cannot be loaded or declares none says so."""
    entry = available().get(adapter)
    if entry is None:
        return "not installed"
    try:
        found = getattr(entry.load(), "dialect", None)
    except (ImportError, AttributeError):
        return "cannot be loaded"
    return found if isinstance(found, str) else "unknown"
