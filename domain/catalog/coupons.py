"""Coupons and cash vouchers: one unguessable code per unit redeemed, consumed at most once.

A checkout (the brand's staff; partners' keys later) verifies a code and consumes it with one
conditional update, so two tills trying the same code at once cannot both succeed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from db.models import CatalogItem, Coupon, ItemKind, Redemption, RedemptionStatus
from domain.errors import DomainError, ErrorCode
from domain.idempotency import run_once
from domain.principal import Principal
from domain.webhooks import emit

# No 0/O, 1/I/L: codes are read aloud and typed in. 31 symbols ^ 12 ≈ 2^59 codes.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
COUPON_KINDS = (ItemKind.COUPON, ItemKind.CASH_VOUCHER)


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalised(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


async def issue_coupons(
    connection: BaseDBAsyncClient, item: CatalogItem, redemption: Redemption, now: datetime
) -> list[Coupon]:
    """One code per unit of a confirmed coupon or voucher redemption (none for other kinds)."""
    if item.kind not in COUPON_KINDS:
        return []
    expires_at = now + timedelta(days=item.coupon_valid_days) if item.coupon_valid_days else None
    # A clash among 2^59 codes is practically impossible; the unique index would refuse it.
    return [
        await Coupon.create(
            redemption_id=redemption.id,
            brand_id=redemption.brand_id,
            code=new_code(),
            value=item.coupon_value,
            expires_at=expires_at,
            created_at=now,
            using_db=connection,
        )
        for _ in range(redemption.quantity)
    ]


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
    coupon = await Coupon.get_or_none(**_visible(principal, normalised(code)))
    if coupon is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such coupon.", ["code"])
    return CouponCheck(coupon, state_of(coupon, now))


def _visible(principal: Principal, code: str) -> dict[str, object]:
    """A code of the caller's brand; for a partner, only of its own offers."""
    lookup: dict[str, object] = {"code": code, "brand_id": principal.brand_id}
    if principal.partner_id is not None:
        lookup["redemption__item__partner_id"] = principal.partner_id
    return lookup


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
    code = normalised(code)
    reference = reference.strip()
    if not 1 <= len(reference) <= 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "reference: 1 to 100 characters.", ["reference"])

    async def use(connection: BaseDBAsyncClient) -> dict:
        coupon = await Coupon.get_or_none(**_visible(principal, code)).using_db(connection)
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
        redemption = await Redemption.get(id=coupon.redemption_id).using_db(connection)
        item = await CatalogItem.get(id=redemption.item_id).using_db(connection)
        event = {"code": coupon.code, "redemptionId": redemption.id, "sku": item.sku,
                 "reference": reference}  # fmt: skip
        await emit(connection, item.partner_id, "coupon.consumed", event, now)
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

    payload = {"code": code, "reference": reference}
    outcome, _ = await run_once(principal, "consumeCoupon", key, payload, use)
    return await Coupon.get(id=outcome["coupon_id"])


async def coupons_by_redemption_ids(ids: list[int]) -> dict[int, list[Coupon]]:
    found: dict[int, list[Coupon]] = {redemption_id: [] for redemption_id in ids}
    for coupon in await Coupon.filter(redemption_id__in=ids).order_by("id"):
        found[coupon.redemption_id].append(coupon)
    return found
