"""The architecture, checked: each package's import graph is acyclic, function-level
imports included, and the packages depend one way only: ``categories`` imports
nothing from ``lenses`` or ``interpreters``, ``lenses`` nothing from
``interpreters`` (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("categories", "lenses", "interpreters")


def modules() -> dict:
    """module name ↦ source path, for every module of the three packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            name = f"paralens.{package}" + ("" if path.stem == "__init__" else f".{path.stem}")
            found[name] = path
    return found


def imports(name: str, path: Path) -> set:
    """The project modules a module imports, anywhere in it (functions included)."""
    package = name if path.stem == "__init__" else name.rsplit(".", 1)[0]
    known, found = modules(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


GRAPH = {name: imports(name, path) for name, path in modules().items()}


def cycle(graph: dict, nodes: set):
    """A cycle among ``nodes``, or None (depth-first search)."""
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(graph[n] & nodes):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        state[n] = "done"
        stack.pop()
        return None

    for n in sorted(nodes):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_acyclically(package):
    # a package's __init__ re-exports its modules: the modules among themselves
    nodes = {n for n in GRAPH if n.startswith(f"paralens.{package}.")}
    found = cycle(GRAPH, nodes)
    assert found is None, " → ".join(found)


@pytest.mark.parametrize("package, forbidden", [
    ("categories", ("lenses", "interpreters")), ("lenses", ("interpreters", ))])
def test_packages_depend_one_way(package, forbidden):
    wrong = sorted((n, m) for n, ms in GRAPH.items() if n.split(".")[1] == package
                   for m in ms if m.split(".")[1] in forbidden)
    assert not wrong, wrong


def test_the_packages_import_each_other_relatively():
    # ``categories``, ``lenses`` and ``interpreters`` are installed as paralens.…; an
    # absolute ``from lenses import …`` would reach another distribution of that name
    absolute = sorted((name, ast.unparse(node)) for name, path in modules().items()
                      for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, (ast.Import, ast.ImportFrom))
                      and any(target.split(".")[0] in PACKAGES for target in (
                          [a.name for a in node.names] if isinstance(node, ast.Import)
                          else [node.module or ""] if not node.level else [])))
    assert not absolute, absolute


def test_the_check_sees_function_level_imports():
    tree = {"a": {"b"}, "b": {"a"}}
    assert cycle(tree, {"a", "b"}) == ["a", "b", "a"]
    assert "paralens.categories.adapter" in imports("paralens.categories.syntax",
                                                    ROOT / "categories" / "syntax.py")
    assert "paralens.categories.adapter" in imports("paralens.lenses.lens",
                                                    ROOT / "lenses" / "lens.py")


INTERPRETER_MODULES = sorted(n for n in modules() if n.startswith("paralens.interpreters."))


@pytest.mark.parametrize("name", INTERPRETER_MODULES)
def test_each_interpreter_module_imports_on_its_own(name):
    # a rule table checks its keys against the registered generators and kernels: a
    # module must import what registers the names it uses, not rely on another's import
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr.splitlines()[-1] if run.stderr else name
