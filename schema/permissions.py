"""Permission classes, attached to the fields they guard with `permission_classes=[...]`."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info


class HasBrand(BasePermission):
    """Any caller who named a brand: a token, or a visitor's X-Brand header."""

    message = "Send a bearer token, or name the brand with the X-Brand header."
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal is not None
