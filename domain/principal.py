"""Who is calling: resolved by the server from a token or the X-Brand header."""

from __future__ import annotations

import time
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
    # For role MEMBER: the member the token belongs to (its subject is the member's global id).
    member_id: int | None = None
    # When the token stops being valid (Unix time); None for a visitor without a token.
    expires_at: float | None = None
    # For role PARTNER: the partner, what its API key may do, and the key (whose rate limit
    # the partner's operations are charged to).
    partner_id: int | None = None
    partner_code: str | None = None
    scopes: frozenset[str] = frozenset()
    api_key_prefix: str | None = None

    def still_valid(self) -> bool:
        """Whether the credentials still hold: long-lived subscriptions ask this as they go."""
        return self.expires_at is None or time.time() < self.expires_at

    @property
    def reads_members(self) -> bool:
        """Staff, admins and analysts look members of their brand up."""
        return self.role in (Role.STAFF, Role.ADMIN, Role.ANALYST)

    def may(self, scope: str) -> bool:
        """Whether a partner's key carries this scope."""
        return self.role is Role.PARTNER and scope in self.scopes

    @property
    def idempotency_scope(self) -> str:
        """The caller as idempotency records name it: one caller never sees another's result."""
        return f"{self.role.value}:{self.subject}"
