"""Built-ins and an entry-point group, through one path: what every costcli registry
(adapters, engines) reads. A built-in is declared exactly like a plugin, a name and a
"module:attribute" reference; a plugin may not shadow a built-in."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any


@dataclass(frozen=True)
class Entry:
    name: str
    reference: str  # "module:attribute"
    origin: str  # "built-in" or the distribution that provides it

    def load(self) -> Any:
        module_name, _, attr = self.reference.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj


def entries(builtins: Mapping[str, str], group: str) -> dict[str, Entry]:
    """Every entry by name: the built-ins, then the group's plugins that shadow none."""
    found = {name: Entry(name, ref, "built-in") for name, ref in builtins.items()}
    for ep in entry_points(group=group):
        if ep.name not in found:
            dist = ep.dist.name if ep.dist else "a plugin"
            found[ep.name] = Entry(ep.name, ep.value, dist)
    return found
