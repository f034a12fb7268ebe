"""The shared library's wings import in one direction only (read from the source, every import).

- ``engine`` imports only numpy, numba (its compiled loops), the standard library,
  ``errors`` and itself;
- ``formats`` and ``messaging`` never import ``db``;
- nothing in ``shared/`` or ``cli/`` imports a service, and no service imports another;
- the modules of ``autonama_shared`` form no import cycle, nor do its wings (``formats``
  and ``runs`` importing each other is a cycle even when no two modules are), nor the
  modules of each service and of the CLI (imports under ``TYPE_CHECKING`` count).

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared/src/autonama_shared"
SERVICES = {
    p.name: p / "src" / f"autonama_{p.name}" for p in (ROOT / "services").iterdir() if p.is_dir()
}
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def module_name(path: Path, package_root: Path, package: str) -> str:
    parts = list(path.relative_to(package_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def imports_of(source: str, module: str) -> Iterator[str]:
    """Every module ``source`` imports (absolute names; relative imports resolved)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, node.module] if node.module else parent)
            # ``from pkg import sub`` may name a submodule: count both.
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def graph(package_root: Path, package: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in sorted(package_root.rglob("*.py")):
        name = module_name(path, package_root, package)
        out[name] = set(imports_of(path.read_text(encoding="utf-8"), name))
    return out


def violations(modules: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a rule of the module docstring, as 'module -> import: rule'."""
    found = []
    for module, imported in modules.items():
        wing = module.split(".")[1] if module.count(".") >= 1 else ""
        for name in sorted(imported):
            top = name.split(".")[0]
            if top.startswith("autonama_") and top != "autonama_shared":
                found.append(f"{module} -> {name}: the shared library imports no app")
            if wing == "engine":
                allowed = (
                    top in STDLIB
                    or top in ("numpy", "numba")
                    or name.startswith(("autonama_shared.engine", "autonama_shared.errors"))
                )
                if not allowed:
                    found.append(f"{module} -> {name}: engine imports only numpy, numba and errors")
            if wing in ("formats", "messaging") and name.startswith("autonama_shared.db"):
                found.append(f"{module} -> {name}: {wing} never imports db")
    return found


def cycles(modules: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among the modules (Tarjan's strongly connected components)."""
    edges = {m: {i for i in imported if i in modules and i != m} for m, imported in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def _package_modules() -> dict[str, set[str]]:
    modules = graph(SHARED, "autonama_shared")
    # a package's __init__ importing its own submodules is not a cycle of the wings
    for name in list(modules):
        if (SHARED / name.removeprefix("autonama_shared.").replace(".", "/")).is_dir():
            modules[name] = {i for i in modules[name] if not i.startswith(name + ".")}
    return modules


def test_the_shared_library_keeps_its_import_rules() -> None:
    assert violations(_package_modules()) == []


def test_the_shared_library_has_no_import_cycle() -> None:
    assert cycles(_package_modules()) == []


@pytest.mark.parametrize("app", sorted(SERVICES))
def test_no_service_imports_another(app: str) -> None:
    others = {f"autonama_{name}" for name in SERVICES if name != app}
    found = [
        f"{module} -> {name}"
        for module, imported in graph(SERVICES[app], f"autonama_{app}").items()
        for name in imported
        if name.split(".")[0] in others
    ]
    assert found == []


def test_the_cli_imports_no_service() -> None:
    services = {f"autonama_{name}" for name in SERVICES}
    cli = graph(ROOT / "cli/src/autonama_cli", "autonama_cli")
    assert [n for imported in cli.values() for n in imported if n.split(".")[0] in services] == []


# The test of the test: each rule catches a planted import.


def test_a_forbidden_import_is_caught() -> None:
    planted = {
        "autonama_shared.engine.bands": {"numpy", "autonama_shared.errors", "pandas"},
        "autonama_shared.engine.specs": {"autonama_shared.messaging.events"},
        "autonama_shared.formats.results": {"autonama_shared.db.store"},
        "autonama_shared.messaging.events": {"autonama_shared.engine.specs"},
        "autonama_shared.runs.scan": {"autonama_analyzer.analyze"},
    }
    assert violations(planted) == [
        "autonama_shared.engine.bands -> pandas: engine imports only numpy, numba and errors",
        "autonama_shared.engine.specs -> autonama_shared.messaging.events: "
        "engine imports only numpy, numba and errors",
        "autonama_shared.formats.results -> autonama_shared.db.store: formats never imports db",
        "autonama_shared.runs.scan -> autonama_analyzer.analyze: the shared library imports no app",
    ]


def test_a_planted_cycle_is_caught() -> None:
    planted = {
        "autonama_shared.a": {"autonama_shared.b"},
        "autonama_shared.b": {"autonama_shared.c"},
        "autonama_shared.c": {"autonama_shared.a"},
        "autonama_shared.d": {"autonama_shared.a"},
    }
    assert cycles(planted) == [["autonama_shared.a", "autonama_shared.b", "autonama_shared.c"]]


def test_lazy_and_relative_imports_are_seen() -> None:
    source = "def f():\n    import pandas\n    from .bands import fit\n"
    assert set(imports_of(source, "autonama_shared.engine.x")) == {
        "pandas",
        "autonama_shared.engine.bands",
        "autonama_shared.engine.bands.fit",
    }


def wings(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """The import graph between the wings of ``autonama_shared`` (``engine``, ``db``,
    ``formats``...; a top-level module is a wing of its own)."""

    def wing(name: str) -> str:
        return ".".join(name.split(".")[:2])

    out: dict[str, set[str]] = {}
    for module, imported in modules.items():
        if not module.startswith("autonama_shared."):
            continue
        out.setdefault(wing(module), set()).update(
            wing(i)
            for i in imported
            if i.startswith("autonama_shared.") and wing(i) in {wing(m) for m in modules}
        )
    return out


def test_the_shared_librarys_wings_import_each_other_in_one_direction() -> None:
    assert cycles(wings(_package_modules())) == []


def _app_modules(root: Path, package: str) -> dict[str, set[str]]:
    """An app's import graph; a package's __init__ importing its own submodules is no cycle."""
    modules = graph(root, package)
    for name in list(modules):
        if (root / name.removeprefix(package).lstrip(".").replace(".", "/")).is_dir():
            modules[name] = {i for i in modules[name] if not i.startswith(name + ".")}
    return modules


@pytest.mark.parametrize("app", sorted(SERVICES))
def test_no_service_has_an_import_cycle(app: str) -> None:
    """Imports under ``TYPE_CHECKING`` count: they are read here like any other."""
    assert cycles(_app_modules(SERVICES[app], f"autonama_{app}")) == []


def test_a_planted_cycle_of_wings_is_caught() -> None:
    planted = {
        "autonama_shared.formats.results": {"autonama_shared.runs.scan"},
        "autonama_shared.runs.backtest": {"autonama_shared.formats.report"},
        "autonama_shared.formats.report": set(),
        "autonama_shared.runs.scan": set(),
    }
    assert cycles(wings(planted)) == [["autonama_shared.formats", "autonama_shared.runs"]]


def test_the_cli_has_no_import_cycle() -> None:
    assert cycles(_app_modules(ROOT / "cli/src/autonama_cli", "autonama_cli")) == []
