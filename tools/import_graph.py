"""python tools/import_graph.py [PACKAGE_DIR]

Prints the import graph of a package's own modules (default: python/jittrace), one line per
module: the modules it imports at module level, and in brackets those it imports inside a
function (lazily, as a way around a cycle). Ends with the cycles found, counting lazy imports,
or "no cycle". Reads the source (ast); imports nothing.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def imports(path: Path, own: set[str]) -> tuple[set[str], set[str]]:
    """The package's own modules that `path` imports: (at module level, inside functions)."""
    eager: set[str] = set()
    lazy: set[str] = set()
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        names = {node.module} if node.module else {a.name for a in node.names}
        (eager if id(node) in top else lazy).update(names & own)
    return eager, lazy - eager


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's first sighting in a depth-first walk (enough to show them)."""
    found: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name) :]
            key = tuple(sorted(cycle))
            if key not in seen:
                seen.add(key)
                found.append([*cycle, name])
            return
        for dep in sorted(graph.get(name, ())):
            visit(dep, [*path, name])

    for name in sorted(graph):
        visit(name, [])
    return found


def main(argv: list[str]) -> int:
    package = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "python/jittrace"
    modules = sorted(package.glob("*.py"))
    own = {p.stem for p in modules}
    graph: dict[str, set[str]] = {}
    for path in modules:
        eager, lazy = imports(path, own)
        graph[path.stem] = eager | lazy
        shown = ", ".join(sorted(eager)) + (f" [{', '.join(sorted(lazy))}]" if lazy else "")
        print(f"{path.stem}: {shown}")
    graph.pop("__init__", None)  # the package's face imports everything; nothing imports it
    found = cycles(graph)
    for cycle in found:
        print("cycle: " + " -> ".join(cycle))
    if not found:
        print("no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
