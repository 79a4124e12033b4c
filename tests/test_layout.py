"""The package's layout and its one dependency rule (the architecture page, book/architecture.md).

Layers, lowest first: the base modules, ``data/``, ``stems/``, ``models/``, ``evaluation/``,
``training/``, ``experiments/``, ``book/``, ``bench/``, ``booktools/``. A module imports only
from its own layer or lower ones, at the top of the file (never inside a function, where an
import could hide a cycle), and the library (everything up to ``experiments/``) never imports
the book, the benchmark or the build tools. These tests read the sources; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dynconv"
BASE = {"errors", "fileio", "paths", "channels", "config", "provenance", "stats"}
LAYERS = ("base", "data", "stems", "models", "evaluation", "training", "experiments", "book",
          "bench", "booktools")
LIBRARY = LAYERS[: LAYERS.index("experiments") + 1]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    """The layer of a ``dynconv`` module: its folder, or "base" for a top-level module."""
    parts = module.split(".")
    if len(parts) == 2 and parts[1] in BASE:
        return "base"
    if len(parts) >= 2 and parts[1] in LAYERS:
        return parts[1]
    raise AssertionError(f"{module} is in no layer: add it to a folder (or to BASE)")


def _imports(module: str) -> list[tuple[ast.stmt, str, bool]]:
    """(statement, imported dynconv module, inside a function?) for every import of ``module``."""
    tree = ast.parse(SOURCES[module].read_text(encoding="utf-8"))
    found: list[tuple[ast.stmt, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                if child.module.split(".")[0] == "dynconv":
                    targets = [child.module]
                    if child.module in SOURCES and SOURCES[child.module].name == "__init__.py":
                        # `from dynconv.book import chapter`: the submodules named
                        targets += [f"{child.module}.{a.name}" for a in child.names
                                    if f"{child.module}.{a.name}" in SOURCES]
                    found.extend((child, t, in_function) for t in targets)
            elif isinstance(child, ast.Import):
                found.extend((child, a.name, in_function) for a in child.names
                             if a.name.split(".")[0] == "dynconv")
            visit(child, nested)

    visit(tree, False)
    return found


MODULES = [m for m in SOURCES if m != "dynconv"]  # the package root is the public facade


def test_every_module_is_in_a_layer():
    assert {layer_of(m) for m in MODULES} == set(LAYERS)


@pytest.mark.parametrize("module", MODULES)
def test_imports_go_down_the_layers_only(module):
    mine = LAYERS.index(layer_of(module))
    upward = [(stmt.lineno, target) for stmt, target, _ in _imports(module)
              if target != "dynconv" and LAYERS.index(layer_of(target)) > mine]
    assert upward == [], f"{module} imports a higher layer: {upward}"


@pytest.mark.parametrize("module", MODULES)
def test_no_dynconv_import_inside_a_function(module):
    inside = [(stmt.lineno, target) for stmt, target, in_function in _imports(module)
              if in_function]
    assert inside == [], f"{module} imports inside a function: {inside}"


def test_the_library_never_imports_the_book_bench_or_build_tools():
    library = [m for m in MODULES if layer_of(m) in LIBRARY]
    assert len(library) > 30
    found = [(m, t) for m in library for _, t, _ in _imports(m)
             if t != "dynconv" and layer_of(t) not in LIBRARY]
    assert found == []


def test_stems_import_only_channels_errors_and_each_other():
    allowed = {"dynconv.channels", "dynconv.errors"}
    stems = [m for m in MODULES if layer_of(m) == "stems"]
    assert len(stems) >= 9  # one file per design, plus common and sampling
    found = [(m, t) for m in stems for _, t, _ in _imports(m)
             if t not in allowed and layer_of(t) != "stems"]
    assert found == []


def test_the_library_imports_names_from_the_module_that_defines_them():
    """A package's ``__init__`` only re-exports for readers; inside the library an import
    names the defining module, so a record's code key holds exactly the modules it uses."""
    packages = {m for m, p in SOURCES.items() if p.name == "__init__.py" and m != "dynconv"}
    found = []
    for module in MODULES:
        if SOURCES[module].name == "__init__.py":
            continue
        for stmt, target, _ in _imports(module):
            if target in packages and isinstance(stmt, ast.ImportFrom) and any(
                    f"{target}.{a.name}" not in SOURCES for a in stmt.names):
                found.append((module, stmt.lineno, target))
    assert found == []


@pytest.mark.parametrize("package", sorted(m for m, p in SOURCES.items()
                                           if p.name == "__init__.py" and m != "dynconv"))
def test_a_package_init_holds_a_docstring_and_imports_only(package):
    """So that it can change no number (the code key leaves package ``__init__`` files out)."""
    tree = ast.parse(SOURCES[package].read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{package} has no docstring"
    kinds = {type(node).__name__ for node in tree.body[1:]}
    assert kinds <= {"ImportFrom", "Import", "Assign"}, kinds
    assigned = [t.id for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)]
    assert set(assigned) <= {"__all__"}


def test_the_rule_catches_an_upward_and_a_hidden_import(tmp_path, monkeypatch):
    """The checks above can fail: a stem that imports a model, and a model that imports the
    training loop inside a function, are both found."""
    bad_stem = tmp_path / "bad_stem.py"
    bad_stem.write_text("from dynconv.models.resnet import DynamicStemResNet\n")
    hidden = tmp_path / "hidden.py"
    hidden.write_text("def f():\n    from dynconv.training.loop import fit\n    return fit\n")
    monkeypatch.setitem(SOURCES, "dynconv.stems.bad_stem", bad_stem)
    monkeypatch.setitem(SOURCES, "dynconv.models.hidden", hidden)
    with pytest.raises(AssertionError, match="imports a higher layer"):
        test_imports_go_down_the_layers_only("dynconv.stems.bad_stem")
    with pytest.raises(AssertionError, match="inside a function"):
        test_no_dynconv_import_inside_a_function("dynconv.models.hidden")
