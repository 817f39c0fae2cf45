"""UserError and ErrorCode: expected failures, as every mutation payload reports them."""

from __future__ import annotations

import strawberry

from domain import errors

ErrorCode = errors.ErrorCode
strawberry.enum(ErrorCode, name="ErrorCode")


@strawberry.type(description="An expected failure of a mutation, with a stable code.")
class UserError:
    field: list[str] | None
    message: str
    code: ErrorCode
    retry_after: int | None = strawberry.field(
        default=None, description="RATE_LIMITED: seconds until it may be tried again."
    )
