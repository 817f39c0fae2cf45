"""Mutation payloads and the one mapping of a DomainError to a UserError."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec

from domain.errors import DomainError, ErrorCode

P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class UserErrorView:
    field: list[str] | None
    message: str
    code: ErrorCode
    retry_after: int | None = None


class Payload:
    """Any mutation's payload: its named results and its user errors; results not set are null."""

    def __init__(self, *, user_errors: list[UserErrorView] | None = None, **results: Any) -> None:
        self.user_errors = user_errors or []
        self.__dict__.update(results)

    def __getattr__(self, name: str) -> None:
        if name.startswith("__"):
            # Protocol lookups (`__await__`, …) must fail, or the payload looks awaitable.
            raise AttributeError(name)
        return None  # a payload field this outcome did not set


def user_error(error: DomainError) -> UserErrorView:
    return UserErrorView(
        field=error.field, message=error.message, code=error.code, retry_after=error.retry_after
    )


def reports_user_errors(
    resolver: Callable[P, Awaitable[Payload]],
) -> Callable[P, Awaitable[Payload]]:
    """A mutation resolver whose DomainErrors become the payload's userErrors."""

    @functools.wraps(resolver)
    async def run(*args: P.args, **kwargs: P.kwargs) -> Payload:
        try:
            return await resolver(*args, **kwargs)
        except DomainError as error:
            return Payload(user_errors=[user_error(error)])

    return run
