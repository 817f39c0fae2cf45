"""No test module imports another, and only a conftest.py imports a conftest.py: what tests share
lives in tests/support/ (fixtures in a conftest.py), so running, moving or removing one test file
never changes another.

One exception: tests/cluster/ runs tests of other modules again on a Redis Cluster (its
conftest.py points the same fixtures at one), by importing those test functions, and nothing
else, from their modules."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
RERUNS = TESTS / "cluster"


def is_test_module(dotted: str) -> bool:
    """Whether a module is one pytest collects tests from (test_*.py or *_test.py)."""
    last = dotted.rsplit(".", 1)[-1]
    return last.startswith("test_") or last.endswith("_test")


def is_conftest(dotted: str) -> bool:
    return dotted.rsplit(".", 1)[-1] == "conftest"


def package_of(path: Path) -> list[str]:
    """The package a module's relative imports start from."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts if path.name == "__init__.py" else parts[:-1]


def imports_in(source: str, path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) for each module the source at `path` imports, relative imports
    resolved; `names` are what `from module import` takes (none for `import module`). In
    `from P import N` where P is a package, N may be a module: P.N is listed too, no names."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = package_of(path)
                base = package[: len(package) - (node.level - 1)]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            names = [alias.name for alias in node.names]
            found.append((node.lineno, origin, names))
            if ROOT.joinpath(*origin.split(".")).is_dir():
                found.extend((node.lineno, f"{origin}.{name}", []) for name in names)
    return found


def reruns_tests(path: Path, names: list[str]) -> bool:
    """A module of tests/cluster/ taking test functions, to run them again on the cluster."""
    return path.is_relative_to(RERUNS) and bool(names) and all(n.startswith("test_") for n in names)


def offences_in(source: str, path: Path) -> list[str]:
    """Each import of a test module (but a rerun), or of a conftest by anything but a conftest."""
    offences = []
    for line, module, names in imports_in(source, path):
        if module.split(".")[0] != "tests":
            continue
        if is_test_module(module) and not reruns_tests(path, names):
            offences.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
        elif is_conftest(module) and path.name != "conftest.py":
            offences.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return offences


def test_no_test_module_imports_another_and_only_a_conftest_imports_a_conftest():
    offences = [
        offence
        for path in sorted(TESTS.rglob("*.py"))
        for offence in offences_in(path.read_text(), path)
    ]
    assert offences == [], "move what they share to tests/support/:\n" + "\n".join(offences)


EVERY_FORM = """
from tests.rules.test_bonuses import CREATE_RULE
import tests.rules.test_bonuses
from tests.rules import test_bonuses
from .test_flash_sales import enter
from . import test_stock_watch
from ..partners.test_api_keys import revoke
from tests.conftest import unique_code
from .conftest import rt
from tests.support.factories import key
import pytest
"""


def imported_modules(offences: list[str]) -> list[str]:
    return [offence.split(" imports ")[1] for offence in offences]


def test_every_form_of_importing_a_test_module_or_a_conftest_is_seen():
    offences = offences_in(EVERY_FORM, TESTS / "flash_sales" / "test_example.py")
    assert imported_modules(offences) == [
        "tests.rules.test_bonuses",
        "tests.rules.test_bonuses",
        "tests.rules.test_bonuses",
        "tests.flash_sales.test_flash_sales",
        "tests.flash_sales.test_stock_watch",
        "tests.partners.test_api_keys",
        "tests.conftest",
        "tests.flash_sales.conftest",
    ]


def test_a_conftest_may_import_a_conftest():
    offences = offences_in(EVERY_FORM, TESTS / "flash_sales" / "conftest.py")
    assert "tests.conftest" not in imported_modules(offences)
    assert "tests.rules.test_bonuses" in imported_modules(offences)


def test_the_cluster_may_take_test_functions_and_nothing_else_from_test_modules():
    source = """
from tests.flash_sales.test_flash_sales import test_a_cancel_returns_the_unit
from tests.flash_sales.test_adversarial import test_two_reconcilers, db
from tests.flash_sales import test_stock_watch
"""
    offences = offences_in(source, TESTS / "cluster" / "test_example_on_cluster.py")
    assert imported_modules(offences) == [
        "tests.flash_sales.test_adversarial",
        "tests.flash_sales.test_stock_watch",
    ]
    elsewhere = offences_in(source, TESTS / "flash_sales" / "test_example.py")
    assert "tests.flash_sales.test_flash_sales" in imported_modules(elsewhere)
