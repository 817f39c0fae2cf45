"""Risk flags: what a person should look at about a member's movement (a velocity limit the
brand flags rather than refuses, …), written with the movement; admins review them, and the
brand's own webhook endpoints hear of each (`risk.flagged`).

Design: docs/ledger.md, "Fraud controls around a movement".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
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
from db.sql import Sql
from domain.errors import DomainError, ErrorCode
from domain.idempotency import run_once
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal, Role
from domain.rules.engine import MemberFacts
from domain.runtime import Backends
from domain.webhooks import EventType, own_endpoints_sql, risk_flag_event, write_events

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
# Members registered within a day on one device, this one included. Lower than the phone
# prefix's: unrelated people share a carrier's number block, but a third account in a day from
# one device is rarely anything but one person (two: a couple sharing a tablet).
SHARED_DEVICE = 3


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


def purchase_flags(total: Decimal, facts: MemberFacts) -> list[tuple[str, dict[str, Any]]]:
    """The flags a purchase raises: far above the member's own usual, or one of many in
    minutes."""
    flags: list[tuple[str, dict[str, Any]]] = []
    usual = facts.usual_total
    if facts.recent_purchases >= USUAL_AFTER and usual and total > LARGE_PURCHASE_TIMES * usual:
        flags.append(("LARGE_PURCHASE", {"total": str(total), "usual": f"{usual:.2f}"}))
    if facts.purchases_lately + 1 >= MANY_PURCHASES:
        minutes = int(MANY_PURCHASES_WITHIN.total_seconds() // 60)
        flags.append(("MANY_PURCHASES", {"purchases": facts.purchases_lately + 1,
                                          "withinMinutes": minutes}))  # fmt: skip
    return flags


# Members of the brand registered since $4 (the new one included) whose phone starts with $2,
# and who registered on device $3 (each count 0 for a NULL).
SHARED_REGISTRATION_SQL = """
SELECT
    (SELECT COUNT(*) FROM member
     WHERE brand_id = $1 AND phone >= $2 AND phone < $2 || '~' AND joined_at > $4)
        AS phone_members,
    (SELECT COUNT(*) FROM member
     WHERE brand_id = $1 AND device_id = $3 AND joined_at > $4) AS device_members
"""


async def shared_registration(
    connection: BaseDBAsyncClient,
    brand_id: int,
    phone: str | None,
    device_id: str | None,
    now: datetime,
) -> list[tuple[str, dict[str, Any]]]:
    """The flags a registration raises: many members within a day sharing a phone prefix
    (SHARED_PHONE_PREFIX) or a device (SHARED_DEVICE). One statement, none without either."""
    prefix = phone[:PHONE_PREFIX_DIGITS] if phone and len(phone) >= PHONE_PREFIX_DIGITS else None
    if prefix is None and device_id is None:
        return []
    rows = await connection.execute_query_dict(
        SHARED_REGISTRATION_SQL, [brand_id, prefix, device_id, now - timedelta(days=1)]
    )
    counts = rows[0]
    flags = []
    if prefix is not None and counts["phone_members"] >= SHARED_PHONE_PREFIX:
        flags.append(
            ("SHARED_PHONE_PREFIX", {"phonePrefix": prefix, "members": counts["phone_members"]})
        )
    if device_id is not None and counts["device_members"] >= SHARED_DEVICE:
        flags.append(
            ("SHARED_DEVICE", {"deviceId": device_id, "members": counts["device_members"]})
        )
    return flags


@dataclass(frozen=True)
class FlagDraft:
    brand_id: int
    member_id: int
    entry_id: int | None
    reason: str
    details: dict[str, Any]


# The flags, each with the ids of its brand's own endpoints that hear of new ones.
RECORD_FLAGS_SQL = f"""
WITH flag AS (
    INSERT INTO risk_flag (brand_id, member_id, entry_id, reason, details, status, created_at)
    SELECT d.brand_id, d.member_id, d.entry_id, d.reason, d.details::jsonb, 'OPEN', $6
    FROM unnest($1::int[], $2::int[], $3::bigint[], $4::text[], $5::text[])
        AS d(brand_id, member_id, entry_id, reason, details)
    RETURNING id, brand_id, member_id, entry_id, reason, details, created_at
)
SELECT flag.*, {own_endpoints_sql("flag.brand_id", EventType.RISK_FLAGGED)} AS endpoints
FROM flag ORDER BY flag.id
"""


async def record_flags(
    connection: BaseDBAsyncClient, drafts: list[FlagDraft], now: datetime
) -> None:
    """Write the movement's flags in its transaction: one statement (none when there are
    none), and one more for their `risk.flagged` events when the brand has endpoints for
    them."""
    if not drafts:
        return
    rows = await Sql(connection).fetch(
        RECORD_FLAGS_SQL,
        [draft.brand_id for draft in drafts],
        [draft.member_id for draft in drafts],
        [draft.entry_id for draft in drafts],
        [draft.reason for draft in drafts],
        [orjson.dumps(draft.details).decode() for draft in drafts],
        now,
    )
    heard: dict[tuple[int, tuple[int, ...]], list[dict[str, Any]]] = {}
    for row in rows:
        if row["endpoints"]:
            told = heard.setdefault((row["brand_id"], tuple(row["endpoints"])), [])
            told.append(risk_flag_event(row))
    for (brand_id, endpoints), events in heard.items():
        await write_events(
            connection, brand_id, None, list(endpoints), EventType.RISK_FLAGGED, events, now
        )


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
