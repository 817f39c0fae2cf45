"""Payloads of the fields that report user errors, and the one mapping of a DomainError to a
UserError.

Design: docs/architecture.md, "Where types are checked".
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import ParamSpec, Self, TypeVar

from domain.errors import DomainError, ErrorCode

P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class UserErrorView:
    field: list[str] | None
    message: str
    code: ErrorCode
    retry_after: int | None = None


def user_error(error: DomainError) -> UserErrorView:
    return UserErrorView(
        field=error.field, message=error.message, code=error.code, retry_after=error.retry_after
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PayloadView:
    """A payload's user errors. A payload type is shown from a subclass with a field per
    result, none with a default: a result left out or misspelt is mypy's error, never a
    silent null. The subclass is named for its type (`PartnerPayload`: `PartnerPayloadView`),
    or for the shape that types sharing it have (`MovementPayloadView`); its fields and the
    type's agree (tests/contract/test_payload_views.py)."""

    user_errors: list[UserErrorView] = field(default_factory=list)

    @classmethod
    def refused(cls, error: DomainError) -> Self:
        """The payload of a refusal: its user error, every result null."""
        results = [each.name for each in fields(cls) if each.name != "user_errors"]
        return cls(**dict.fromkeys(results), user_errors=[user_error(error)])


PayloadT = TypeVar("PayloadT", bound=PayloadView)


def reports_user_errors(
    payload: type[PayloadT],
) -> Callable[[Callable[P, Awaitable[PayloadT]]], Callable[P, Awaitable[PayloadT]]]:
    """A resolver of `payload` whose DomainErrors become the payload's userErrors."""

    def decorate(resolver: Callable[P, Awaitable[PayloadT]]) -> Callable[P, Awaitable[PayloadT]]:
        @functools.wraps(resolver)
        async def run(*args: P.args, **kwargs: P.kwargs) -> PayloadT:
            try:
                return await resolver(*args, **kwargs)
            except DomainError as error:
                return payload.refused(error)

        return run

    return decorate
