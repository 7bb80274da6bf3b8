"""The house stays as drawn (docs/architecture.md): packages by concern, imports only
downward, no import circle anywhere in costcli/.

Every import statement counts: module level, inside functions and under TYPE_CHECKING
alike. A module may import its own package and the packages below its own in LAYERS. The
root package (`costcli/__init__.py`) holds only `__version__` and the lazy public names:
it imports nothing at run time, so a module may read `__version__` from it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "costcli"

# lowest first: each may import only itself and what stands before it
LAYERS = (
    "files",  # errors, readers (bytes -> validated model), redaction, search paths
    "workloads",  # RequestSpec, Workload, their sources, grading
    "adapters",  # the Adapter protocol, the provider catalogue, one module per dialect
    "results",  # RequestRecord, Summary, the results document, regress (check)
    "pricing",  # prices file, cost, projection, token basis
    "load",  # the schedule, measure(), phases, sessions, sweep, signals, runner
    "plan",  # RunPlan, ProjectionPlan, resolve()
    "engines",  # the Engine protocol, its registry, local / processes / ray, merge
    "api",  # the public API
    "render",  # pure renderers
    "testing",  # the mock server, the pytest plugin
    "cli",  # the Typer app
)
TOP_LEVEL_MAX = 12  # packages and modules at the top of costcli/, besides the dunders


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = modules()


def imported(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, costcli module) for every import statement of the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        for name in names:
            found = name
            while found and found not in MODULES:
                found = found.rpartition(".")[0]
            if found and found != module:
                yield node.lineno, found


def graph() -> dict[str, set[str]]:
    return {m: {t for _, t in imported(m, p)} for m, p in MODULES.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def climbs() -> list[str]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    found = []
    for module, path in MODULES.items():
        own = layer(module)
        if own in ("", "__main__"):
            continue
        for line, target in imported(module, path):
            other = layer(target)
            if other == "":
                if not _reads_version_only(path, line):
                    found.append(f"{path.name}:{line} {module} imports the root package")
            elif other != own and rank[other] > rank[own]:
                found.append(f"{module}:{line} ({own}) imports {target} ({other}), above it")
    return found


def _reads_version_only(path: Path, line: int) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.lineno == line and node.module == "costcli":
            return [a.name for a in node.names] == ["__version__"]
    return False


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_a_package_above_its_own() -> None:
    assert climbs() == []


def test_there_is_no_import_circle_anywhere_in_costcli() -> None:
    edges = graph()
    edges["costcli"] = set()  # the root's names are lazy: checked on their own below
    assert circles(edges) == []


def test_the_root_package_imports_nothing_at_run_time() -> None:
    tree = ast.parse((ROOT / "__init__.py").read_text(encoding="utf-8"))
    eager = [
        node.lineno
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and (
            node.module if isinstance(node, ast.ImportFrom) else node.names[0].name or ""
        ).startswith("costcli")
    ]
    assert eager == []


def test_every_package_is_a_layer_and_the_top_stays_small() -> None:
    top = sorted(
        p.stem if p.is_file() else p.name
        for p in ROOT.iterdir()
        if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
        and p.name not in ("__init__.py", "__main__.py")
    )
    assert sorted(LAYERS) == top
    assert len(top) <= TOP_LEVEL_MAX


def test_the_checks_can_fail() -> None:
    # the same walk finds a circle and a climb where there is one
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    rank = {name: i for i, name in enumerate(LAYERS)}
    assert rank["files"] < rank["engines"] < rank["cli"]


@pytest.mark.parametrize("package", [p for p in LAYERS if (ROOT / p).is_dir()])
def test_each_package_says_what_it_holds(package: str) -> None:
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
    assert doc, f"costcli/{package}/__init__.py needs a docstring: what it holds, what it imports"


def test_the_architecture_page_draws_the_graph_as_built() -> None:
    """docs/architecture.md's table (python scripts/house.py) names, per package, exactly
    the packages it imports."""
    page = (ROOT.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    drawn = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].strip("`") in LAYERS:
            drawn[cells[0].strip("`")] = set() if cells[1] == "-" else set(cells[1].split(", "))
    built: dict[str, set[str]] = {name: set() for name in LAYERS}
    for module, targets in graph().items():
        for target in targets:
            if layer(module) in built and layer(target) not in ("", layer(module)):
                built[layer(module)].add(layer(target))
    assert drawn == built, "run: python scripts/house.py, and paste its table"
