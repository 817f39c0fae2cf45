"""Recommendations: items the member can redeem now, ranked by what they buy and redeem.

Candidates are what the member could redeem this minute (active, in window, in stock, their
tier, affordable at their price, their per-member limit not reached). They rank by the member's
spend in the item's category over their recent purchases, then by the times they redeemed from
that category, then by popularity (units redeemed by everyone), then oldest first: the same data
always gives the same list. A member with no history gets the popular items.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from tortoise.expressions import Q

from db.models import CatalogItem, ItemStatus, Member, Purchase, Redemption, RedemptionStatus, Tier
from domain.catalog.items import highest_affordable_list_price
from domain.ledger.reads import balances

RECENT_PURCHASES = 100
MAX_RECOMMENDATIONS = 50


@dataclass(frozen=True, slots=True)
class Recommendation:
    item: CatalogItem
    reason: str


async def recommend(member: Member, now: datetime, first: int) -> list[Recommendation]:
    """Up to `first` items the member can redeem now, best first, each with its reason."""
    first = max(0, min(first, MAX_RECOMMENDATIONS))
    if first == 0:
        return []
    tier = await Tier.get(id=member.tier_id)
    available = (await balances([member.id], now))[member.id].available
    items = CatalogItem.filter(
        Q(available_from=None) | Q(available_from__lte=now),
        Q(available_until=None) | Q(available_until__gt=now),
        Q(stock=None) | Q(stock__gt=0),
        Q(min_tier_id=None) | Q(min_tier__rank__lte=tier.rank),
        brand_id=member.brand_id,
        status=ItemStatus.ACTIVE,
    )
    highest = highest_affordable_list_price(available, tier.discount_percent)
    if highest is not None:
        items = items.filter(points_price__lte=highest)
    candidates = await items
    # Each values_list below gives the columns it names, in order (Tortoise types its rows
    # loosely).
    redeemed = await (
        Redemption.filter(member_id=member.id)
        .exclude(status=RedemptionStatus.CANCELLED)
        .values_list("item_id", "quantity")
    )
    units_redeemed: Counter[int] = Counter()
    for item_id, quantity in cast(list[tuple[int, int]], redeemed):
        units_redeemed[item_id] += quantity
    candidates = [
        item
        for item in candidates
        if item.per_member_limit is None or units_redeemed[item.id] < item.per_member_limit
    ]
    bought: defaultdict[str, Decimal] = defaultdict(Decimal)
    recent = await (
        Purchase.filter(member_id=member.id)
        .order_by("-id")
        .limit(RECENT_PURCHASES)
        .values_list("categories", flat=True)
    )
    for categories in cast(list[dict[str, str]], recent):
        for category, spent in categories.items():
            bought[category] += Decimal(spent)
    redeemed_items = await CatalogItem.filter(id__in=list(units_redeemed)).values_list(
        "id", "category"
    )
    redeemed_from: Counter[str] = Counter()
    for item_id, category in cast(list[tuple[int, str]], redeemed_items):
        redeemed_from[category.casefold()] += units_redeemed[item_id]

    def rank(item: CatalogItem) -> tuple[Decimal, int, int, int]:
        category = item.category.casefold()
        return (-bought[category], -redeemed_from[category], -item.redeemed_count, item.id)

    return [
        Recommendation(item, _reason(item, bought, redeemed_from))
        for item in sorted(candidates, key=rank)[:first]
    ]


def _reason(
    item: CatalogItem, bought: defaultdict[str, Decimal], redeemed_from: Counter[str]
) -> str:
    category = item.category.casefold()
    if bought[category]:
        return f"You often buy {item.category}"
    if redeemed_from[category]:
        return f"You have redeemed {item.category} before"
    if item.redeemed_count:
        return "Popular with members"
    return "New in the catalog"
