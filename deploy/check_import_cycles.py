"""Fail on any import circle between modules of the project, imports inside functions included.

    python deploy/check_import_cycles.py [PACKAGE ...] [--warn]

The import graph comes from grimp (import-linter's engine), which reads every ``import`` statement
of a module wherever it stands: at the top, inside a function (a "lazy" import that only hides the
circle from the interpreter) or under ``if TYPE_CHECKING:`` (counted too, as import-linter's contracts
count it: a module that needs another's types depends on it). Each circle is printed as a chain of
modules, with the line of each import.

A package's ``__init__`` is a module like any other: importing ``pkg.sub`` is not counted as an
import of ``pkg`` (Python runs ``pkg/__init__.py`` first, but that is how packages work, not a
dependency), so an ``__init__`` that re-exports its submodules is fine. A submodule that imports a
sibling *through* the package (``from pkg import name`` inside ``pkg.sub``, where ``pkg/__init__.py``
imports ``pkg.sub``) is a real circle and is reported.

Every import that lies on a circle is shown in at least one printed circle: within each group of
modules that reach one another (a strongly connected component), each import between two of them
is closed into its shortest circle. Exit status 1 when there is any circle (0 with --warn), else 0.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path

import grimp

PACKAGES = (
    "marketplace",
    "accounts",
    "audit",
    "owners",
    "renters",
    "scheduling",
    "provisioning",
    "billing",
    "webhooks",
    "notifications",
    "demo",
)

Graph = dict[str, set[str]]


def import_graph(packages: Sequence[str]) -> tuple[grimp.ImportGraph, Graph]:
    """grimp's graph of ``packages`` (every import statement, lazy and TYPE_CHECKING ones included) and its edges."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    edges = {
        module: {imported for imported in graph.find_modules_directly_imported_by(module) if imported != module}
        for module in graph.modules
    }
    return graph, edges


def strongly_connected(edges: Graph) -> list[list[str]]:
    """The groups of two or more modules that all reach one another (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def _shortest_path(edges: Graph, start: str, goal: str, within: set[str]) -> list[str]:
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (back := previous[path[-1]]) is not None:
                path.append(back)
            return path[::-1]
        for child in sorted(edges[node] & within):
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"{goal} is not reachable from {start} inside its component")


def circles(edges: Graph) -> list[list[str]]:
    """Circles (first module repeated at the end) that between them use every import lying on a circle."""
    found: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for group in strongly_connected(edges):
        members = set(group)
        covered: set[tuple[str, str]] = set()
        for importer in group:
            for imported in sorted(edges[importer] & members):
                if (importer, imported) in covered:
                    continue
                loop = [importer, *_shortest_path(edges, imported, importer, members)]
                covered.update(zip(loop, loop[1:], strict=False))
                body = loop[:-1]
                turn = body.index(min(body))
                key = tuple(body[turn:] + body[:turn])
                if key not in seen:
                    seen.add(key)
                    found.append([*key, key[0]])
    return found


def describe(graph: grimp.ImportGraph, loop: list[str]) -> str:
    lines = [" -> ".join(loop)]
    for importer, imported in zip(loop, loop[1:], strict=False):
        for detail in graph.get_import_details(importer=importer, imported=imported):
            lines.append(f"    {importer}:{detail['line_number']}: {detail['line_contents']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", default=list(PACKAGES), help="top-level packages (default: the project)")
    parser.add_argument("--warn", action="store_true", help="print the circles but exit 0")
    args = parser.parse_args(argv)
    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    graph, edges = import_graph(args.packages)
    found = circles(edges)
    for loop in found:
        print(f"import circle: {describe(graph, loop)}")
    groups = strongly_connected(edges)
    if found:
        print(
            f"{len(found)} import circle(s) in {len(groups)} group(s) of modules that import one another: "
            + "; ".join("{" + ", ".join(g) + "}" for g in groups)
        )
        return 0 if args.warn else 1
    print(f"no import circles among the {len(edges)} modules of {', '.join(args.packages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
