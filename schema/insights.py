"""The brand's insights for its finance team and marketers (ANALYST and ADMIN): liability and
breakage, earn and burn, redemptions, members and RFM segments; money at the brand's point
value, periods in brand-local days (both ends included)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated

import strawberry

from domain import records
from domain.insights import reports
from resolvers import insights as resolve
from resolvers.connections import ConnectionView
from resolvers.context import Info
from schema.members import Member
from schema.permissions import ReadsInsights
from schema.relay import Connection

InsightGroupBy = reports.GroupBy
strawberry.enum(InsightGroupBy, name="InsightGroupBy")
# The segments domain/insights/reports.py scores members into; the fields of this type hold a
# segment's name, as the reports give it. (mypy reads an Enum's members from a literal only.)
RfmSegment: type[Enum] = Enum("RfmSegment", {name: name for name in reports.SEGMENTS})  # type: ignore[misc]
strawberry.enum(
    RfmSegment,
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
    segment: str = strawberry.field(graphql_type=RfmSegment)
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
    segment: str = strawberry.field(graphql_type=RfmSegment)

    @strawberry.field(graphql_type=Member)
    async def member(
        self, info: Info, score: strawberry.Parent[records.MemberSegment]
    ) -> records.Member | None:
        return await resolve.member_of_score(info, score)


From = Annotated[date, strawberry.argument(name="from", description="The first day.")]
To = Annotated[date, strawberry.argument(description="The last day, included.")]


@strawberry.type(
    description="The brand's figures; every period is brand-local days, both ends included."
)
class Insights:
    @strawberry.field
    async def currency(self, info: Info, insights: strawberry.Parent[resolve.InsightsView]) -> str:
        return await resolve.currency(info, insights)

    @strawberry.field(description="What one point is worth, in the currency.")
    async def point_value(
        self, info: Info, insights: strawberry.Parent[resolve.InsightsView]
    ) -> Decimal:
        return await resolve.point_value(info, insights)

    @strawberry.field(
        description="When the ledger was last rolled up (every few seconds): earnBurn, breakage "
        "and a past liability count what was written before."
    )
    async def rolled_up_at(self) -> datetime | None:
        return await resolve.rolled_up_at()

    @strawberry.field(
        description="Today's by default, with the months its points expire in.",
        graphql_type=Liability,
    )
    async def liability(
        self,
        info: Info,
        insights: strawberry.Parent[resolve.InsightsView],
        as_of: date | None = None,
    ) -> reports.Liability:
        return await resolve.liability(info, insights, as_of)

    @strawberry.field(
        description="Points due to expire per month, this month first.",
        graphql_type=list[MonthPoints],
    )
    async def expiring_forecast(
        self, info: Info, insights: strawberry.Parent[resolve.InsightsView], months: int = 12
    ) -> list[reports.MonthPoints]:
        return await resolve.expiring_forecast(info, insights, months)

    @strawberry.field(
        description="Points that expired in the period against those earned.", graphql_type=Breakage
    )
    async def breakage(
        self, info: Info, insights: strawberry.Parent[resolve.InsightsView], from_: From, to: To
    ) -> reports.Breakage:
        return await resolve.breakage(info, insights, from_, to)

    @strawberry.field(
        description="Points earned, redeemed, expired, adjusted and reversed.",
        graphql_type=list[EarnBurnRow],
    )
    async def earn_burn(
        self,
        info: Info,
        insights: strawberry.Parent[resolve.InsightsView],
        from_: From,
        to: To,
        group_by: InsightGroupBy = InsightGroupBy.DAY,
    ) -> list[reports.EarnBurn]:
        return await resolve.earn_burn(info, insights, from_, to, group_by)

    @strawberry.field(
        description="Per item and category; and the period's flash sales.",
        graphql_type=RedemptionInsights,
    )
    async def redemptions(
        self, info: Info, insights: strawberry.Parent[resolve.InsightsView], from_: From, to: To
    ) -> reports.Redemptions:
        return await resolve.redemptions(info, insights, from_, to)

    @strawberry.field(graphql_type=MemberInsights)
    async def members(
        self, info: Info, insights: strawberry.Parent[resolve.InsightsView], from_: From, to: To
    ) -> reports.MemberFigures:
        return await resolve.members(info, insights, from_, to)

    @strawberry.field(
        description="Members per RFM segment, as of the last scoring (hourly).",
        graphql_type=SegmentInsights,
    )
    async def segments(
        self, info: Info, insights: strawberry.Parent[resolve.InsightsView]
    ) -> reports.Segments:
        return await resolve.segments(info, insights)

    @strawberry.field(
        description="Members by what they spent, most first.", graphql_type=Connection[MemberScore]
    )
    async def high_value_members(
        self,
        info: Info,
        insights: strawberry.Parent[resolve.InsightsView],
        segment: Annotated[Enum | None, strawberry.argument(graphql_type=RfmSegment | None)] = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ConnectionView[records.MemberSegment]:
        return await resolve.high_value_members(
            info, insights, segment.value if segment else None, first, after, last, before
        )


@strawberry.type
class InsightQueries:
    @strawberry.field(permission_classes=[ReadsInsights], graphql_type=Insights)
    def insights(self, info: Info) -> resolve.InsightsView:
        return resolve.insights(info)
