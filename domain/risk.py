"""Risk flags: what a person should look at about a member's movement (a velocity limit the
brand flags rather than refuses, …), written with the movement; admins review them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import (
    LedgerEntry,
    LedgerKind,
    MemberStatus,
    Purchase,
    Redemption,
    RiskFlag,
    RiskFlagStatus,
)
from domain.errors import DomainError, ErrorCode
from domain.idempotency import run_once
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal, Role
from domain.runtime import Backends

__all__ = ["RiskFlagStatus"]  # re-exported for the schema

# What flags a movement without refusing it.
LARGE_ADJUSTMENT = 10_000  # points an admin adds or takes at once
QUICK_REDEEM_WITHIN = timedelta(minutes=10)  # a redemption this soon after ...
LARGE_EARN = 1_000  # ... an earn of at least this many points
LARGE_PURCHASE_TIMES = 5  # a purchase this many times the member's usual ...
USUAL_AFTER = 3  # ... once they have made this many
MANY_PURCHASES = 5  # purchases of one member ...
MANY_PURCHASES_WITHIN = timedelta(minutes=10)  # ... within this long
PHONE_PREFIX_DIGITS = 7  # members registered within a day with the same first digits ...
SHARED_PHONE_PREFIX = 5  # ... this many of them, this one included


def quick_redeem(lots: list[Any], now: datetime) -> dict[str, Any] | None:
    """The flag's details when points spent now include a large earn of the last minutes."""
    recent = [
        lot for lot in lots
        if lot.points >= LARGE_EARN and now - lot.earned_at <= QUICK_REDEEM_WITHIN
    ]  # fmt: skip
    if not recent:
        return None
    return {"earnedPoints": max(lot.points for lot in recent),
            "earnedAt": min(lot.earned_at for lot in recent).isoformat()}  # fmt: skip


def purchase_flags(total: Decimal, facts: Any) -> list[tuple[str, dict[str, Any]]]:
    """The flags a purchase raises: far above the member's own usual, or one of many in minutes
    (`facts`: the earn's MemberFacts)."""
    flags = []
    usual = facts.usual_total
    if facts.recent_purchases >= USUAL_AFTER and usual and total > LARGE_PURCHASE_TIMES * usual:
        flags.append(("LARGE_PURCHASE", {"total": str(total), "usual": f"{usual:.2f}"}))
    if facts.purchases_lately + 1 >= MANY_PURCHASES:
        minutes = int(MANY_PURCHASES_WITHIN.total_seconds() // 60)
        flags.append(("MANY_PURCHASES", {"purchases": facts.purchases_lately + 1,
                                          "withinMinutes": minutes}))  # fmt: skip
    return flags


SAME_PREFIX_SQL = """
SELECT COUNT(*) AS members FROM member
WHERE brand_id = $1 AND phone >= $2 AND phone < $2 || '~' AND joined_at > $3
"""


async def shared_phone_prefix(
    connection: BaseDBAsyncClient, brand_id: int, phone: str | None, now: datetime
) -> dict[str, Any] | None:
    """The flag's details when many members registered within a day share a phone prefix."""
    if phone is None or len(phone) < PHONE_PREFIX_DIGITS:
        return None
    prefix = phone[:PHONE_PREFIX_DIGITS]
    rows = await connection.execute_query_dict(
        SAME_PREFIX_SQL, [brand_id, prefix, now - timedelta(days=1)]
    )
    members = rows[0]["members"]
    return {"phonePrefix": prefix, "members": members} if members >= SHARED_PHONE_PREFIX else None


@dataclass(frozen=True)
class FlagDraft:
    brand_id: int
    member_id: int
    entry_id: int | None
    reason: str
    details: dict[str, Any]


async def record_flags(
    connection: BaseDBAsyncClient, drafts: list[FlagDraft], now: datetime
) -> None:
    """Write the movement's flags in its transaction (no statement when there are none)."""
    if drafts:
        flags = [
            RiskFlag(brand_id=draft.brand_id, member_id=draft.member_id, entry_id=draft.entry_id,
                     reason=draft.reason, details=draft.details, created_at=now)
            for draft in drafts
        ]  # fmt: skip
        await RiskFlag.bulk_create(flags, using_db=connection)


class ReviewDecision(Enum):
    CLEAR = "CLEAR"
    FREEZE_MEMBER = "FREEZE_MEMBER"
    REVERSE_MOVEMENT = "REVERSE_MOVEMENT"


DECIDED_STATUS = {
    ReviewDecision.CLEAR: RiskFlagStatus.CLEARED,
    ReviewDecision.FREEZE_MEMBER: RiskFlagStatus.MEMBER_FROZEN,
    ReviewDecision.REVERSE_MOVEMENT: RiskFlagStatus.MOVEMENT_REVERSED,
}


async def flags_page(
    principal: Principal, status: RiskFlagStatus | None, request: PageRequest
) -> Page[RiskFlag]:
    """The brand's risk flags, newest first (OPEN ones: what waits for review)."""
    flags = RiskFlag.filter(brand_id=principal.brand_id)
    if status is not None:
        flags = flags.filter(status=status)
    return await paginate(flags, request, ("id",), descending=True)


async def visible_flag(principal: Principal, flag_id: int) -> RiskFlag | None:
    """A risk flag by id, for the brand's admins."""
    if principal.role is not Role.ADMIN:
        return None
    return await RiskFlag.get_or_none(id=flag_id, brand_id=principal.brand_id)


async def review(
    rt: Backends,
    principal: Principal,
    flag_id: int,
    decision: ReviewDecision,
    note: str,
    key: str,
) -> RiskFlag:
    """Decide an open flag: clear it, freeze its member, or undo its movement; once per
    idempotency key (a flag reviewed already is CONFLICT).

    The freeze or reversal is its own operation under a key of the flag's, so two reviews
    racing on one flag carry it out once; the flag is then marked under the review's key."""
    note = note.strip()
    if len(note) > 500:
        raise DomainError(ErrorCode.INVALID_INPUT, "A note of up to 500 characters.", ["note"])
    flag = await RiskFlag.get_or_none(id=flag_id, brand_id=principal.brand_id)
    if flag is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such risk flag.", ["id"])
    if flag.status is RiskFlagStatus.OPEN:
        await _carry_out(rt, principal, flag, decision)

    async def mark(connection: BaseDBAsyncClient) -> dict[str, Any]:
        locked = await RiskFlag.select_for_update().using_db(connection).get(id=flag.id)
        if locked.status is not RiskFlagStatus.OPEN:
            raise DomainError(
                ErrorCode.CONFLICT, f"Reviewed already ({locked.status.value}).", ["id"]
            )
        locked.status = DECIDED_STATUS[decision]
        locked.reviewed_by = principal.idempotency_scope
        locked.review_note = note or None
        locked.reviewed_at = rt.clock.now()
        await locked.save(
            using_db=connection,
            update_fields=["status", "reviewed_by", "review_note", "reviewed_at"],
        )
        return {"id": flag.id}

    payload = {"flag": flag.id, "decision": decision.value, "note": note}
    outcome, _ = await run_once(
        principal, "reviewRiskFlag", key, payload, mark, target_type="RiskFlag"
    )
    return await RiskFlag.get(id=outcome["id"])


async def _carry_out(
    rt: Backends, principal: Principal, flag: RiskFlag, decision: ReviewDecision
) -> None:
    # Imported here: the ledger and members modules write flags (they import this module).
    from domain.catalog.redemptions import cancel
    from domain.ledger.movements import adjust, reverse_purchase
    from domain.members import set_status

    key = f"riskFlag:{flag.id}:{decision.value}"
    reason = f"Risk flag {flag.id} reviewed"
    if decision is ReviewDecision.FREEZE_MEMBER:
        await set_status(rt, principal, flag.member_id, MemberStatus.FROZEN, reason, key)
        return
    if decision is not ReviewDecision.REVERSE_MOVEMENT:
        return
    entry = (
        await LedgerEntry.get_or_none(id=flag.entry_id, brand_id=flag.brand_id)
        if flag.entry_id is not None
        else None
    )
    if entry is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "The flag names no movement.", ["decision"])
    purchase = await Purchase.get_or_none(earn_entry_id=entry.id)
    redemption = await Redemption.get_or_none(redeem_entry_id=entry.id)
    if entry.kind is LedgerKind.EARN and purchase is not None:
        await reverse_purchase(rt, principal, entry.member_id, purchase.order_ref, None, key)
    elif entry.kind is LedgerKind.REDEEM and redemption is not None:
        await cancel(rt, principal, redemption.id, reason, key)
    else:
        await adjust(rt, principal, entry.member_id, -entry.points, reason, key)
