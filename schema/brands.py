"""Brands, stores and tiers: the public face of a brand."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from strawberry.types import Info

from resolvers import brands as resolve
from schema.errors import UserError
from schema.permissions import HasBrand, IsBrandAdmin
from schema.relay import Node


@strawberry.type
class TierBenefits:
    earn_multiplier: Decimal
    discount_percent: int
    birthday_bonus_points: int
    flash_sale_early_access_minutes: int


@strawberry.type
class Tier(Node):
    code: str
    name: str
    rank: int
    qualifying_points: int = strawberry.field(
        description="Points earned in the qualification window needed to reach this tier."
    )

    @strawberry.field
    def benefits(self) -> TierBenefits:
        return self  # type: ignore[return-value]  # the tier record carries its benefits


@strawberry.type
class Store(Node):
    code: str
    name: str

    @strawberry.field
    async def brand(self, info: Info) -> Brand:
        return await resolve.brand_of_store(info, self)


@strawberry.type
class Brand(Node):
    code: str
    name: str
    earn_cap_per_purchase: int | None = strawberry.field(
        description="At most this many points per purchase; null: no cap."
    )
    earn_cap_per_day: int | None = strawberry.field(
        description="At most this many points a member earns per day (purchases and tasks)."
    )
    purchase_max_age_days: int = strawberry.field(
        description="A purchase may be recorded up to this many days after it happened."
    )

    @strawberry.field
    async def stores(self) -> list[Store]:
        return await resolve.stores_of(self)

    @strawberry.field
    async def tiers(self) -> list[Tier]:
        return await resolve.tiers_of(self)


@strawberry.type
class BrandQueries:
    @strawberry.field(permission_classes=[HasBrand], description="The caller's brand.")
    async def brand(self, info: Info) -> Brand:
        return await resolve.brand(info)

    @strawberry.field(permission_classes=[HasBrand], description="The brand's tiers, by rank.")
    async def tiers(self, info: Info) -> list[Tier]:
        return await resolve.tiers(info)


@strawberry.input(description="A tier of the brand, created or changed by its code.")
class SaveTierInput:
    code: str
    name: str
    rank: int
    qualifying_points: int
    earn_multiplier: Decimal = Decimal("1")
    discount_percent: int = 0
    birthday_bonus_points: int = 0
    flash_sale_early_access_minutes: int = 0
    idempotency_key: str


@strawberry.type
class TierPayload:
    tier: Tier | None
    user_errors: list[UserError]


@strawberry.type
class BrandMutations:
    @strawberry.mutation(permission_classes=[IsBrandAdmin])
    async def save_tier(self, info: Info, input: SaveTierInput) -> TierPayload:
        return await resolve.save_tier(info, input)
