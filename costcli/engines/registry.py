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

from costcli.engines.base import Engine
from costcli.files.entry_points import Entry, entries
from costcli.files.errors import BadInputError

BUILTINS = {
    "local": "costcli.engines.local:LocalEngine",
    "processes": "costcli.engines.processes:ProcessesEngine",
    "ray": "costcli.engines.ray:RayEngine",
}
GROUP = "costcli.engines"


def available() -> dict[str, Entry]:
    """Every engine by name; a plugin may not shadow a built-in."""
    return entries(BUILTINS, GROUP)


def engine(name: str) -> Engine:
    """The engine registered as `name`; a miss names the ones there are."""
    found = available()
    entry = found.get(name)
    if entry is None:
        raise BadInputError(
            f"--engine {name}: no installed engine has that name; use one of: "
            f"{', '.join(sorted(found))}"
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
