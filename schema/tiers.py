"""Tier progress and tier changes live."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from resolvers import tiers as resolve
from schema.brands import Tier
from schema.permissions import HasBrand

if TYPE_CHECKING:
    from schema.members import Member

MemberRef = Annotated["Member", strawberry.lazy("schema.members")]


@strawberry.type
class TierProgress:
    current: Tier
    next: Tier | None
    qualifying_points: int
    points_to_next: int | None


@strawberry.type
class TierChange:
    member: MemberRef
    previous: Tier | None
    current: Tier
    changed_at: datetime


@strawberry.type
class TierSubscriptions:
    @strawberry.subscription(
        permission_classes=[HasBrand], description="Same access rules as balanceChanged."
    )
    async def tier_changed(
        self, info: Info, member_id: strawberry.ID | None = None
    ) -> AsyncGenerator[TierChange, None]:
        return await resolve.tier_changed(info, member_id)
