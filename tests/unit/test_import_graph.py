"""No two modules of appws import each other, directly or around a circle.

lint-imports' contracts ([tool.importlinter] in pyproject.toml) check the layers and
cycles between sibling packages; this checks every module against every other, so a
cycle inside one package (``server.consumer`` -> ``server.reserved`` -> back) fails
too. Imports under ``TYPE_CHECKING`` count, as they do for the contracts.
"""

from __future__ import annotations

import grimp


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The groups of modules that import one another round a circle, each sorted."""
    cycles: set[tuple[str, ...]] = set()
    for module in graph.modules:
        # The modules a module reaches and that reach it back: its strongly connected part.
        circle = graph.find_upstream_modules(module) & graph.find_downstream_modules(module)
        if circle:
            cycles.add(tuple(sorted(circle | {module})))
    return [list(cycle) for cycle in sorted(cycles)]


def test_import_cycles_finds_a_circle_and_only_the_circle() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "d")]:
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles_in_appws() -> None:
    graph = grimp.build_graph("appws", cache_dir=None)
    cycles = import_cycles(graph)
    described = "\n".join(
        ", ".join(
            f"{module} -> {imported}"
            for module in cycle
            for imported in sorted(graph.find_modules_directly_imported_by(module))
            if imported in cycle
        )
        for cycle in cycles
    )
    assert not cycles, f"import cycles in appws (each line one circle):\n{described}"
