"""What `pip install .` installs is enough to run the product: every package the product's
code imports is one of pyproject's `dependencies` (not only an extra's)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from server.app import create_app
from server.dependencies import INTERNALS, UnsupportedDependency, check_dependencies
from server.settings import Settings

PROJECT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text())
PRODUCT_PACKAGES = PYPROJECT["tool"]["importlinter"]["root_packages"]
# An extra's packages, each imported by one module only, which the product imports only when
# the extra is wanted (tests/operations/test_tracing.py proves it starts without it).
OPTIONAL_IMPORTS = {"opentelemetry": ("otel", {"server/tracing.py"})}
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
    for module, (extra, importers) in OPTIONAL_IMPORTS.items():
        assert extra in PYPROJECT["project"]["optional-dependencies"]
        assert imported.pop(module, set()) <= importers, f"{module} beyond its extra's module"
    assert {"strawberry", "tortoise", "redis"} <= set(imported)  # the scan sees the product
    undeclared = {
        module: sorted(files)
        for module, files in imported.items()
        if not {normalised(name) for name in distributions.get(module, [module])} & declared
    }
    assert undeclared == {}, "imported but not in [project] dependencies"


# Each library's modules that its documentation offers; anything else of it, and any name of it
# that starts with an underscore, is an internal, reached from its library's module below only.
PUBLIC_MODULES = {
    "tortoise": (
        "tortoise",
        "tortoise.backends.base.client",  # BaseDBAsyncClient: the documented `using_db` type
        "tortoise.backends.base.config_generator",  # expand_db_url
        "tortoise.connection",
        "tortoise.exceptions",
        "tortoise.expressions",
        "tortoise.fields",
        "tortoise.functions",
        "tortoise.indexes",
        "tortoise.migrations.api",
        "tortoise.migrations.constraints",
        "tortoise.models",
        "tortoise.queryset",
        "tortoise.transactions",
    ),
    "strawberry": (
        "strawberry",
        "strawberry.asgi",
        "strawberry.dataloader",
        "strawberry.exceptions",
        "strawberry.extensions",
        "strawberry.extensions.tracing",
        "strawberry.http",  # GraphQLHTTPResponse, process_result: the views' documented hooks
        "strawberry.permission",
        "strawberry.relay",
        "strawberry.scalars",
        "strawberry.schema.config",
        "strawberry.schema.name_converter",
        "strawberry.subscriptions",
        "strawberry.tools",
        "strawberry.types",
    ),
    "graphql": (
        "graphql",
        "graphql.error",
        "graphql.execution",
        "graphql.language",
        "graphql.pyutils",
        "graphql.type",
        "graphql.utilities",
        "graphql.validation",
    ),
    "prometheus_client": ("prometheus_client",),
    "redis": (
        "redis",
        "redis.asyncio",
        "redis.asyncio.client",
        "redis.asyncio.cluster",
        "redis.asyncio.retry",
        "redis.asyncio.sentinel",
        "redis.backoff",
        "redis.commands.core",
        "redis.exceptions",
    ),
}
INTERNALS_MODULE = {
    "tortoise": "db/tortoise_internals.py",
    "strawberry": "schema/strawberry_internals.py",
    "graphql": "schema/graphql_core_internals.py",
    "redis": "db/redis_internals.py",
    "prometheus_client": "server/prometheus_internals.py",
}
# Attributes of the standard library's named tuples, which start with an underscore by design.
NAMED_TUPLE_METHODS = {"_replace", "_asdict", "_fields", "_make"}
# Whose attribute an underscored name is cannot be told from the code: any internals module
# may read one.
ANY_LIBRARY = "an attribute"


def private_uses(path: Path) -> list[tuple[str, str]]:
    """(library, what) for each import of a library's internal module or underscored name, each
    underscored keyword argument, and each underscored attribute read on anything but the
    code's own `self` or `cls`."""
    uses = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            library = node.module.partition(".")[0]
            if library in PUBLIC_MODULES and (
                node.module not in PUBLIC_MODULES[library]
                or any(alias.name.startswith("_") for alias in node.names)
            ):
                uses.append((library, f"line {node.lineno}: from {node.module} import ..."))
        elif isinstance(node, ast.keyword) and (node.arg or "").startswith("_"):
            uses.append((ANY_LIBRARY, f"line {node.value.lineno}: {node.arg}="))
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in NAMED_TUPLE_METHODS
            and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
        ):
            uses.append((ANY_LIBRARY, f"line {node.lineno}: .{node.attr}"))
    return uses


def test_private_internals_are_reached_from_their_librarys_own_module_only():
    misplaced = {}
    for package in PRODUCT_PACKAGES:
        for path in (PROJECT / package).rglob("*.py"):
            relative = str(path.relative_to(PROJECT))
            if relative.startswith("db/migrations/"):  # written by Tortoise, for Tortoise
                continue
            for library, use in private_uses(path):
                allowed = (
                    INTERNALS_MODULE.values()
                    if library is ANY_LIBRARY
                    else {INTERNALS_MODULE[library]}
                )
                if relative not in allowed:
                    misplaced.setdefault(relative, []).append(use)
    assert misplaced == {}, "move these into the library's *_internals module"


def test_the_internals_modules_name_the_versions_pyproject_allows():
    """pip installs no version the code would refuse at startup, and none it was not written
    for: pyproject's bounds are the internals' WRITTEN_FOR."""
    declared = {
        Requirement(requirement).name: Requirement(requirement).specifier
        for requirement in PYPROJECT["project"]["dependencies"]
    }
    assert {str(Path(module.__file__).relative_to(PROJECT)) for module in INTERNALS} == set(
        INTERNALS_MODULE.values()
    )
    for module in INTERNALS:
        written_for = Requirement(module.WRITTEN_FOR)
        assert declared[written_for.name] == written_for.specifier, module.__name__


def test_the_installed_libraries_are_those_the_internals_were_written_for():
    check_dependencies()


def test_a_library_outside_those_versions_stops_the_service_before_it_starts(monkeypatch):
    monkeypatch.setattr("server.dependencies.version", lambda name: "0.1")
    with pytest.raises(UnsupportedDependency, match=r"tortoise_internals.*tortoise-orm 0\.1"):
        create_app(Settings(database_url="postgresql://x/y", redis_url="redis://x"))


def base_name(base: ast.expr) -> str | None:
    """A class's base as written: `Name`, `module.Name` or `Name[...]`."""
    if isinstance(base, ast.Subscript):
        base = base.value
    return getattr(base, "id", getattr(base, "attr", None))


def test_strawberrys_undocumented_steps_are_overridden_in_its_module_only():
    """The steps of strawberry's view, socket handler and socket adapter that
    schema/strawberry_internals.py overrides: no class elsewhere overrides them too (it
    implements the hooks they hand over to)."""
    from strawberry.asgi import GraphQL

    from schema import strawberry_internals as internals

    bases = (GraphQL, internals.BaseGraphQLTransportWSHandler, internals.ASGIWebSocketAdapter)
    ours = (internals.ViewSteps, internals.TransportWSSteps, internals.TextFrameWebSocketAdapter)
    steps = {
        name
        for cls in ours
        for name in vars(cls)
        if callable(vars(cls)[name]) and any(hasattr(base, name) for base in bases)
    }
    assert {"execute_operation", "handle_subscribe", "iter_json"} <= steps
    # Classes built on strawberry's, as the product names them.
    based_on = {cls.__name__ for cls in (*bases, *ours)} | {
        "GraphQLEndpoint",
        "AuthorizedTransportWSHandler",
    }
    overridden = {}
    for package in PRODUCT_PACKAGES:
        for path in (PROJECT / package).rglob("*.py"):
            if path.name == "strawberry_internals.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ClassDef) and based_on & {
                    base_name(base) for base in node.bases
                }:
                    defined = {
                        item.name
                        for item in node.body
                        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                    }
                    if defined & steps:
                        overridden[f"{path.relative_to(PROJECT)}:{node.name}"] = defined & steps
    assert overridden == {}, "implement the hook the step hands over to instead"
