"""Data flows one way through harness/: its import graph (grimp's, from the source) has no
cycle, and the packages a plug-in extends are layers. The rule is README "Design notes"."""

from __future__ import annotations

import ast
import copy
import graphlib
from pathlib import Path

import grimp
import pytest

#: Top to bottom: a package may import those below it, never one above, even through other
#: packages (a chain cases -> analysis -> runner breaks the rule as a direct import would).
LAYERS = ("cli", "bench", "runner", "cases", "scorers", "providers")
ROOT = Path(__file__).parents[1] / "harness"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Every import counts: at module level, inside functions (deferred for speed, still a
    # dependency) and under TYPE_CHECKING (the code is written against that module's types).
    return grimp.build_graph("harness", cache_dir=None)


def dependencies(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Each module's imports plus the packages above them: importing ``harness.a.b`` runs
    ``harness/a/__init__.py`` first, so a package's ``__init__`` is part of every import of it."""
    found: dict[str, set[str]] = {}
    for module in graph.modules:
        found[module] = set()
        for imported in graph.find_modules_directly_imported_by(module):
            parts = imported.split(".")
            for name in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
                if name != module and not module.startswith(name + "."):
                    found[module].add(name)
    return found


def test_no_module_imports_itself_through_others(graph: grimp.ImportGraph) -> None:
    try:
        graphlib.TopologicalSorter(dependencies(graph)).prepare()
    except graphlib.CycleError as e:
        pytest.fail(f"import cycle: {' -> '.join(e.args[1])}")


def test_lower_layers_never_reach_higher_ones(graph: grimp.ImportGraph) -> None:
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS, containers={"harness"})
    routes = [
        " -> ".join(["|".join(sorted(r.heads)), *r.middle, "|".join(sorted(r.tails))])
        for d in illegal
        for r in d.routes
    ]
    assert not routes, "a lower layer imports a higher one:\n" + "\n".join(sorted(routes))


def test_modules_take_only_the_version_from_the_public_facade() -> None:
    """``harness/__init__.py`` loads its public names lazily (importlib, which no import graph
    sees), from the modules below it: a module inside harness/ that imported one of them from
    ``harness`` would depend on the facade above it."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "harness" and not node.level:
                names = {a.name for a in node.names} - {"__version__"}
                if names:
                    offenders.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {names}")
    assert not offenders, offenders


def test_a_new_cycle_is_caught(graph: grimp.ImportGraph) -> None:
    """The check sees a back edge the moment one is written (here: providers importing the
    runner, which imports the providers)."""
    graph = copy.deepcopy(graph)
    graph.add_import(importer="harness.providers.base", imported="harness.runner.channel")
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(dependencies(graph)).prepare()
    layered = graph.find_illegal_dependencies_for_layers(layers=LAYERS, containers={"harness"})
    assert {(d.importer, d.imported) for d in layered} == {("harness.providers", "harness.runner")}
