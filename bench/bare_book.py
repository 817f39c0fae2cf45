"""The floor the benchmarks' ratios are measured against: a movement's transaction as the
product's own statements, sent on bare asyncpg with nothing of the service around them (no
HTTP, no GraphQL, no ORM queries, no Redis).

What MemberBook, run_once and close_books send, in their order: their SQL is the domain's
constants, and their arguments are built by the domain's functions (request_hash,
rollups_arguments, drafts_arguments, targets_of, ...). Only the bookkeeping between the
statements is spelled here, on records and dicts. The insert the ORM still sends for a
redemption is spelled as the ORM sends it (INSERT_REDEMPTION).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from bench.baselines import Refused
from db.models import LedgerKind, NoticeKind
from db.sql import Refused as RefusedInSql
from db.sql import send_with_commit
from domain.catalog.coupons import new_code
from domain.idempotency import (
    AUDITED_OUTCOME_SQL,
    AUDITED_ROLES,
    CLAIM_KEY_SQL,
    SET_OUTCOME_SQL,
    request_hash,
    targets_of,
    without_secrets,
)
from domain.insights.rollups import ROLLUPS_SQL, BookRollup, rollups_arguments
from domain.ledger.book import (
    DUE_LOTS_SQL,
    ENTRY_FIELDS,
    ENTRY_NOTICES,
    INSERT_CONSUMPTION_SQL,
    INSERT_ENTRY_SQL,
    OPEN_BOOK_SQL,
    SPENDABLE_LOTS_SQL,
    TAKE_FROM_LOT_SQL,
    UPDATE_BALANCE_SQL,
)
from domain.notices.outbox import DRAFTS_SQL, NoticeDraft, drafts_arguments, redemption_notice
from domain.principal import Principal
from domain.runtime import request_id_var

# Redemption.create, as the ORM sends it: every column named, JSON columns as text.
INSERT_REDEMPTION = """
INSERT INTO redemption (reservation_id, quantity, points_spent, cash_amount, status,
                        payment_due_at, payment_reference, shipping_address, gifts,
                        tracking_reference, confirmed_at, fulfilled_at, cancelled_at,
                        cancel_reason, cancelled_by, created_at, brand_id, flash_sale_id, item_id,
                        member_id, redeem_entry_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21)
RETURNING id
"""

# Coupon.create, as the ORM sends it: a code generated for each unit of a coupon, voucher or
# partner offer without a pool of codes (issue_coupons).
INSERT_COUPON = """
INSERT INTO "coupon" ("code","value","expires_at","used_at","used_by","used_reference",
                      "voided_at","created_at","brand_id","item_id","partner_id","redemption_id")
VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
RETURNING "id"
"""


# --- A transaction whose last statements go with its COMMIT -----------------------------------


@contextlib.asynccontextmanager
async def committed_with(db: asyncpg.Connection) -> AsyncIterator[list[str]]:
    """A transaction whose last statements, appended to the list it yields, go with its COMMIT
    in one message, as Sql.commit_with sends them; refuse(code) in one is Refused(code)."""
    last: list[str] = []
    await db.execute("BEGIN")
    try:
        yield last
        await send_with_commit(db, last)
    except BaseException as error:
        if not db.is_closed():
            await db.execute("ROLLBACK")
        if isinstance(error, RefusedInSql):
            raise Refused(error.code) from error
        raise


# --- run_once --------------------------------------------------------------------------------


async def claim_key(
    db: asyncpg.Connection, principal: Principal, operation: str, key: str, payload: dict
) -> int:
    """The idempotency record, inserted first; its id."""
    record_id = await db.fetchval(
        CLAIM_KEY_SQL,
        *(principal.brand_id, principal.idempotency_scope, operation, key),
        request_hash(payload),
    )
    if record_id is None:
        raise Refused(f"the key {key} was used already")
    return record_id


async def store_outcome(
    db: asyncpg.Connection,
    principal: Principal,
    record_id: int,
    operation: str,
    payload: dict,
    outcome: dict,
) -> None:
    """The movement's outcome on its idempotency record; for staff, admins and partners, with
    the operation in the audit trail (the same statement)."""
    stored = orjson.dumps(outcome).decode()
    if principal.role not in AUDITED_ROLES:
        await db.execute(SET_OUTCOME_SQL, record_id, stored)
        return
    await db.execute(
        AUDITED_OUTCOME_SQL, record_id, stored, principal.brand_id, principal.idempotency_scope,
        operation, orjson.dumps(targets_of(payload, outcome, None)).decode(),
        json.dumps(without_secrets(payload), default=str), request_id_var.get(),
    )  # fmt: skip


# --- MemberBook ------------------------------------------------------------------------------


@dataclass
class Book:
    """A member's locked balance row inside the transaction, as MemberBook holds it."""

    db: asyncpg.Connection
    member: asyncpg.Record
    balance: dict
    now: datetime
    actor: str
    brand: SimpleNamespace  # the brand row's columns, read as the domain reads a Brand's
    rollup: BookRollup
    notices: list[NoticeDraft] = field(default_factory=list)


async def open_book(db: asyncpg.Connection, member_id: int, now: datetime, actor: str) -> Book:
    """MemberBook.open: lock the balance, read the member and brand, find no due lots; then
    active?"""
    row = await db.fetchrow(OPEN_BOOK_SQL, member_id)
    if await db.fetch(DUE_LOTS_SQL, member_id, now):
        raise RuntimeError("the bench's lots never fall due")
    member = row["member"]
    if member["status"] != "ACTIVE":
        raise RuntimeError(f"member {member_id} is not active")
    brand = SimpleNamespace(**row["brand"])
    zone = ZoneInfo(brand.timezone)
    rollup = BookRollup(member["id"], brand.id, now.astimezone(zone).date(), zone)
    return Book(db, member, dict(row["balance"]), now, actor, brand, rollup)


async def append_entry(
    book: Book, kind: LedgerKind, points: int, description: str, **fields: Any
) -> int:
    """MemberBook._append, its balance already moved: the balance row, then the entry, and the
    entry's notice to write when the book closes; the entry's id."""
    balance, member_id = book.balance, book.member["id"]
    book.rollup.entry(kind, points)
    await book.db.execute(
        UPDATE_BALANCE_SQL,
        *(member_id, balance["available"], balance["lifetime_earned"]),
        *(balance["lifetime_redeemed"], balance["version"], balance["shortfall"]),
        balance["pending"],
    )
    given = ENTRY_FIELDS | fields
    entry = await book.db.fetchrow(
        INSERT_ENTRY_SQL,
        *(book.member["brand_id"], member_id, kind.value, points, balance["available"]),
        *(balance["version"], description, book.now, book.actor, given["store_id"]),
        *(given["expires_at"], orjson.dumps(given["breakdown"]).decode(), given["reason"]),
        *(given["order_ref"], given["shortfall"], given["partner_id"]),
        *(book.member["tier_id"], given["pending"], given["pending_until"]),
    )
    told = {
        "points": abs(points),
        "balance": balance["available"],
        "reason": given["reason"] or description,
    }
    book.notices.append(NoticeDraft(member_id, ENTRY_NOTICES[kind], f"entry:{entry['id']}", told))
    return entry["id"]


async def debit(book: Book, points: int, description: str) -> int:
    """MemberBook.debit of a REDEEM: lots first to expire first, the balance, the entry, each
    lot's part; the entry's id."""
    db, member_id = book.db, book.member["id"]
    lots = await db.fetch(SPENDABLE_LOTS_SQL, member_id, book.now)
    if sum(lot["remaining"] for lot in lots) < points:
        raise Refused("INSUFFICIENT_POINTS")
    balance = book.balance
    balance["available"] -= points
    balance["version"] += 1
    balance["lifetime_redeemed"] += points
    entry_id = await append_entry(book, LedgerKind.REDEEM, -points, description)
    still_to_take = points
    for lot in lots:
        if not still_to_take:
            break
        part = min(lot["remaining"], still_to_take)
        still_to_take -= part
        book.rollup.lot(lot["expires_at"], -part)
        await db.execute(TAKE_FROM_LOT_SQL, lot["id"], lot["remaining"] - part)
        await db.execute(INSERT_CONSUMPTION_SQL, lot["id"], entry_id, part)
    return entry_id


async def issue_coupon(
    db: asyncpg.Connection, item: Mapping[str, Any], redemption_id: int, now: datetime
) -> None:
    """issue_coupons for a unit of an item of a coupon kind without a pool of codes."""
    valid_days = item["coupon_valid_days"]
    expires_at = now + timedelta(days=valid_days) if valid_days else None
    await db.fetchval(
        INSERT_COUPON, new_code(), item["coupon_value"], expires_at, None, None, None, None, now,
        item["brand_id"], item["id"], item["partner_id"], redemption_id,
    )  # fmt: skip


def tell_redeemed(book: Book, redemption_id: int, quantity: int, points: int, item: str) -> None:
    """The redemption's confirmation, to write with the entry's notice when the book closes."""
    redemption = SimpleNamespace(
        id=redemption_id, member_id=book.member["id"], quantity=quantity, points_spent=points
    )
    book.notices.append(redemption_notice(NoticeKind.REDEMPTION_CONFIRMED, redemption, item))


async def close(book: Book) -> None:
    """close_books: the movement's roll-ups, then its notices (one statement each)."""
    arguments = rollups_arguments([book.rollup])
    if arguments is not None:
        await book.db.execute(ROLLUPS_SQL, *arguments)
    if book.notices:
        await book.db.fetch(DRAFTS_SQL, *drafts_arguments(book.brand, book.now, book.notices))
