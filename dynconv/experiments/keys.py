"""Code keys: which of the library's source a record's numbers depend on, hashed as code.

A stored record may be reused only while the code that produced its numbers is unchanged
(:mod:`dynconv.experiments.runner`). "The code" of one experiment is, per module, a hash of its
*normalised syntax tree* (:func:`module_digest`): ``ast.parse``, docstrings removed,
``ast.dump`` without line numbers. Comments, docstrings, blank lines and formatting therefore
do not change a key; a changed constant, condition or call does.

Which modules count (:func:`experiment_code_key`):

* **the training path**: :data:`TRAINING_PATH` and every ``dynconv`` module it imports,
  followed through the import statements of each file, not entering ``stems/`` and
  ``models/`` (:data:`MODEL_LAYER`: a model's own modules are found from the model, below).
  Only modules that can change a number count, and the layout says which
  (:func:`is_numeric`): everything under ``data/``, ``stems/``, ``models/``, ``evaluation/``
  and ``training/``, plus ``channels``, ``config`` and ``experiments.runner``; no hand-kept
  list of modules;
* **the model**: the module of every class in ``model.modules()`` that lives in ``dynconv``,
  and what those modules import, the same way;
* **the builder**: the source of the zoo's builder function for the model (with the fixed
  arguments of a ``functools.partial``), hashed on its own, not its whole module;
* **the inspection** (optional): the source of the function that stores what a chapter plots
  of the trained model (:mod:`dynconv.experiments.inspection`).

So editing one first layer's module changes the key of the experiments whose models contain
that layer and no other; editing the training loop changes every key.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import json
import textwrap
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from dynconv.errors import ConfigError

__all__ = [
    "MODEL_LAYER", "NUMERIC_MODULES", "NUMERIC_PACKAGES", "PACKAGE", "TRAINING_PATH",
    "in_package", "is_numeric", "clear_caches", "function_digest",
    "imported_modules", "model_modules", "module_closure", "module_digest", "normalised_dump",
    "digest_of", "part_name", "read_source", "stale_reason",
]

PACKAGE = "dynconv"
# The layout decides which modules can change a number (the architecture page): every module of
# these folders, and these three of the rest. Everything else (errors, paths, file writing,
# provenance, statistics, the record container, the registry, keys, launch, the book, the bench,
# the build tools) is neither hashed nor followed.
NUMERIC_PACKAGES: tuple[str, ...] = (
    "dynconv.data", "dynconv.stems", "dynconv.models", "dynconv.evaluation", "dynconv.training",
)
NUMERIC_MODULES: frozenset[str] = frozenset({
    "dynconv.channels", "dynconv.config", "dynconv.experiments.runner",
})
# Where every run goes through (imports followed): data, training, evaluation, costs.
TRAINING_PATH: tuple[str, ...] = ("dynconv.experiments.runner",)
# Not entered from the training path: a model's own modules are found from the model itself.
MODEL_LAYER: tuple[str, ...] = ("dynconv.stems", "dynconv.models")


def in_package(module: str, packages: Iterable[str]) -> bool:
    """Whether ``module`` is one of ``packages`` or inside one of them."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def is_numeric(module: str) -> bool:
    """Whether ``module`` can change a record's numbers, by where it lives. A package's own
    ``__init__`` holds only its docstring and re-exports (``tests/test_layout.py``), so it
    does not count."""
    if module in NUMERIC_PACKAGES:
        return False
    return module in NUMERIC_MODULES or in_package(module, NUMERIC_PACKAGES)


def _source_file(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise ConfigError(f"cannot find the source of {module}")
    return Path(spec.origin)


def read_source(module: str) -> str:
    """The source text of ``module`` (a seam for tests that edit a module in memory)."""
    return _source_file(module).read_text(encoding="utf-8")


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
    return tree


def normalised_dump(source: str) -> str:
    """The syntax tree of ``source`` without docstrings, line numbers or formatting."""
    return ast.dump(_strip_docstrings(ast.parse(textwrap.dedent(source))),
                    include_attributes=False)


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.cache
def _module_digest(module: str, source: str) -> str:
    return digest_of(normalised_dump(source))


def module_digest(module: str) -> str:
    """sha256 of ``module``'s normalised syntax tree (see the module docstring)."""
    return _module_digest(module, read_source(module))


def function_digest(func: Callable[..., Any]) -> str:
    """sha256 of a function's normalised source; a ``functools.partial`` adds its fixed
    arguments."""
    fixed: dict[str, Any] = {}
    while isinstance(func, functools.partial):
        fixed = {**func.keywords, **fixed}
        func = func.func
    text = normalised_dump(inspect.getsource(func))
    return digest_of(text + json.dumps(fixed, sort_keys=True, default=str))


def imported_modules(module: str) -> set[str]:
    """The ``dynconv`` modules that ``module``'s import statements name, wherever they are
    (top level or inside a function)."""
    return set(_imported_modules(read_source(module)))


@functools.cache
def _imported_modules(source: str) -> frozenset[str]:
    """Parsed once per source text: every run's key walks the same modules' imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != PACKAGE:
                continue
            found.add(node.module)
            if _is_package(node.module):  # `from dynconv import distributed`: a module too
                found.update(f"{node.module}.{a.name}" for a in node.names
                             if importlib.util.find_spec(f"{node.module}.{a.name}") is not None)
    return frozenset(found)


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def module_closure(roots: Iterable[str], *, stop: Iterable[str] = (),
                   counts: Callable[[str], bool] = is_numeric) -> set[str]:
    """``roots`` and every ``dynconv`` module they import, transitively, not entering the
    packages or modules of ``stop`` and keeping only modules that ``counts`` (by default
    :func:`is_numeric`; the others' own imports are not followed either)."""
    stop = tuple(stop)
    seen: set[str] = set()
    todo = [r for r in roots if counts(r) and not in_package(r, stop)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(m for m in imported_modules(module)
                    if m not in seen and counts(m) and not in_package(m, stop))
    return seen


def model_modules(model: nn.Module) -> set[str]:
    """The ``dynconv`` modules that define a class in ``model.modules()``."""
    return {type(m).__module__ for m in model.modules()
            if type(m).__module__.split(".")[0] == PACKAGE}


def part_name(part: str) -> str:
    """How a part of a code key reads: "stems/v3.py", "the v5 builder", "the v3_routing
    inspection"."""
    kind, _, name = part.partition(":")
    if name:
        return f"the {name} {kind}"
    return part.removeprefix(PACKAGE + ".").replace(".", "/") + ".py"


def stale_reason(stored: Mapping[str, Any], key: Mapping[str, Any]) -> str:
    """Why a record keyed by ``stored`` is stale under ``key`` (a run key of
    :func:`dynconv.experiments.runner.run_key`), in words."""
    reasons = []
    if stored.get("config") != key["config"]:
        reasons.append("the configuration changed")
    if stored.get("data") != key["data"]:
        reasons.append("the data changed")
    if stored.get("code") != key["code"]:
        old, new = stored.get("modules") or {}, key["modules"]
        changed = sorted(part_name(m) for m in set(old) | set(new) if old.get(m) != new.get(m))
        reasons.append(f"the code changed ({', '.join(changed) or 'module list'})")
    return "; ".join(reasons) or "its key changed"


def clear_caches() -> None:
    """Forget cached digests and imports (after a test edited a source)."""
    _module_digest.cache_clear()
    _imported_modules.cache_clear()
