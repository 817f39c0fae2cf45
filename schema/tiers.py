"""Tier progress and tier changes live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import strawberry

from domain import tiers
from resolvers import tiers as resolve
from resolvers.context import Info
from schema.brands import Tier, TierMetric
from schema.permissions import HasBrand
from schema.relay import MemberRef


@strawberry.type(description="Where the member stands, in the brand's tier metric.")
class TierProgress:
    current: Tier
    next: Tier | None
    metric: TierMetric
    qualifying: int = strawberry.field(
        description="In the metric, over the brand's window: points, whole currency units spent, "
        "or purchases."
    )
    to_next: int | None = strawberry.field(description="What the next tier needs more of.")

    @strawberry.field(deprecation_reason="Use qualifying: it speaks the brand's tier metric.")
    def qualifying_points(self, progress: strawberry.Parent[tiers.TierProgress]) -> int:
        return resolve.qualifying_of(progress)

    @strawberry.field(deprecation_reason="Use toNext: it speaks the brand's tier metric.")
    def points_to_next(self, progress: strawberry.Parent[tiers.TierProgress]) -> int | None:
        return resolve.to_next_of(progress)


@strawberry.type
class TierChange:
    member: MemberRef
    previous: Tier | None
    current: Tier
    changed_at: datetime


@strawberry.type
class TierSubscriptions:
    @strawberry.subscription(
        permission_classes=[HasBrand],
        description="Same access rules as balanceChanged.",
        graphql_type=TierChange,
    )
    async def tier_changed(
        self, info: Info, member_id: strawberry.ID | None = None
    ) -> AsyncIterator[resolve.TierChangeView]:
        return await resolve.tier_changed(info, member_id)
