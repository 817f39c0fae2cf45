"""Coupons and cash vouchers: one unguessable code per unit redeemed, consumed at most once.

A checkout (the brand's staff, or a partner's key for its own offers) verifies a code and
consumes it with one conditional update, so two tills trying the same code at once cannot both
succeed. A code is unique among its owner's only (the offer's partner, or the brand for its
own items): a partner learns nothing of other partners' codes, and their codes may coincide.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from db.columns import fits
from db.models import CatalogItem, Coupon, ItemKind, Redemption, RedemptionStatus
from domain.errors import DomainError, ErrorCode
from domain.idempotency import run_once
from domain.principal import Principal
from domain.webhooks import EventType, coupon_event, emit

# No 0/O, 1/I/L: codes are read aloud and typed in. 31 symbols ^ 12 ≈ 2^59 codes.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
COUPON_KINDS = (ItemKind.COUPON, ItemKind.CASH_VOUCHER, ItemKind.PARTNER_OFFER)
POOL_CODE = re.compile(r"^[A-Za-z0-9_-]{4,32}$")
MAX_UPLOAD = 10_000


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalised(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


async def issue_coupons(
    connection: BaseDBAsyncClient,
    item: CatalogItem,
    redemption: Redemption,
    now: datetime,
    units: int | None = None,
) -> list[Coupon]:
    """One code per unit of a confirmed coupon, voucher or partner-offer redemption (none for
    physical items): taken from the offer's uploaded pool when it has one (OUT_OF_STOCK when
    the pool is empty), generated otherwise. `units`: of a gift, how many came with it."""
    if item.kind not in COUPON_KINDS:
        return []
    if item.code_pool:
        return await _take_from_pool(connection, item, redemption)
    expires_at = now + timedelta(days=item.coupon_valid_days) if item.coupon_valid_days else None
    # A clash among 2^59 codes is practically impossible; the unique index would refuse it.
    return [
        await Coupon.create(
            redemption_id=redemption.id,
            item_id=item.id,
            brand_id=redemption.brand_id,
            partner_id=item.partner_id,
            code=new_code(),
            value=item.coupon_value,
            expires_at=expires_at,
            created_at=now,
            using_db=connection,
        )
        for _ in range(redemption.quantity if units is None else units)
    ]


TAKE_FROM_POOL_SQL = """
UPDATE coupon SET redemption_id = $2
WHERE id IN (
    SELECT id FROM coupon
    WHERE item_id = $1 AND redemption_id IS NULL AND voided_at IS NULL
    ORDER BY id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


async def _take_from_pool(
    connection: BaseDBAsyncClient, item: CatalogItem, redemption: Redemption
) -> list[Coupon]:
    taken = await connection.execute_query_dict(
        TAKE_FROM_POOL_SQL, [item.id, redemption.id, redemption.quantity]
    )
    if len(taken) < redemption.quantity:
        raise DomainError(ErrorCode.OUT_OF_STOCK, "This offer's codes have run out.", ["itemId"])
    return await Coupon.filter(id__in=[row["id"] for row in taken]).using_db(connection)


async def upload_codes(
    principal: Principal, item_id: int, codes: list[str], now: datetime, key: str
) -> tuple[CatalogItem, int]:
    """A partner's own codes for its offer (or an admin's for any partner offer): from now on
    each redemption takes one from this pool; once per idempotency key. Codes are unique among
    the offer's partner's, so a refusal names only codes the partner has already; another
    partner's never matter."""
    cleaned = [code.strip() for code in codes]
    if not 1 <= len(cleaned) <= MAX_UPLOAD or not all(POOL_CODE.match(c) for c in cleaned):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"1 to {MAX_UPLOAD} codes of 4 to 32 letters, digits, _ and -.",
            ["input", "codes"],
        )
    if len(set(cleaned)) != len(cleaned):
        raise DomainError(ErrorCode.DUPLICATE, "A code is listed twice.", ["input", "codes"])

    async def upload(connection: BaseDBAsyncClient) -> dict[str, int]:
        item = await CatalogItem.get_or_none(
            id=item_id, brand_id=principal.brand_id, using_db=connection
        )
        if item is None or (
            principal.partner_id is not None and item.partner_id != principal.partner_id
        ):
            raise DomainError(ErrorCode.NOT_FOUND, "No such offer.", ["input", "itemId"])
        if item.kind is not ItemKind.PARTNER_OFFER:
            message = "Codes are uploaded for partner offers."
            raise DomainError(ErrorCode.INVALID_INPUT, message, ["input", "itemId"])
        await _refuse_codes_in_use(connection, item, cleaned)
        try:
            async with in_transaction() as savepoint:
                await Coupon.bulk_create(
                    [Coupon(item_id=item.id, brand_id=item.brand_id, partner_id=item.partner_id,
                            code=code, value=item.coupon_value, created_at=now)
                     for code in cleaned],
                    using_db=savepoint,
                )  # fmt: skip
        except IntegrityError:
            # A concurrent upload committed some of these codes since the check above; this
            # statement sees them now (READ COMMITTED).
            await _refuse_codes_in_use(connection, item, cleaned)
            raise
        await CatalogItem.filter(id=item.id).using_db(connection).update(code_pool=True)
        return {"item_id": item.id, "uploaded": len(cleaned)}

    request = {"itemId": item_id, "codes": sorted(cleaned)}
    outcome, _ = await run_once(principal, "uploadOfferCodes", key, request, upload)
    return await CatalogItem.get(id=outcome["item_id"]), outcome["uploaded"]


async def _refuse_codes_in_use(
    connection: BaseDBAsyncClient, item: CatalogItem, codes: list[str]
) -> None:
    """DUPLICATE naming those of `codes` the offer's partner (or the brand) has already."""
    taken = (
        await Coupon.filter(brand_id=item.brand_id, partner_id=item.partner_id, code__in=codes)
        .using_db(connection)
        .values("code")
    )
    if taken:
        named = sorted(row["code"] for row in taken)[:10]
        raise DomainError(
            ErrorCode.DUPLICATE,
            f"Codes in use already: {', '.join(named)}.",
            ["input", "codes"],
        )


class CouponState(StrEnum):
    USABLE = "USABLE"
    USED = "USED"
    EXPIRED = "EXPIRED"
    VOID = "VOID"


@dataclass(frozen=True, slots=True)
class CouponCheck:
    """What a checkout learns of a code: the coupon and whether it can be used now."""

    coupon: Coupon
    state: CouponState


def state_of(coupon: Coupon, now: datetime) -> CouponState:
    if coupon.voided_at is not None:
        return CouponState.VOID
    if coupon.used_at is not None:
        return CouponState.USED
    if coupon.expires_at is not None and coupon.expires_at <= now:
        return CouponState.EXPIRED
    return CouponState.USABLE


async def verify(principal: Principal, code: str, now: datetime) -> CouponCheck:
    """Look a code up for the brand's checkout; NOT_FOUND for codes of other brands."""
    coupon = await _meant(principal, code)
    if coupon is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such coupon.", ["code"])
    return CouponCheck(coupon, state_of(coupon, now))


def _visible(principal: Principal, code: str) -> QuerySet[Coupon]:
    """Codes given to members in the caller's brand (as typed, or as we print ours: upper
    case, no dashes); for a partner, only its own. Pool codes not yet given out are nobody's
    to use."""
    spellings = {code.strip(), normalised(code)}
    spellings = {spelling for spelling in spellings if fits(Coupon, "code", spelling)}
    found = Coupon.filter(
        brand_id=principal.brand_id, code__in=spellings, redemption_id__isnull=False
    )
    if principal.partner_id is not None:
        found = found.filter(partner_id=principal.partner_id)
    return found


async def _meant(
    principal: Principal, code: str, connection: BaseDBAsyncClient | None = None
) -> Coupon | None:
    """The coupon the caller means by `code`. Partners' codes are unique among their own only,
    so staff may find several: the brand's own coupon wins, then the one partner's that has
    the code; if several partners' have it, CONFLICT (their keys tell them apart). The
    spelling as typed wins over the printed one."""
    found = await _visible(principal, code).using_db(connection)
    candidates = [coupon for coupon in found if coupon.partner_id is None] or found
    candidates = [coupon for coupon in candidates if coupon.code == code.strip()] or candidates
    if len(candidates) > 1:
        raise DomainError(
            ErrorCode.CONFLICT,
            "Several partners' offers have this code: use it with that partner's API key.",
            ["code"],
        )
    return candidates[0] if candidates else None


REFUSALS = {
    CouponState.VOID: (ErrorCode.NOT_FOUND, "This coupon was cancelled."),
    CouponState.USED: (ErrorCode.CONFLICT, "This coupon was used already."),
    CouponState.EXPIRED: (ErrorCode.ENDED, "This coupon has expired."),
}


async def consume(
    principal: Principal, code: str, reference: str, key: str, now: datetime
) -> Coupon:
    """Use a coupon at the checkout, exactly once, even when tills race for it; its
    redemption is FULFILLED once all its coupons are used."""
    reference = reference.strip()
    if not 1 <= len(reference) <= 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "reference: 1 to 100 characters.", ["reference"])

    async def use(connection: BaseDBAsyncClient) -> dict[str, int]:
        coupon = await _meant(principal, code, connection)
        if coupon is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such coupon.", ["code"])
        # The redemption first, as a cancel locks it before its coupons: no deadlock, and a
        # coupon is either used or voided by the cancel, never both.
        await Redemption.select_for_update().using_db(connection).get(id=coupon.redemption_id)
        taken = (
            await Coupon.filter(
                Q(expires_at=None) | Q(expires_at__gt=now),
                id=coupon.id,
                used_at=None,
                voided_at=None,
            )
            .using_db(connection)
            .update(used_at=now, used_by=principal.idempotency_scope, used_reference=reference)
        )
        if not taken:
            await coupon.refresh_from_db(using_db=connection)
            error_code, message = REFUSALS.get(state_of(coupon, now), REFUSALS[CouponState.USED])
            raise DomainError(error_code, message, ["code"])
        redemption = await Redemption.get(id=coupon.redemption_id, using_db=connection)
        item = await CatalogItem.get(id=redemption.item_id, using_db=connection)
        event = coupon_event(coupon, item, reference)
        await emit(connection, item.partner_id, EventType.COUPON_CONSUMED, event, now)
        still_unused = (
            await Coupon.filter(redemption_id=coupon.redemption_id, used_at=None)
            .using_db(connection)
            .exists()
        )
        if not still_unused:
            await (
                Redemption.filter(id=coupon.redemption_id, status=RedemptionStatus.CONFIRMED)
                .using_db(connection)
                .update(status=RedemptionStatus.FULFILLED, fulfilled_at=now)
            )
        return {"coupon_id": coupon.id}

    payload = {"code": normalised(code), "reference": reference}
    outcome, _ = await run_once(principal, "consumeCoupon", key, payload, use)
    return await Coupon.get(id=outcome["coupon_id"])


async def coupons_by_redemption_ids(ids: list[int]) -> dict[int, list[Coupon]]:
    # Keyed as the column is typed (nullable): every coupon found has one of `ids`.
    found: dict[int | None, list[Coupon]] = {redemption_id: [] for redemption_id in ids}
    for coupon in await Coupon.filter(redemption_id__in=ids).order_by("id"):
        found[coupon.redemption_id].append(coupon)
    return {redemption_id: found[redemption_id] for redemption_id in ids}
