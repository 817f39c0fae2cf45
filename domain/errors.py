"""Expected failures of the business, each with a stable code that clients can switch on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

from tortoise.exceptions import IntegrityError


class ErrorCode(Enum):
    """Stable codes of expected failures; the GraphQL `ErrorCode` enum is this enum."""

    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    SOLD_OUT = "SOLD_OUT"
    LIMIT_REACHED = "LIMIT_REACHED"
    NOT_STARTED = "NOT_STARTED"
    ENDED = "ENDED"
    TIER_REQUIRED = "TIER_REQUIRED"
    MEMBER_FROZEN = "MEMBER_FROZEN"
    CAP_EXCEEDED = "CAP_EXCEEDED"
    DUPLICATE = "DUPLICATE"
    CONFLICT = "CONFLICT"
    VERIFICATION_REQUIRED = "VERIFICATION_REQUIRED"
    RATE_LIMITED = "RATE_LIMITED"
    ALREADY_CANCELLED = "ALREADY_CANCELLED"


class DomainError(Exception):
    """An expected failure: shown to the caller as a `UserError`, never as a fault."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        field: list[str] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after  # seconds, for RATE_LIMITED

    def __repr__(self) -> str:
        return f"DomainError({self.code.value}, {self.message!r}, field={self.field!r})"


UNIQUE_VIOLATION = "duplicate key value violates unique constraint"  # PostgreSQL's words


@contextmanager
def refused_as_duplicate(message: str, field: list[str]) -> Iterator[None]:
    """A write inside that breaks a unique constraint is a DUPLICATE, said with `message`;
    any other integrity error (a foreign key, a check) is not the caller's duplicate."""
    try:
        yield
    except IntegrityError as error:
        if UNIQUE_VIOLATION not in str(error):
            raise
        raise DomainError(ErrorCode.DUPLICATE, message, field) from None


class AccessDenied(Exception):
    """The caller may not see or do this at all: a FORBIDDEN error, not a user error."""
