"""The import graph of kinmix, read from the source with ``ast``: layers and privacy.

1. No module imports a module of a higher layer (``LAYERS``, lowest first, as in
   DESIGN.md; modules of one layer may import each other).
2. No package imports a ``_``-prefixed name of another package: ``from kinmix.cov._base``
   inside ``kinmix.mean`` is refused; a package may use its own privates and those of the
   packages that contain it (``kinmix._validate`` is kinmix's shared internal toolbox).

Every import counts, also those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "kinmix"

#: Layers, lowest first. A module belongs to the layer of its longest listed prefix.
LAYERS: list[tuple[str, ...]] = [
    (
        "kinmix.errors",
        "kinmix.constants",
        "kinmix._validate",
        "kinmix._progress",
        "kinmix._version",
        "kinmix._killpoints",
        "kinmix._malloc",
        "kinmix.impute",
    ),
    ("kinmix.linalg", "kinmix.tridiagonal"),
    ("kinmix.params",),
    ("kinmix.link",),
    ("kinmix.lik", "kinmix.cov", "kinmix.mean"),
    ("kinmix.kernel",),
    ("kinmix.ep",),
    ("kinmix.random", "kinmix.example", "kinmix.simulate"),
    ("kinmix.io", "kinmix.checkpoint"),
    ("kinmix.distributed", "kinmix._dask_plugins"),
    ("kinmix.lmm", "kinmix.glmm", "kinmix.gp", "kinmix.ggp"),
    ("kinmix.grm",),
    ("kinmix.matfree",),
    ("kinmix.gwas", "kinmix.workflow"),
    ("kinmix.plot",),
    ("kinmix.cli",),
    ("kinmix",),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imports(path: Path) -> list[tuple[int, str]]:
    """Absolute names of every kinmix module or attribute imported by ``path``."""
    name = module_name(path)
    package = name if is_package(path) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return [(line, target) for line, target in found if target.split(".")[0] == "kinmix"]


def layer(target: str) -> int:
    best, rank = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (target == prefix or target.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{target} is in no layer: add it to LAYERS"
    return rank


def resolve(target: str) -> str:
    """The module an imported name lives in (``kinmix.lmm.LMM`` -> ``kinmix.lmm``)."""
    parts = target.split(".")
    while parts:
        candidate = SRC.parent.joinpath(*parts)
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            return ".".join(parts)
        parts.pop()
    raise AssertionError(f"{target} names no kinmix module")


SOURCES = sorted(SRC.rglob("*.py"))
EDGES = [(path, line, target) for path in SOURCES for line, target in imports(path)]


def test_the_graph_is_read():
    names = {module_name(path) for path in SOURCES}
    assert {"kinmix.kernel.null_model", "kinmix.distributed", "kinmix.ep"} <= names
    assert len(EDGES) > 100


def test_every_module_has_a_layer():
    for path in SOURCES:
        layer(module_name(path))


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{module_name(path)}:{line} imports {target}"
        for path, line, target in EDGES
        if layer(resolve(target)) > layer(module_name(path))
    ]
    assert upward == []


def test_no_package_imports_another_packages_private_names():
    private = []
    for path, line, target in EDGES:
        name = module_name(path)
        own = name if is_package(path) else name.rpartition(".")[0]
        parts = target.split(".")
        for i, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                owner = ".".join(parts[:i])
                if not (own == owner or own.startswith(owner + ".")):
                    private.append(f"{name}:{line} imports {target}")
                break
    assert private == []


@pytest.mark.parametrize(
    ("source", "target", "upward"),
    [
        ("kinmix.lmm", "kinmix.kernel.null_model", False),
        ("kinmix.io", "kinmix.lmm", True),
        ("kinmix.ep", "kinmix.glmm", True),
    ],
)
def test_layer_order_matches_design(source, target, upward):
    assert (layer(target) > layer(source)) is upward
