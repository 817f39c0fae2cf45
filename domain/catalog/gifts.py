"""Gift with redemption: an item may come with gift items, each unit with its gifts.

An item's `gifts` name other items of the brand, with how many of each come with one unit. A
redemption takes the gifts' stock with its own, in the same transaction (each with its own
stock, never below zero: both or neither), records what it took (`Redemption.gifts`), issues
the gifts' coupons with its own, and a cancel gives the gifts' stock back with its own. A
flash sale sells the item alone.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import CatalogItem, GiftJson, ItemKind, ItemStatus, Redemption
from domain.catalog.coupons import issue_coupons
from domain.errors import DomainError, ErrorCode

MAX_GIFTS = 5
MAX_GIFT_QUANTITY = 10
# A gift is the brand's own: not a partner's offer, and not a tier.
GIFT_KINDS = (ItemKind.PHYSICAL, ItemKind.COUPON, ItemKind.CASH_VOUCHER)


async def check_gifts(
    brand_id: int, item_id: int | None, gifts: list[tuple[int, int]]
) -> list[GiftJson]:
    """An item's gifts as stored, [{"item_id", "quantity"}], or a user error naming `gifts`."""
    field = ["input", "gifts"]
    if len(gifts) > MAX_GIFTS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_GIFTS} gifts.", field)
    if len({gift_id for gift_id, _ in gifts}) != len(gifts):
        raise DomainError(ErrorCode.INVALID_INPUT, "Each gift once.", field)
    for gift_id, quantity in gifts:
        if gift_id == item_id:
            raise DomainError(ErrorCode.INVALID_INPUT, "An item is not its own gift.", field)
        if not 1 <= quantity <= MAX_GIFT_QUANTITY:
            message = f"A gift's quantity: 1 to {MAX_GIFT_QUANTITY} per unit."
            raise DomainError(ErrorCode.INVALID_INPUT, message, field)
    found = {
        item.id: item
        for item in await CatalogItem.filter(
            brand_id=brand_id, id__in=[gift_id for gift_id, _ in gifts]
        )
    }
    for gift_id, _ in gifts:
        gift = found.get(gift_id)
        if gift is None or gift.status is ItemStatus.ARCHIVED:
            raise DomainError(ErrorCode.NOT_FOUND, "No such gift item.", field)
        if gift.kind not in GIFT_KINDS or gift.cash_price or gift.gifts:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "A gift is a physical item, coupon or voucher of the brand's, points-only, "
                "with no gifts of its own.",
                field,
            )
    return [GiftJson(item_id=gift_id, quantity=quantity) for gift_id, quantity in gifts]


def gifts_taken(item: CatalogItem, quantity: int) -> list[GiftJson]:
    """What `quantity` units of the item take of each gift."""
    return [
        GiftJson(item_id=gift["item_id"], quantity=gift["quantity"] * quantity)
        for gift in item.gifts
    ]


async def gift_items(
    connection: BaseDBAsyncClient, taken: list[GiftJson]
) -> dict[int, CatalogItem]:
    if not taken:
        return {}
    ids = [gift["item_id"] for gift in taken]
    return {item.id: item for item in await CatalogItem.filter(id__in=ids).using_db(connection)}


async def issue_all_coupons(
    connection: BaseDBAsyncClient,
    item: CatalogItem,
    redemption: Redemption,
    now: datetime,
    gifts: dict[int, CatalogItem] | None = None,
) -> None:
    """The coupons of a confirmed redemption: the item's, then each gift's (`gifts`: the gift
    items, when the caller read them already)."""
    await issue_coupons(connection, item, redemption, now)
    if gifts is None:
        gifts = await gift_items(connection, redemption.gifts)
    for gift in redemption.gifts:
        await issue_coupons(connection, gifts[gift["item_id"]], redemption, now, gift["quantity"])
