"""What `pip install .` installs is enough to run the product: every package the product's
code imports is one of pyproject's `dependencies` (not only an extra's)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text())
PRODUCT_PACKAGES = PYPROJECT["tool"]["importlinter"]["root_packages"]
REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules() -> dict[str, set[str]]:
    """Top-level modules the product imports, outside the standard library and the product,
    with the files importing each."""
    found: dict[str, set[str]] = {}
    for package in PRODUCT_PACKAGES:
        for path in (PROJECT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    if top not in sys.stdlib_module_names and top not in PRODUCT_PACKAGES:
                        found.setdefault(top, set()).add(str(path.relative_to(PROJECT)))
    return found


def test_every_import_of_the_product_is_a_declared_dependency():
    declared = {
        normalised(REQUIREMENT_NAME.match(requirement).group())
        for requirement in PYPROJECT["project"]["dependencies"]
    }
    distributions = packages_distributions()
    imported = imported_modules()
    assert {"strawberry", "tortoise", "redis"} <= set(imported)  # the scan sees the product
    undeclared = {
        module: sorted(files)
        for module, files in imported.items()
        if not {normalised(name) for name in distributions.get(module, [module])} & declared
    }
    assert undeclared == {}, "imported but not in [project] dependencies"
