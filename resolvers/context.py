"""Reading the caller out of the GraphQL context."""

from __future__ import annotations

from typing import Any

from domain.principal import Principal


def principal_of(info: Any) -> Principal:
    """The caller; fields that call this are guarded by a permission that ensures one."""
    principal = info.context.principal
    if principal is None:
        raise RuntimeError("guard this field with a permission class")
    return principal
