"""Permission classes, attached to the fields they guard with `permission_classes=[...]`."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from domain.partners import Scope
from domain.principal import Role
from resolvers.context import Info


class HasBrand(BasePermission):
    """Any caller who named a brand: a token, or a visitor's X-Brand header."""

    message = "Send a bearer token, or name the brand with the X-Brand header."
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: object, info: Info, **kwargs: object) -> bool:
        return info.context.principal is not None


class HasRole(BasePermission):
    """A signed-in caller (a token, not a visitor's X-Brand) with one of `roles`."""

    roles: frozenset[Role] = frozenset()
    partner_scope: Scope | None = None  # partners whose API key carries it may too
    message = "Your role may not do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: object, info: Info, **kwargs: object) -> bool:
        principal = info.context.principal
        if principal is None or principal.role is Role.ANONYMOUS:
            # Raised rather than returned: the code differs from this class's FORBIDDEN.
            raise GraphQLError(
                "Sign in: this needs a bearer token.", extensions={"code": "UNAUTHENTICATED"}
            )
        if principal.role is Role.PARTNER and self.partner_scope is not None:
            if principal.may(self.partner_scope.value):
                return True
            # Raised: the instance is shared by every request, so its message must not change.
            raise GraphQLError(
                f"This API key lacks the scope {self.partner_scope.name}.",
                extensions={"code": "FORBIDDEN"},
            )
        return principal.role in self.roles


class IsMember(HasRole):
    roles = frozenset({Role.MEMBER})


class IsBrandStaff(HasRole):
    """Staff and admins of the brand."""

    roles = frozenset({Role.STAFF, Role.ADMIN})


class IsBrandAdmin(HasRole):
    roles = frozenset({Role.ADMIN})


class ReadsInsights(HasRole):
    """The brand's analysts and admins."""

    roles = frozenset({Role.ANALYST, Role.ADMIN})


class ReadsMembers(HasRole):
    """Those who look members up: staff, admins and analysts of the brand."""

    roles = frozenset({Role.STAFF, Role.ADMIN, Role.ANALYST})


class MemberOrStaff(HasRole):
    """A member acting for themselves, or the brand's staff or admin acting for a member."""

    roles = frozenset({Role.MEMBER, Role.STAFF, Role.ADMIN})


def or_partner_with(base: type[HasRole], scope: Scope) -> type[HasRole]:
    """`base`'s roles, or a partner whose API key carries `scope`."""
    name = base.__name__ + "OrPartnerWith" + scope.name.title().replace("_", "")
    return type(name, (base,), {"partner_scope": scope})


def staff_or_partner_with(scope: Scope) -> type[HasRole]:
    """Staff and admins of the brand, or a partner whose API key carries `scope`."""
    return or_partner_with(IsBrandStaff, scope)


class NotPartner(BasePermission):
    """Everyone but partners, who see of a member only its id, its display name and the ledger
    entries they made, without balances: other fields are FORBIDDEN to them (or, with
    `fail_silently`, null, as phone, email and birthday are)."""

    message = "Partners see a member's id and displayName, and the points of their own entries."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: object, info: Info, **kwargs: object) -> bool:
        principal = info.context.principal
        return principal is None or principal.role is not Role.PARTNER


def staff_only() -> list[FieldExtension]:
    """Fields for the brand's staff only: null for anyone else."""
    return [PermissionExtension(permissions=[ReadsMembers()], fail_silently=True)]
