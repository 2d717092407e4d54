"""No import cycles in the product packages (grimp reads every import statement, those
under ``if TYPE_CHECKING:`` and inside functions included).

No package has one: the check fails on any cycle (``KNOWN`` would list an accepted one, and
the check fails when a listed one is gone).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set

import grimp

PACKAGES = ("greenlight", "engine", "bot", "router", "charts", "sim")
KNOWN: frozenset[frozenset[str]] = frozenset()  # none left; keep it that way


def cycles(graph: Mapping[str, Set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(iter(children), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def product_graph() -> dict[str, set[str]]:
    """Module → modules it imports, within the product packages."""
    g = grimp.build_graph(*PACKAGES, cache_dir=None)  # a stale cache would hide an edit
    return {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}


def test_the_cycle_finder_finds_loops_and_only_loops() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e2"}, "e2": set()}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]


def test_no_new_import_cycles_in_the_product() -> None:
    found = set(cycles(product_graph()))
    new = sorted(sorted(c) for c in found - KNOWN)
    assert new == [], f"import cycles: {new}"
    gone = sorted(sorted(c) for c in KNOWN - found)
    assert gone == [], f"no longer cycles, take them off KNOWN: {gone}"


def test_router_core_charts_and_sim_have_no_cycle() -> None:
    strict = ("router.", "greenlight.", "charts.", "sim.")
    found = [sorted(c) for c in cycles(product_graph()) if any(m.startswith(strict) for m in c)]
    assert found == []
