"""Entering a flash sale: Redis decides fast, PostgreSQL decides last.

1. One Lua script (by SHA) checks everything it can without the database: the window against
   Redis TIME (earlier by the member's tier early access), the member's status, their limit,
   an attempt rate limit, and the stock; it takes the units as a hold with a deadline, under a
   reservation id derived from the idempotency key, or records the refusal for replays.
2. With a hold, one PostgreSQL transaction (statement timeout well inside the hold) enforces
   the member's limit again, records the redemption as the catalog does (`record_redemption`:
   the points debited, coupons, notice, webhook; one redemption per reservation), and
   increments `sold` only where it stays within the stock. It commits only while the hold is
   still there and inside its deadline.
3. The hold is then resolved once: confirmed after a commit, released (units back) after a
   failure. Holds of a process that died are resolved by the reconciler after their deadline.

Design: docs/flash-sales.md, "An entry, in three steps".
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient

from db.flash_sales import SaleKeys
from db.models import CatalogItem, FlashSale, LedgerEntry, Member, Redemption
from db.rows import model_of
from domain.catalog.redemptions import Redeemed, member_calling, record_redemption
from domain.errors import DomainError, ErrorCode
from domain.flash_sales.stock import (
    entry_fingerprint,
    publisher_of,
    resolve_hold,
    scripts_of,
)
from domain.idempotency import check_key
from domain.ledger.book import LastStatement, MemberBook
from domain.ledger.movements import move
from domain.member_facts import facts_of
from domain.principal import Principal
from domain.runtime import DEADLINE_MARGIN_MS, STATEMENT_TIMEOUT_MS, Backends
from domain.verification import verify_redemption

REFUSALS = {
    "RATE_LIMITED": "Too many attempts; wait a moment.",
    "INVALID_INPUT": "Quantity must be at least 1.",
    "ENDED": "This flash sale has ended.",
    "NOT_STARTED": "This flash sale has not started yet.",
    "MEMBER_FROZEN": "The member is frozen.",
    "LIMIT_REACHED": "You have reached this sale's limit per member.",
    "SOLD_OUT": "This flash sale is sold out.",
    "OUT_OF_STOCK": "Fewer units are left than you asked for.",
    "INSUFFICIENT_POINTS": "Not enough points.",
    "CONFLICT": "This entry ran out of time; try again with a new idempotencyKey.",
}
QUANTITY_CODES = ("INVALID_INPUT", "LIMIT_REACHED", "OUT_OF_STOCK")

REDEEMED_IN_SALE_SQL = """
SELECT COALESCE(SUM(quantity), 0) AS units FROM redemption
WHERE member_id = $1 AND flash_sale_id = $2 AND status <> 'CANCELLED'
"""
SALE_AND_ITEM_SQL = """
SELECT s AS sale, i AS item FROM flash_sale s JOIN catalog_item i ON i.id = s.item_id
WHERE s.id = $1
"""
# Sent with the COMMIT (LastStatement), its numbers written in: refuse() when no unit is left.
TAKE_SOLD_SQL = """
WITH taken AS (
    UPDATE flash_sale SET sold = sold + {quantity}
    WHERE id = {sale_id} AND cancelled_at IS NULL AND sold + {quantity} <= total_stock
    RETURNING id
)
SELECT refuse('SOLD_OUT') WHERE NOT EXISTS (SELECT FROM taken)
"""


def reservation_of(principal: Principal, key: str) -> str:
    """The hold's id: the caller's idempotency key, scoped as idempotency records are."""
    scoped = f"{principal.brand_id}|{principal.idempotency_scope}|enterFlashSale|{key}"
    return hashlib.sha256(scoped.encode()).hexdigest()[:40]


def refusal(code: str) -> DomainError:
    field = ["quantity"] if code in QUANTITY_CODES else ["flashSaleId"]
    return DomainError(ErrorCode(code), REFUSALS.get(code, code), field)


def now_ms(rt: Backends) -> int:
    return int(time.time() * 1000) + rt.clock.offset_ms()


class _SoldOutInRecord(DomainError):
    """PostgreSQL's record has no unit left for this hold: the hold's units do not exist."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The entry script's answer to one attempt that it did not refuse: a hold taken, a replay
    of an entry that went further, or a sale it does not hold. `enter` goes on from it."""

    scope: str  # the caller's idempotency scope: a verdict is only good for its own call
    sale_id: int
    quantity: int
    key: str
    answer: tuple[str, ...]

    def is_for(self, principal: Principal, sale_id: int, quantity: int, key: str) -> bool:
        return (self.scope, self.sale_id, self.quantity, self.key) == (
            principal.idempotency_scope, sale_id, quantity, key,
        )  # fmt: skip


async def decide(
    rt: Backends, principal: Principal, sale_id: int, quantity: int, key: str
) -> Verdict:
    """Ask the entry script about an attempt. What it refuses (sold out, not started, the
    limit, the rate, a replayed refusal, a key used for another request) is raised here, with
    no database work; anything else is the verdict `enter` goes on from."""
    check_key(key)
    member_id = member_calling(principal)
    keys = SaleKeys.of(rt.keys, sale_id)
    reservation = reservation_of(principal, key)
    fingerprint = entry_fingerprint(sale_id, quantity)
    facts = await facts_of(rt, member_id)
    answer = await scripts_of(rt).enter(
        keys=[keys.meta, keys.stock, keys.buyers, keys.holds, keys.holddata, keys.outcomes,
              keys.attempts(member_id)],
        args=[reservation, member_id, quantity, facts.early_access_minutes * 60_000,
              facts.status, int(rt.flash.hold_seconds * 1000), rt.flash.attempts_per_minute,
              60_000, fingerprint, principal.brand_id, rt.clock.offset_ms()],
    )  # fmt: skip
    if answer[0] == "REFUSED":
        raise refusal(answer[1])
    if answer[0] == "REPLAY":
        state, recorded_fingerprint, detail = answer[1].split("|")
        if recorded_fingerprint != fingerprint:
            raise DomainError(
                ErrorCode.CONFLICT,
                "This idempotencyKey was used for a different request.",
                ["idempotencyKey"],
            )
        if state == "E":
            raise refusal(detail)
    return Verdict(principal.idempotency_scope, sale_id, quantity, key, tuple(answer))


async def enter(
    rt: Backends,
    principal: Principal,
    sale_id: int,
    quantity: int,
    key: str,
    decided: Verdict | None = None,
    verification_code: str | None = None,
) -> Redeemed:
    """Buy `quantity` units of a flash sale for the calling member, at most once per key;
    from the script's verdict on this very call when it was asked already (`decided`). An
    entry the brand's step-up wants verified needs `verification_code`."""
    if decided is None or not decided.is_for(principal, sale_id, quantity, key):
        decided = await decide(rt, principal, sale_id, quantity, key)
    answer = decided.answer
    verdict = answer[0]
    if verdict in ("MISSING", "FOREIGN"):
        sale = None
        if verdict == "MISSING":
            sale = await FlashSale.get_or_none(id=sale_id, brand_id=principal.brand_id)
        if sale is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such flash sale.", ["flashSaleId"])
        if sale.cancelled_at is not None or rt.clock.now() >= sale.ends_at:
            raise refusal("ENDED")  # its keys expired with it, or were never needed again
        raise DomainError(
            ErrorCode.CONFLICT,
            "This flash sale is being restored; try again in a moment.",
            ["flashSaleId"],
        )
    if verdict == "REPLAY":
        state, _, detail = answer[1].split("|")
        if state == "R":
            redemption = await Redemption.get(id=int(detail))
            return Redeemed(redemption, await Member.get(id=redemption.member_id))
        # "H": the first call's hold is still open; its transaction decides (run_once waits).
    else:
        publisher_of(rt).changed(sale_id)
    keys = SaleKeys.of(rt.keys, sale_id)
    reservation = reservation_of(principal, key)
    fingerprint = entry_fingerprint(sale_id, quantity)
    return await _buy(
        rt, principal, sale_id, quantity, key, keys, reservation, fingerprint, verification_code
    )


async def _buy(
    rt: Backends, principal: Principal, sale_id: int, quantity: int, key: str,
    keys: SaleKeys, reservation: str, fingerprint: str, verification_code: str | None,
) -> Redeemed:  # fmt: skip
    """The hold's transaction, then the hold resolved once by its outcome."""
    member_id = member_calling(principal)
    made: list[Redemption] = []  # by this call's transaction (a replay makes none)

    async def write(book: MemberBook, connection: BaseDBAsyncClient) -> LedgerEntry | None:
        await book.sql.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        (row,) = await book.sql.fetch(SALE_AND_ITEM_SQL, sale_id)
        sale, item = model_of(FlashSale, row["sale"]), model_of(CatalogItem, row["item"])
        (units,) = await book.sql.fetch(REDEEMED_IN_SALE_SQL, book.member.id, sale_id)
        if int(units["units"]) + quantity > sale.per_member_limit:
            raise refusal("LIMIT_REACHED")
        points = sale.points_price * quantity
        await verify_redemption(
            rt, connection, book.brand, book.member.id, points, Decimal(0), verification_code
        )
        # The item alone, at the sale's price: a flash sale sells no gifts and asks no cash.
        redemption, entry = await record_redemption(
            book, connection, item, quantity, points, flash_sale_id=sale_id,
            reservation_id=reservation,
        )  # fmt: skip
        deadline = await rt.redis.zscore(keys.holds, reservation)
        if deadline is None:
            raise refusal("CONFLICT")  # the hold is gone: commit nothing
        book.outcome["hold_deadline"] = deadline  # names the hold this redemption used
        book.last_statements.append(lambda: take_sold(deadline))
        made.append(redemption)
        return entry

    def take_sold(deadline: float) -> LastStatement:
        # Every winner of the sale waits for its row: taken last, with the COMMIT, it is locked
        # for the commit alone. The deadline is checked right before, so the commit follows
        # within two statement timeouts, well inside the margin the reconciler leaves.
        if now_ms(rt) > deadline - DEADLINE_MARGIN_MS:
            raise refusal("CONFLICT")  # the hold is about to go: commit nothing
        return LastStatement(
            TAKE_SOLD_SQL.format(sale_id=int(sale_id), quantity=int(quantity)),
            _SoldOutInRecord(ErrorCode.SOLD_OUT, REFUSALS["SOLD_OUT"], ["flashSaleId"]),
        )

    payload = {"sale": sale_id, "quantity": quantity}
    try:
        movement = await move(rt, principal, "enterFlashSale", key, member_id, payload, write)
    except DomainError as error:
        if error.code is ErrorCode.VERIFICATION_REQUIRED:
            # Not an outcome: the same key may come again with its code.
            await resolve_hold(rt, sale_id, reservation, "", "release")
            raise
        how = "release-keep-stock" if isinstance(error, _SoldOutInRecord) else "release"
        await resolve_hold(rt, sale_id, reservation, f"E|{fingerprint}|{error.code.value}", how)
        raise
    except BaseException:
        await resolve_hold(rt, sale_id, reservation, "", "release")  # a retry may try again
        raise
    redemption_id = movement.outcome["redemption_id"]
    how = "confirm"
    if movement.replayed:
        # The hold open now is the redemption's own (its first call has yet to resolve it), or
        # a new one taken after Redis lost the first: that one made no unit and goes back.
        current = await rt.redis.zscore(keys.holds, reservation)
        if current != movement.outcome.get("hold_deadline"):
            how = "release"
    await resolve_hold(rt, sale_id, reservation, f"R|{fingerprint}|{redemption_id}", how)
    if movement.replayed:
        return Redeemed(await Redemption.get(id=redemption_id), movement.member)
    (redemption,) = made
    return Redeemed(redemption, movement.member, movement.balance)
