"""The libraries whose private internals pointsmall uses, checked before it serves.

Each library's internals are reached from one module only, which names the versions it was
written for (`WRITTEN_FOR`, a requirement). pyproject's upper bounds keep pip inside them; this
check catches an environment that was put together some other way, before the first request
finds a renamed attribute.

Design: docs/architecture.md, "Internals, and pinned upper bounds".
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from types import ModuleType

from packaging.requirements import Requirement

from db import redis_internals, tortoise_internals
from schema import graphql_core_internals, strawberry_internals
from server import prometheus_internals

INTERNALS: tuple[ModuleType, ...] = (
    strawberry_internals,
    graphql_core_internals,
    tortoise_internals,
    redis_internals,
    prometheus_internals,
)


class UnsupportedDependency(RuntimeError):
    """An installed library outside the versions our use of its internals was written for."""


def check_dependencies(installed: Callable[[str], str] | None = None) -> None:
    """Raise UnsupportedDependency for each library outside its module's WRITTEN_FOR;
    `installed` gives a distribution's version (default: the environment's)."""
    installed = installed or version
    problems = []
    for module in INTERNALS:
        requirement = Requirement(module.WRITTEN_FOR)
        found = installed(requirement.name)
        if not requirement.specifier.contains(found, prereleases=True):
            problems.append(
                f"{module.__name__} was written for {requirement}; {requirement.name} {found} "
                "is installed"
            )
    if problems:
        raise UnsupportedDependency(
            "; ".join(problems) + ". Install pointsmall's pinned versions (requirements.lock)."
        )
