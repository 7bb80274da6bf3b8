"""Print the house as built: each package of costcli/ with the packages it imports, and
its longest function (docs/architecture.md quotes this output).

    python scripts/house.py
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.test_house import LAYERS, MODULES, graph, layer  # noqa: E402


def main() -> None:
    uses: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph().items():
        for target in targets:
            if layer(target) not in ("", layer(module)):
                uses[layer(module)].add(layer(target))
    longest: dict[str, tuple[int, str]] = {}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                if size > longest.get(layer(module), (0, ""))[0]:
                    longest[layer(module)] = (size, where)
    rank = {name: i for i, name in enumerate(LAYERS)}
    print("| package | imports | longest function (lines) |")
    print("|---|---|---|")
    for name in LAYERS:
        below = ", ".join(sorted(uses[name], key=rank.__getitem__)) or "-"
        size, where = longest.get(name, (0, "-"))
        print(f"| `{name}` | {below} | {size}: `{where}` |")


if __name__ == "__main__":
    main()
