"""Engine registry: built-ins and the `costcli.engines` entry-point group, one path.

A built-in is declared exactly like a plugin: a name and a "module:attribute" reference to
an `Engine` class (or any callable returning an Engine). A plugin adds an entry to the
`costcli.engines` group of its own package metadata, for example

    [project.entry-points."costcli.engines"]
    kubernetes = "costcli_k8s:JobEngine"

and `RunPlan(engine="kubernetes", workers=8)` (`costcli run --engine kubernetes --workers 8`)
runs on it, with no change to costcli. Engines other than `local` are handed the plan
split into `workers` shards (RunPlan.parts); they run each shard with costcli's own
engine of one run (costcli.load.runner) and join the parts with costcli.engines.merge.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from costcli.engines.base import Engine
from costcli.files.errors import BadInputError

BUILTINS = {
    "local": "costcli.engines.local:LocalEngine",
    "processes": "costcli.engines.processes:ProcessesEngine",
    "ray": "costcli.engines.ray:RayEngine",
}
GROUP = "costcli.engines"


@dataclass(frozen=True)
class EngineEntry:
    name: str
    reference: str  # "module:attribute"
    origin: str  # "built-in" or the distribution that provides it

    def load(self) -> Any:
        module_name, _, attr = self.reference.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj


def available() -> dict[str, EngineEntry]:
    """Every engine by name; a plugin may not shadow a built-in."""
    entries = {name: EngineEntry(name, ref, "built-in") for name, ref in BUILTINS.items()}
    for ep in entry_points(group=GROUP):
        if ep.name not in entries:
            dist = ep.dist.name if ep.dist else "a plugin"
            entries[ep.name] = EngineEntry(ep.name, ep.value, dist)
    return entries


def engine(name: str) -> Engine:
    """The engine registered as `name`; a miss names the ones there are."""
    entries = available()
    entry = entries.get(name)
    if entry is None:
        raise BadInputError(
            f"--engine {name}: no installed engine has that name; use one of: "
            f"{', '.join(sorted(entries))}"
        )
    try:
        made = entry.load()()
    except (ImportError, AttributeError) as exc:
        raise BadInputError(
            f"--engine {name}: provided by {entry.origin} as {entry.reference}, which cannot "
            f"be loaded ({exc}); reinstall that package or pick another engine"
        ) from None
    if not isinstance(made, Engine):
        raise BadInputError(
            f"--engine {name}: {entry.reference} ({entry.origin}) is not an engine: it needs "
            "a `name` and a `run(plan, observer)` (costcli.engines.base.Engine)"
        )
    return made
