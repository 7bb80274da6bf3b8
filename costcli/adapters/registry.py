"""Adapter registry: built-ins and the `costcli.adapters` entry-point group, one path.

A built-in is declared exactly like a plugin: a name and an "module:attribute" reference
to a factory taking (Target, TransportOptions). Plugins add entries to the
`costcli.adapters` entry-point group in their own package metadata.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, cast

from costcli.adapters.base import Adapter, TransportOptions
from costcli.adapters.catalog import Target
from costcli.files.errors import BadInputError

BUILTINS = {
    "openai": "costcli.adapters.openai:OpenAIAdapter",
    "groq": "costcli.adapters.groq:GroqAdapter",
    "llamacpp": "costcli.adapters.llamacpp:LlamaCppAdapter",
}
GROUP = "costcli.adapters"
PROTOCOL_MEMBERS = ("name", "start", "stream", "close", "describe", "fit_workload", "refresh_facts")


@dataclass(frozen=True)
class AdapterEntry:
    name: str
    reference: str  # "module:attribute"
    origin: str  # "built-in" or the distribution that provides it

    def load(self) -> Callable[[Target, TransportOptions], Adapter]:
        module_name, _, attr = self.reference.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return cast(Callable[[Target, TransportOptions], Adapter], obj)


def available() -> dict[str, AdapterEntry]:
    """Every adapter by name; a plugin may not shadow a built-in."""
    entries = {name: AdapterEntry(name, ref, "built-in") for name, ref in BUILTINS.items()}
    for ep in entry_points(group=GROUP):
        if ep.name not in entries:
            dist = ep.dist.name if ep.dist else "a plugin"
            entries[ep.name] = AdapterEntry(ep.name, ep.value, dist)
    return entries


def create(target: Target, transport: TransportOptions) -> Adapter:
    entries = available()
    entry = entries.get(target.adapter)
    if entry is None:
        raise BadInputError(
            f"{target.source_file}: key 'adapter' is '{target.adapter}', which no installed "
            f"adapter provides; use one of: {', '.join(sorted(entries))}"
        )
    try:
        factory = entry.load()
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
