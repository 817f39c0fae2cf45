"""The brand's insights for its finance team and marketers (ANALYST and ADMIN): liability and
breakage, earn and burn, redemptions, members and RFM segments; money at the brand's point
value, periods in brand-local days (both ends included)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from domain.insights.reports import SEGMENTS, GroupBy
from resolvers import insights as resolve
from schema.members import Member
from schema.permissions import ReadsInsights
from schema.relay import Connection

InsightGroupBy = strawberry.enum(GroupBy, name="InsightGroupBy")
RfmSegment = strawberry.enum(
    Enum("RfmSegment", {name: name for name in SEGMENTS}),  # type: ignore[misc]
    name="RfmSegment",
    description="The usual RFM segments, from recency, frequency and monetary scores (1 to 5, "
    "by quintile within the brand).",
)


@strawberry.type
class MonthPoints:
    month: date = strawberry.field(description="The month's first day.")
    points: int
    amount: Decimal


@strawberry.type
class Liability:
    as_of: date
    points: int = strawberry.field(description="Outstanding points: every member's available.")
    amount: Decimal
    pending: int | None = strawberry.field(
        description="Today only: points held for the brand's return window (owed once released)."
    )
    pending_amount: Decimal | None
    by_expiry_month: list[MonthPoints] | None = strawberry.field(
        description="Today only: the points, available and pending, by the month they expire."
    )


@strawberry.type
class Breakage:
    earned: int
    expired: int
    rate: float | None = strawberry.field(description="expired / earned; null if none earned.")
    earned_amount: Decimal
    expired_amount: Decimal


@strawberry.type
class EarnBurnRow:
    key: str = strawberry.field(
        description="The day, week (its Monday) or month (its first day) as an ISO date, or the "
        "store's, partner's, rule's or tier's code ('' for none)."
    )
    label: str
    earned: int
    redeemed: int = strawberry.field(description="Less what cancellations gave back.")
    expired: int
    adjusted: int
    reversed: int


@strawberry.type
class ItemRedemptions:
    sku: str
    name: str
    category: str
    units: int
    points: int
    cash: Decimal
    cancelled_units: int
    cancel_rate: float | None
    stock_left: int | None
    sell_through: float | None = strawberry.field(
        description="units / (units + stock left), for items of limited stock."
    )


@strawberry.type
class CategoryRedemptions:
    category: str
    units: int
    points: int
    cash: Decimal


@strawberry.type
class FlashSaleFigures:
    item_name: str
    starts_at: datetime
    total_stock: int
    sold: int
    sold_out_after_seconds: float | None
    attempts: int | None = strawberry.field(description="Entries the sale took.")
    attempts_per_unit: float | None


@strawberry.type
class RedemptionInsights:
    items: list[ItemRedemptions]
    categories: list[CategoryRedemptions]
    flash_sales: list[FlashSaleFigures]


@strawberry.type
class TierCount:
    tier_code: str
    tier_name: str
    members: int


@strawberry.type
class TierMovement:
    from_tier: str = strawberry.field(description="'' for a member's first tier.")
    to_tier: str
    members: int


@strawberry.type
class MemberInsights:
    active: int = strawberry.field(description="Members who earned or redeemed in the period.")
    new: int
    tiers: list[TierCount] = strawberry.field(description="Members per tier now.")
    movements: list[TierMovement]


@strawberry.type
class SegmentCount:
    segment: RfmSegment
    members: int
    spend: Decimal


@strawberry.type
class SegmentInsights:
    refreshed_at: datetime | None
    segments: list[SegmentCount]


@strawberry.type(description="A member's RFM scores, from their purchases.")
class MemberScore:
    last_purchase_at: datetime
    purchases: int
    spend: Decimal
    recency: int
    frequency: int
    monetary: int
    segment: RfmSegment

    @strawberry.field
    async def member(self, info: Info) -> Member:
        return await resolve.member_of_score(info, self)


From = Annotated[date, strawberry.argument(name="from", description="The first day.")]
To = Annotated[date, strawberry.argument(description="The last day, included.")]


@strawberry.type(
    description="The brand's figures; every period is brand-local days, both ends included."
)
class Insights:
    @strawberry.field
    async def currency(self, info: Info) -> str:
        return await resolve.currency(info, self)

    @strawberry.field(description="What one point is worth, in the currency.")
    async def point_value(self, info: Info) -> Decimal:
        return await resolve.point_value(info, self)

    @strawberry.field(
        description="When the ledger was last rolled up (every few seconds): earnBurn, breakage "
        "and a past liability count what was written before."
    )
    async def rolled_up_at(self, info: Info) -> datetime | None:
        return await resolve.rolled_up_at(info, self)

    @strawberry.field(description="Today's by default, with the months its points expire in.")
    async def liability(self, info: Info, as_of: date | None = None) -> Liability:
        return await resolve.liability(info, self, as_of)

    @strawberry.field(description="Points due to expire per month, this month first.")
    async def expiring_forecast(self, info: Info, months: int = 12) -> list[MonthPoints]:
        return await resolve.expiring_forecast(info, self, months)

    @strawberry.field(description="Points that expired in the period against those earned.")
    async def breakage(self, info: Info, from_: From, to: To) -> Breakage:
        return await resolve.breakage(info, self, from_, to)

    @strawberry.field(description="Points earned, redeemed, expired, adjusted and reversed.")
    async def earn_burn(
        self, info: Info, from_: From, to: To, group_by: InsightGroupBy = GroupBy.DAY
    ) -> list[EarnBurnRow]:
        return await resolve.earn_burn(info, self, from_, to, group_by)

    @strawberry.field(description="Per item and category; and the period's flash sales.")
    async def redemptions(self, info: Info, from_: From, to: To) -> RedemptionInsights:
        return await resolve.redemptions(info, self, from_, to)

    @strawberry.field
    async def members(self, info: Info, from_: From, to: To) -> MemberInsights:
        return await resolve.members(info, self, from_, to)

    @strawberry.field(description="Members per RFM segment, as of the last scoring (hourly).")
    async def segments(self, info: Info) -> SegmentInsights:
        return await resolve.segments(info, self)

    @strawberry.field(description="Members by what they spent, most first.")
    async def high_value_members(
        self,
        info: Info,
        segment: RfmSegment | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[MemberScore]:
        return await resolve.high_value_members(
            info, self, segment.value if segment else None, first, after, last, before
        )


@strawberry.type
class InsightQueries:
    @strawberry.field(permission_classes=[ReadsInsights])
    def insights(self, info: Info) -> Insights:
        return resolve.insights(info)  # type: ignore[return-value]
