"""The package's layers go one way: no stage imports a stage above it, at
module level or hidden inside a function, and there is no import cycle.

The order is the data flow (README, "Layout"). A package may import itself
and any package on a lower floor; packages on the same floor do not import
each other. The imports are read from the source with :mod:`ast`, so the
test sees every ``import`` statement, wherever it stands.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent

#: floors, lowest first; a module belongs to the longest prefix listed
FLOORS: tuple[tuple[str, ...], ...] = (
    ("grammars",),
    ("alphanas.ops",),
    ("alphanas.lang", "alphanas"),  # the package root re-exports the language
    ("alphanas.registry",),
    ("alphanas.pytorch", "alphanas.zoo", "alphanas.benchmarks"),
    ("alphanas.properties",),
    ("synth",),
    ("alphanas.variation",),
    ("alphanas.surrogate",),  # predictors over programs and the surrogate-assisted variation
    ("alphanas.evaluation",),
    ("alphanas.oneshot",),  # supernets from grammars: gradient and single-path search, the RL controller
    ("alphanas.search",),
    ("alphanas.runs",),
    ("alphanas.bench",),
    ("alphanas.cli",),
)


def module_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for top in ("alphanas", "synth", "grammars"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[name] = path
    return files


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import sub`` counts
    as an import of ``pkg.sub`` when that is a module)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in known else module)
    return {m for m in found if m in known and m != name}


def floor_of(module: str) -> tuple[int, str]:
    """The floor of a module and the package that puts it there."""
    best: tuple[int, str] | None = None
    for level, packages in enumerate(FLOORS):
        for package in packages:
            if (module == package or module.startswith(package + ".")) and (
                best is None or len(package) > len(best[1])
            ):
                best = (level, package)
    assert best is not None, f"{module} is on no floor: add its package to FLOORS"
    return best


def import_graph() -> nx.DiGraph:
    files = module_files()
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for name, path in files.items():
        for target in imported_modules(name, path, set(files)):
            graph.add_edge(name, target)
    return graph


def upward_imports(graph: nx.DiGraph) -> list[str]:
    wrong = []
    for source, target in graph.edges:
        (low, pkg_a), (high, pkg_b) = floor_of(source), floor_of(target)
        same_package = pkg_a == pkg_b
        if high > low or (high == low and not same_package and {pkg_a, pkg_b} != {"alphanas", "alphanas.lang"}):
            wrong.append(f"{source} (floor {low}) imports {target} (floor {high})")
    return sorted(wrong)


def test_every_module_is_on_a_floor() -> None:
    for module in module_files():
        floor_of(module)


def test_no_import_goes_up_or_sideways() -> None:
    assert upward_imports(import_graph()) == []


def test_no_import_cycles_between_packages() -> None:
    graph = import_graph()
    packages = nx.DiGraph()
    for source, target in graph.edges:
        a, b = floor_of(source)[1], floor_of(target)[1]
        if a != b and {a, b} != {"alphanas", "alphanas.lang"}:
            packages.add_edge(a, b)
    assert list(nx.simple_cycles(packages)) == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The test can fail: a lower stage importing a higher one, inside a
    function, is reported."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from alphanas.search.loop import run_search\n")
    known = set(module_files())
    graph = nx.DiGraph()
    for target in imported_modules("alphanas.lang.fake", source, known):
        graph.add_edge("alphanas.lang.fake", target)
    assert upward_imports(graph) == ["alphanas.lang.fake (floor 2) imports alphanas.search.loop (floor 11)"]
