"""Who is calling: resolved by the server from a token or the X-Brand header."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(Enum):
    MEMBER = "MEMBER"
    STAFF = "STAFF"
    ADMIN = "ADMIN"
    ANALYST = "ANALYST"
    PARTNER = "PARTNER"
    ANONYMOUS = "ANONYMOUS"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, always bound to exactly one brand."""

    role: Role
    brand_id: int
    brand_code: str
    subject: str

    @property
    def idempotency_scope(self) -> str:
        """The caller as idempotency records name it: one caller never sees another's result."""
        return f"{self.role.value}:{self.subject}"
