"""Redemptions: members spend points on catalog items; cancels and unpaid timeouts give back.

States:
    AWAITING_PAYMENT --confirm_payment--> CONFIRMED --fulfil / coupons used--> FULFILLED
    AWAITING_PAYMENT --payment window passes, or cancel--> CANCELLED
    CONFIRMED --cancel (not once a coupon is used)--> CANCELLED
A points-only redemption starts CONFIRMED; a points + cash one starts AWAITING_PAYMENT with the
points already taken and the cash due, until the brand's checkout confirms the payment.
Coupons and vouchers are issued when a redemption is CONFIRMED. A cancel gives back exactly the
points taken (to the lots they came from) and the stock, once. An item's gift items come with
it (domain/catalog/gifts.py); a TIER_UPGRADE moves the member up to its tier for its months
(domain/tiers.py `buy_tier`), and its cancel takes that floor away. A catalog redemption and
a flash sale's win (domain/flash_sales/entry.py) are recorded alike, by `record_redemption`;
each seller checks and takes its own stock.

Design: docs/ledger.md, "Redemptions"; docs/decisions.md, "One function records a redemption,
whoever sells it".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from db.models import (
    CatalogItem,
    Coupon,
    GiftJson,
    ItemKind,
    LedgerEntry,
    LedgerKind,
    Member,
    NoticeKind,
    Redemption,
    RedemptionStatus,
)

__all__ = ["RedemptionStatus"]  # re-exported for the schema
from domain.catalog.gifts import gift_items, gifts_taken, issue_all_coupons
from domain.catalog.items import Shopper, member_price, refusal
from domain.catalog.live import announce_items
from domain.errors import AccessDenied, DomainError, ErrorCode
from domain.flash_sales.stock import return_units
from domain.idempotency import change_once, run_once
from domain.ledger.book import LastStatement, MemberBook
from domain.ledger.movements import close_books, move, publish_books
from domain.ledger.policy import grace_expiry
from domain.ledger.reads import BalanceView
from domain.notices.outbox import publish_notices, record_for_brand, redemption_notice
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal, Role
from domain.rules.config import earning_config
from domain.rules.earning import tags_of
from domain.runtime import Backends
from domain.tiers import buy_tier, drop_bought_tier
from domain.velocity import VelocityKind
from domain.verification import verify_redemption
from domain.webhooks import EventType, emit, redemption_event

MAX_QUANTITY = 10
ADDRESS_FIELDS = ("recipient", "phone", "line1", "line2", "city", "region", "postalCode", "country")
REQUIRED_ADDRESS_FIELDS = ("recipient", "phone", "line1", "city", "country")
REFERENCE = re.compile(r"^\S.{0,99}$")
PAYMENT_ACTOR = "system:payments"


@dataclass(frozen=True, slots=True)
class Redeemed:
    redemption: Redemption
    member: Member
    balance: BalanceView | None = None  # the member's, as the movement left it (not replays)


def check_address(address: dict[str, str] | None) -> dict[str, str] | None:
    """A shipping address with what a courier needs, each field at most 200 characters."""
    if address is None:
        return None
    cleaned = {name: (address.get(name) or "").strip() for name in ADDRESS_FIELDS}
    for name in REQUIRED_ADDRESS_FIELDS:
        if not cleaned[name]:
            raise DomainError(
                ErrorCode.INVALID_INPUT, f"The address needs {name}.", ["shippingAddress", name]
            )
    for name, value in cleaned.items():
        if len(value) > 200:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "At most 200 characters.", ["shippingAddress", name]
            )
    return {name: value for name, value in cleaned.items() if value}


async def _last_address(connection: BaseDBAsyncClient, member_id: int) -> dict[str, str] | None:
    """The address of the member's latest physical redemption: the one they use by default."""
    last = (
        await Redemption.filter(member_id=member_id, shipping_address__not_isnull=True)
        .using_db(connection)
        .order_by("-id")
        .first()
    )
    return last.shipping_address if last else None


REDEEMED_BEFORE_SQL = """
SELECT COALESCE(SUM(quantity), 0) AS quantity FROM redemption
WHERE member_id = $1 AND item_id = $2 AND status <> 'CANCELLED'
"""

# Sent with the COMMIT (LastStatement), its numbers written in: refuse() when too few are left.
TAKE_STOCK_SQL = """
WITH taken AS (
    UPDATE catalog_item SET stock = stock - {quantity}, redeemed_count = redeemed_count + {quantity}
    WHERE id = {item_id} AND (stock IS NULL OR stock >= {quantity})
    RETURNING id
)
SELECT refuse('OUT_OF_STOCK') WHERE NOT EXISTS (SELECT FROM taken)
"""

RETURN_SOLD_SQL = """
UPDATE flash_sale SET sold = sold - $2
WHERE id = $1 AND cancelled_at IS NULL AND ends_at > $3
RETURNING id
"""

RETURN_STOCK_SQL = """
UPDATE catalog_item
SET stock = CASE WHEN stock IS NULL THEN NULL ELSE stock + $2 END,
    redeemed_count = redeemed_count - $2
WHERE id = $1
"""


def member_calling(principal: Principal) -> int:
    """The calling member's id: only a member spends their points."""
    if principal.member_id is None:
        raise AccessDenied("Only a member redeems.")
    return principal.member_id


async def record_redemption(
    book: MemberBook,
    connection: BaseDBAsyncClient,
    item: CatalogItem,
    quantity: int,
    points: int,
    *,
    cash_amount: Decimal = Decimal(0),
    gifts: list[GiftJson] | None = None,
    gifts_by_id: dict[int, CatalogItem] | None = None,  # the gifts' items, when read already
    shipping_address: dict[str, str] | None = None,
    flash_sale_id: int | None = None,
    reservation_id: str | None = None,
) -> tuple[Redemption, LedgerEntry | None]:
    """A member's redemption of `quantity` of an item for `points`, in `book`'s transaction,
    however it was sold (the catalog, a flash sale): the points checked and debited first to
    expire first; the redemption, CONFIRMED or, with `cash_amount` due, AWAITING_PAYMENT; a
    confirmed one's coupons (the item's, then its `gifts`') and notice; the partner's
    redemption.created webhook; a TIER_UPGRADE's tier; its id kept as the movement's outcome.
    The seller checks what it sells and takes its stock. Returns the redemption and its REDEEM
    entry (None when it cost no points)."""
    now, brand, member = book.now, book.brand, book.member
    sold_in = "flashSaleId" if flash_sale_id is not None else "itemId"
    if book.balance.available < points:
        raise DomainError(
            ErrorCode.INSUFFICIENT_POINTS,
            f"Only {book.balance.available} points are available; {points} are needed.",
            [sold_in],
        )
    entry = None
    if points:
        bought = f"{quantity} x {item.name}"
        description = f"Flash sale: {bought}" if flash_sale_id is not None else f"Redeemed {bought}"
        entry = await book.debit(LedgerKind.REDEEM, points, description, partner_id=item.partner_id)
    awaiting = cash_amount > 0
    redemption = await Redemption.create(
        brand_id=brand.id,
        member_id=member.id,
        item_id=item.id,
        flash_sale_id=flash_sale_id,
        reservation_id=reservation_id,
        quantity=quantity,
        points_spent=points,
        cash_amount=cash_amount,
        status=RedemptionStatus.AWAITING_PAYMENT if awaiting else RedemptionStatus.CONFIRMED,
        redeem_entry_id=entry.id if entry else None,
        payment_due_at=now + timedelta(minutes=brand.payment_window_minutes) if awaiting else None,
        confirmed_at=None if awaiting else now,
        shipping_address=shipping_address,
        gifts=gifts or [],
        created_at=now,
        using_db=connection,
    )
    if not awaiting:
        await issue_all_coupons(connection, item, redemption, now, gifts_by_id)
        book.notices.append(
            redemption_notice(NoticeKind.REDEMPTION_CONFIRMED, redemption, item.name)
        )
    event = redemption_event(redemption, item, member.member_code)
    await emit(connection, item.partner_id, EventType.REDEMPTION_CREATED, event, now)
    if item.kind is ItemKind.TIER_UPGRADE and item.upgrade_tier_id and item.upgrade_months:
        months = item.upgrade_months * quantity
        change = await buy_tier(
            connection, member, brand, item.upgrade_tier_id, months, redemption.id, now,
            book.notices,
        )  # fmt: skip
        if change is not None:
            book.tier_changes.append(change.id)
    book.outcome["redemption_id"] = redemption.id
    return redemption, entry


async def redeem(
    rt: Backends,
    principal: Principal,
    item_id: int,
    quantity: int,
    key: str,
    shipping_address: dict[str, str] | None = None,
    verification_code: str | None = None,
) -> Redeemed:
    """Spend the calling member's points on `quantity` of an item, in one transaction: its
    status, window, tier, per-member limit, the member's points and the stock are checked, the
    points taken first-to-expire first, the stock taken by a conditional update (never below
    zero), and coupons issued; at most once per idempotency key."""
    address = check_address(shipping_address)
    member_id = member_calling(principal)
    made: list[Redemption] = []  # by this call's transaction (a replay makes none)

    async def write(book: MemberBook, connection: BaseDBAsyncClient) -> LedgerEntry | None:
        now, brand = book.now, book.brand
        item = await CatalogItem.get_or_none(id=item_id, brand_id=brand.id, using_db=connection)
        if item is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such item.", ["itemId"])
        config = await earning_config(connection, brand)
        tier = config.tier(book.member.tier_id)
        min_tier = config.tier(item.min_tier_id) if item.min_tier_id else None
        tags = await tags_of(connection, book.member.id) if item.tag_codes else frozenset()
        shopper = Shopper(
            book.member.id, tier.rank, tier.discount_percent, book.balance.available, tags=tags
        )
        refused = refusal(item, now, min_tier.rank if min_tier else None, shopper)
        if refused is not None:
            raise refused
        if not 1 <= quantity <= MAX_QUANTITY:
            raise DomainError(
                ErrorCode.INVALID_INPUT, f"Quantity: 1 to {MAX_QUANTITY}.", ["quantity"]
            )
        if item.per_member_limit is not None:
            rows = await connection.execute_query_dict(
                REDEEMED_BEFORE_SQL, [book.member.id, item.id]
            )
            if int(rows[0]["quantity"]) + quantity > item.per_member_limit:
                raise DomainError(
                    ErrorCode.LIMIT_REACHED,
                    f"At most {item.per_member_limit} of this item per member.",
                    ["quantity"],
                )
        taken_gifts = gifts_taken(item, quantity)
        gifts_by_id = await gift_items(connection, taken_gifts)
        delivery = None
        if ItemKind.PHYSICAL in (item.kind, *(gift.kind for gift in gifts_by_id.values())):
            delivery = address or await _last_address(connection, book.member.id)
            if delivery is None:
                raise DomainError(
                    ErrorCode.INVALID_INPUT,
                    "A physical item needs a shipping address.",
                    ["shippingAddress"],
                )
        points = member_price(item.points_price, tier.discount_percent) * quantity
        cash = item.cash_price * quantity
        await verify_redemption(
            rt, connection, brand, book.member.id, points, cash, verification_code
        )
        redemption, entry = await record_redemption(
            book, connection, item, quantity, points, cash_amount=cash, gifts=taken_gifts,
            gifts_by_id=gifts_by_id, shipping_address=delivery,
        )  # fmt: skip
        # In item order: two redemptions sharing items never wait for each other in a cycle.
        taking = sorted(
            [(item.id, quantity)] + [(g["item_id"], g["quantity"]) for g in taken_gifts]
        )
        for taken_id, units in taking:
            book.last_statements.append(partial(take_stock, taken_id, units))
        made.append(redemption)
        return entry

    payload = {"item": item_id, "quantity": quantity, "address": address}
    counted = {VelocityKind.REDEMPTIONS_PER_MEMBER: str(member_id)}
    movement = await move(rt, principal, "redeem", key, member_id, payload, write, counted=counted)
    if movement.replayed:
        redemption = await Redemption.get(id=movement.outcome["redemption_id"])
    else:
        (redemption,) = made
        await announce_items(rt, items_of(redemption))
    return Redeemed(redemption, movement.member, movement.balance)


def items_of(redemption: Redemption) -> list[int]:
    """The items whose stock a redemption took (or gives back): its own and its gifts'."""
    return [redemption.item_id, *(gift["item_id"] for gift in redemption.gifts)]


def take_stock(item_id: int, quantity: int) -> LastStatement:
    """Last in the transaction, with its COMMIT: every redemption of the item waits for its
    row, so it is locked for the commit alone (refused there, everything rolls back)."""
    return LastStatement(
        TAKE_STOCK_SQL.format(item_id=int(item_id), quantity=int(quantity)),
        DomainError(ErrorCode.OUT_OF_STOCK, "Not enough of this item left.", ["itemId"]),
    )


async def _redemption_of(principal: Principal, redemption_id: int) -> Redemption:
    """A redemption the caller may act on: their own as a member, any of the brand's as staff."""
    redemption = await Redemption.get_or_none(id=redemption_id, brand_id=principal.brand_id)
    if redemption is None or (
        principal.role is Role.MEMBER and redemption.member_id != principal.member_id
    ):
        raise DomainError(ErrorCode.NOT_FOUND, "No such redemption.", ["redemptionId"])
    return redemption


async def _give_back(
    book: MemberBook, redemption: Redemption, reason: str, actor: str
) -> LedgerEntry | None:
    """Cancel a redemption inside `book`'s transaction: its points back to their lots, its
    stock back to the item, its coupons void."""
    connection = book.connection
    entry = None
    item = await CatalogItem.get(id=redemption.item_id, using_db=connection)
    if redemption.redeem_entry_id is not None:
        entry = await book.give_back(
            redemption.redeem_entry_id,
            f"Cancelled: {redemption.quantity} x {item.name}",
            grace_expiry=grace_expiry(book.brand, book.now),
            reason=reason,
            partner_id=item.partner_id,
        )
    if item.kind is ItemKind.TIER_UPGRADE:
        await drop_bought_tier(connection, book.member, redemption.id)
    for gift in redemption.gifts:
        await connection.execute_query(RETURN_STOCK_SQL, [gift["item_id"], gift["quantity"]])
    if redemption.flash_sale_id is None:
        await connection.execute_query(RETURN_STOCK_SQL, [redemption.item_id, redemption.quantity])
    else:
        # A flash sale's unit goes back to the sale only while the sale is open.
        returned = await connection.execute_query_dict(
            RETURN_SOLD_SQL, [redemption.flash_sale_id, redemption.quantity, book.now]
        )
        if returned:
            book.outcome["units_back_to_sale"] = redemption.flash_sale_id
    await (
        Coupon.filter(redemption_id=redemption.id, voided_at=None)
        .using_db(connection)
        .update(voided_at=book.now)
    )
    book.notices.append(
        redemption_notice(NoticeKind.REDEMPTION_CANCELLED, redemption, item.name, reason=reason)
    )
    redemption.status = RedemptionStatus.CANCELLED
    redemption.cancelled_at = book.now
    redemption.cancel_reason = reason
    redemption.cancelled_by = actor
    await redemption.save(
        using_db=connection,
        update_fields=["status", "cancelled_at", "cancel_reason", "cancelled_by"],
    )
    event = redemption_event(redemption, item, book.member.member_code)
    await emit(connection, item.partner_id, EventType.REDEMPTION_CANCELLED, event, book.now)
    return entry


async def _locked_for_cancel(connection: BaseDBAsyncClient, redemption_id: int) -> Redemption:
    redemption = await Redemption.select_for_update().using_db(connection).get(id=redemption_id)
    if redemption.status is RedemptionStatus.CANCELLED:
        raise DomainError(
            ErrorCode.ALREADY_CANCELLED, "This redemption was cancelled already.", ["redemptionId"]
        )
    if redemption.status is RedemptionStatus.FULFILLED:
        raise DomainError(
            ErrorCode.CONFLICT, "A fulfilled redemption cannot be cancelled.", ["redemptionId"]
        )
    # Locked, as a till locks them (after the redemption): a coupon is used or voided, not both.
    coupons = (
        await Coupon.filter(redemption_id=redemption.id).select_for_update().using_db(connection)
    )
    if any(coupon.used_at is not None for coupon in coupons):
        raise DomainError(
            ErrorCode.CONFLICT, "A coupon of this redemption was used already.", ["redemptionId"]
        )
    return redemption


async def cancel(
    rt: Backends, principal: Principal, redemption_id: int, reason: str, key: str
) -> Redeemed:
    """Cancel a redemption: a member their own within the brand's window, staff any of theirs
    not yet fulfilled; gives back the points and the stock exactly once."""
    reason = reason.strip()
    if not 1 <= len(reason) <= 500:
        message = "Give a reason (up to 500 characters)."
        raise DomainError(ErrorCode.INVALID_INPUT, message, ["reason"])
    found = await _redemption_of(principal, redemption_id)

    async def write(book: MemberBook, connection: BaseDBAsyncClient) -> LedgerEntry | None:
        brand = book.brand
        redemption = await _locked_for_cancel(connection, found.id)
        window = timedelta(hours=brand.cancel_window_hours)
        if principal.role is Role.MEMBER and book.now > redemption.created_at + window:
            raise DomainError(
                ErrorCode.ENDED,
                f"A redemption can be cancelled within {brand.cancel_window_hours} hours; ask "
                "the brand's staff.",
                ["redemptionId"],
            )
        book.outcome["redemption_id"] = redemption.id
        return await _give_back(book, redemption, reason, principal.idempotency_scope)

    payload = {"redemption": found.id, "reason": reason}
    movement = await move(
        rt, principal, "cancelRedemption", key, found.member_id, payload, write, frozen_may=True
    )
    sale_id = movement.outcome.get("units_back_to_sale")
    if not movement.replayed and sale_id:
        await return_units(rt, sale_id, found.member_id, found.quantity)
    if not movement.replayed and found.flash_sale_id is None:
        await announce_items(rt, items_of(found))
    return Redeemed(await Redemption.get(id=found.id), movement.member, movement.balance)


async def confirm_payment(
    rt: Backends,
    principal: Principal,
    redemption_id: int,
    payment_reference: str,
    key: str,
    now: datetime,
) -> Redemption:
    """The brand's checkout took the cash of a points + cash redemption: it is CONFIRMED and
    its coupons issued. Too late (the window passed) is ENDED: the timeout gives it back."""
    payment_reference = payment_reference.strip()
    if not REFERENCE.match(payment_reference):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "paymentReference: 1 to 100 characters.", ["paymentReference"]
        )
    found = await _redemption_of(principal, redemption_id)

    async def confirm(connection: BaseDBAsyncClient) -> dict[str, int]:
        redemption = await Redemption.select_for_update().using_db(connection).get(id=found.id)
        if redemption.status is not RedemptionStatus.AWAITING_PAYMENT:
            raise DomainError(
                ErrorCode.CONFLICT,
                f"This redemption is {redemption.status.value}, not awaiting payment.",
                ["redemptionId"],
            )
        due = redemption.payment_due_at
        if due is not None and now >= due:
            raise DomainError(ErrorCode.ENDED, "The payment window has passed.", ["redemptionId"])
        redemption.status = RedemptionStatus.CONFIRMED
        redemption.payment_reference = payment_reference
        redemption.confirmed_at = now
        await redemption.save(
            using_db=connection, update_fields=["status", "payment_reference", "confirmed_at"]
        )
        item = await CatalogItem.get(id=redemption.item_id, using_db=connection)
        await issue_all_coupons(connection, item, redemption, now)
        notice = redemption_notice(NoticeKind.REDEMPTION_CONFIRMED, redemption, item.name)
        told.extend(await record_for_brand(connection, redemption.brand_id, now, [notice]))
        return {"redemption_id": redemption.id}

    told: list[dict[str, Any]] = []
    payload = {"redemption": found.id, "reference": payment_reference}
    await run_once(principal, "confirmPayment", key, payload, confirm)
    await publish_notices(rt, told)
    return await Redemption.get(id=found.id)


async def fulfil(
    rt: Backends,
    principal: Principal,
    redemption_id: int,
    tracking_reference: str,
    now: datetime,
    key: str | None = None,
) -> Redemption:
    """Staff shipped (or handed over) a confirmed redemption; once per idempotency key."""
    tracking_reference = tracking_reference.strip()
    if not REFERENCE.match(tracking_reference):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "trackingReference: 1 to 100 characters.",
            ["trackingReference"],
        )

    async def ship(connection: BaseDBAsyncClient) -> Redemption:
        found = await _redemption_of(principal, redemption_id)
        redemption = await Redemption.select_for_update().using_db(connection).get(id=found.id)
        if redemption.status is RedemptionStatus.FULFILLED:
            return redemption  # fulfilling twice changes nothing
        if redemption.status is not RedemptionStatus.CONFIRMED:
            raise DomainError(
                ErrorCode.CONFLICT,
                f"This redemption is {redemption.status.value}; only a confirmed one ships.",
                ["redemptionId"],
            )
        redemption.status = RedemptionStatus.FULFILLED
        redemption.fulfilled_at = now
        redemption.tracking_reference = tracking_reference
        await redemption.save(
            using_db=connection, update_fields=["status", "fulfilled_at", "tracking_reference"]
        )
        item = await CatalogItem.get(id=redemption.item_id, using_db=connection)
        notice = redemption_notice(
            NoticeKind.REDEMPTION_SHIPPED, redemption, item.name,
            trackingReference=tracking_reference,
        )  # fmt: skip
        told.extend(await record_for_brand(connection, redemption.brand_id, now, [notice]))
        return redemption

    told: list[dict[str, Any]] = []
    request = {"redemptionId": redemption_id, "trackingReference": tracking_reference}
    shipped = await change_once(principal, "fulfilRedemption", key, request, Redemption, ship)
    await publish_notices(rt, told)
    return shipped


UNPAID_SQL = """
SELECT id FROM redemption
WHERE status = 'AWAITING_PAYMENT' AND payment_due_at <= $1
ORDER BY payment_due_at, id
LIMIT 500
"""


async def cancel_unpaid(rt: Backends) -> int:
    """Cancel every points + cash redemption whose payment window has passed, giving back its
    points and stock; safe beside a late confirmation (whichever locks first wins)."""
    cancelled = 0
    while True:
        rows = await get_connection("default").execute_query_dict(UNPAID_SQL, [rt.clock.now()])
        if not rows:
            return cancelled
        for row in rows:
            cancelled += await _cancel_unpaid_one(rt, row["id"])
        if len(rows) < 500:
            return cancelled


async def _cancel_unpaid_one(rt: Backends, redemption_id: int) -> bool:
    now = rt.clock.now()
    redemption = await Redemption.get(id=redemption_id)
    async with in_transaction() as connection:
        book = await MemberBook.open(connection, redemption.member_id, now, PAYMENT_ACTOR)
        locked = await Redemption.select_for_update().using_db(connection).get(id=redemption_id)
        due = locked.payment_due_at
        if locked.status is not RedemptionStatus.AWAITING_PAYMENT or due is None or due > now:
            return False
        await _give_back(book, locked, "Payment not received in time", PAYMENT_ACTOR)
        books = await close_books(book)
    await publish_books(rt, books)
    await announce_items(rt, items_of(locked))
    return True


async def redemptions_page(
    principal: Principal,
    request: PageRequest,
    *,
    member_id: int | None = None,
    status: RedemptionStatus | None = None,
) -> Page[Redemption]:
    """Redemptions of the brand (or one member), newest first."""
    redemptions = Redemption.filter(brand_id=principal.brand_id)
    if principal.partner_id is not None:  # a partner sees its own offers' redemptions
        redemptions = redemptions.filter(item__partner_id=principal.partner_id)
    if member_id is not None:
        redemptions = redemptions.filter(member_id=member_id)
    if status is not None:
        redemptions = redemptions.filter(status=status)
    return await paginate(redemptions, request, ("id",), descending=True)


async def visible_redemption(principal: Principal, redemption_id: int) -> Redemption | None:
    """A redemption the caller may see: their own as a member, any of the brand's as staff."""
    redemption = await Redemption.get_or_none(id=redemption_id, brand_id=principal.brand_id)
    if redemption is None or not (
        principal.reads_members or principal.member_id == redemption.member_id
    ):
        return None
    return redemption
