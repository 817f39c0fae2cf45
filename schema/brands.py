"""Brands, stores and tiers: the public face of a brand."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain import brands, records
from resolvers import brands as resolve
from resolvers.context import Info
from schema.errors import UserError
from schema.permissions import HasBrand, IsBrandAdmin
from schema.prechecks import PLANNED, PRECHECK, Precheck
from schema.relay import Node

ExpiryPolicy = brands.ExpiryPolicy
strawberry.enum(
    ExpiryPolicy,
    name="ExpiryPolicy",
    description="ROLLING: points last expiryMonths after they are earned (through that day); "
    "FIXED_DATE: points earned in a year last through the clearing date of the next.",
)
TierMetric = records.TierMetric
strawberry.enum(
    TierMetric,
    name="TierMetric",
    description="What tiers qualify on over the brand's window (a tier's qualifyingPoints is "
    "its threshold in it): POINTS earned by purchases less what refunds took back; SPEND, "
    "money spent less refunds, in whole currency units; PURCHASES not refunded in full.",
)


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

    @strawberry.field(graphql_type=TierBenefits)
    def benefits(self, tier: strawberry.Parent[records.Tier]) -> records.Tier:
        return tier  # the tier record carries its benefits


@strawberry.type
class Store(Node):
    code: str
    name: str
    archived_at: datetime | None = strawberry.field(
        description="Archived: it takes no purchases made since; its history stays."
    )

    @strawberry.field(graphql_type="Brand")
    async def brand(
        self, info: Info, store: strawberry.Parent[records.Store]
    ) -> records.Brand | None:
        return await resolve.brand_of_store(info, store)


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

    @strawberry.field(metadata={PLANNED: True}, graphql_type=list[Store])
    async def stores(
        self, brand: strawberry.Parent[records.Brand], include_archived: bool = False
    ) -> list[records.Store]:
        return await resolve.stores_of(brand, include_archived)

    @strawberry.field(graphql_type=list[Tier])
    async def tiers(self, brand: strawberry.Parent[records.Brand]) -> list[records.Tier]:
        return await resolve.tiers_of(brand)

    @strawberry.field(
        permission_classes=[IsBrandAdmin],
        description="ADMIN: what it sets.",
        graphql_type="BrandSettings",
    )
    def settings(self, brand: strawberry.Parent[records.Brand]) -> brands.BrandSettings:
        return resolve.settings_of(brand)


@strawberry.type(description="What the brand's admin sets of it (updateBrandSettings).")
class BrandSettings:
    name: str
    timezone: str = strawberry.field(description="IANA: the brand's days, months and hours.")
    locale: str = strawberry.field(description="What a member's missing locale falls back to.")
    currency: str = strawberry.field(description="ISO 4217.")
    point_value: Decimal = strawberry.field(description="What one point is worth, in currency.")
    expiry_policy: ExpiryPolicy
    expiry_months: int = strawberry.field(description="ROLLING: how long points last.")
    clearing_month: int = strawberry.field(description="FIXED_DATE: the clearing date's month.")
    clearing_day: int = strawberry.field(
        description="FIXED_DATE: its day (29 February: the 28th in other years)."
    )
    grace_days: int = strawberry.field(
        description="Points given back (a cancelled redemption) after their lot expired last "
        "this many days more."
    )
    tier_window_months: int = strawberry.field(
        description="Tiers qualify on the points earned in this many months up to now."
    )
    earn_cap_per_purchase: int | None
    earn_cap_per_day: int | None
    purchase_max_age_days: int
    payment_window_minutes: int = strawberry.field(
        description="Points + cash redemptions not paid within it are cancelled."
    )
    cancel_window_hours: int = strawberry.field(
        description="A member may cancel their redemption within it (0: never)."
    )
    quiet_hours_start: str = strawberry.field(description="HH:MM in the brand's timezone.")
    quiet_hours_end: str
    expiry_reminder_days: list[int]
    birthday_min_age_days: int = strawberry.field(
        description="No birthday bonus for a birthday given fewer than this many days ago."
    )
    pending_days: int = strawberry.field(
        description="A purchase's points are pending this many days (its return window) "
        "before they can be spent; 0: available at once. Applies to purchases from then on."
    )
    tier_metric: TierMetric


@strawberry.type
class BrandQueries:
    @strawberry.field(
        permission_classes=[HasBrand],
        description="The caller's brand.",
        # A document of this field alone is answered without execution (schema/prechecks.py).
        metadata={
            PRECHECK: Precheck(
                resolve.answer_brand, assumes=(HasBrand,), answers=True, selected=True
            )
        },
        graphql_type=Brand,
    )
    async def brand(self, info: Info) -> records.Brand:
        return await resolve.brand(info)

    @strawberry.field(
        permission_classes=[HasBrand],
        description="The brand's tiers, by rank.",
        graphql_type=list[Tier],
    )
    async def tiers(self, info: Info) -> list[records.Tier]:
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


@strawberry.input(
    description="Only the fields given change. Null clears a cap (earnCapPerPurchase, "
    "earnCapPerDay: no cap); the other fields may not be null. A new expiry policy applies to "
    "points earned from then on."
)
class UpdateBrandSettingsInput:
    name: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    locale: str | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    point_value: Decimal | None = strawberry.UNSET
    expiry_policy: ExpiryPolicy | None = strawberry.UNSET
    expiry_months: int | None = strawberry.UNSET
    clearing_month: int | None = strawberry.UNSET
    clearing_day: int | None = strawberry.UNSET
    grace_days: int | None = strawberry.UNSET
    tier_window_months: int | None = strawberry.UNSET
    earn_cap_per_purchase: int | None = strawberry.UNSET
    earn_cap_per_day: int | None = strawberry.UNSET
    purchase_max_age_days: int | None = strawberry.UNSET
    payment_window_minutes: int | None = strawberry.UNSET
    cancel_window_hours: int | None = strawberry.UNSET
    quiet_hours_start: str | None = strawberry.UNSET
    quiet_hours_end: str | None = strawberry.UNSET
    expiry_reminder_days: list[int] | None = strawberry.UNSET
    birthday_min_age_days: int | None = strawberry.UNSET
    pending_days: int | None = strawberry.UNSET
    tier_metric: TierMetric | None = strawberry.UNSET
    idempotency_key: str


@strawberry.type
class BrandSettingsPayload:
    settings: BrandSettings | None
    user_errors: list[UserError]


@strawberry.input(description="A new store of the brand: it takes purchases at once.")
class CreateStoreInput:
    code: str = strawberry.field(
        description="1 to 32 of A-Z, 0-9, _ and -; the brand's for good (an archived store's "
        "is not given again)."
    )
    name: str
    idempotency_key: str


@strawberry.input(description="A store's new name; its code stays (purchases and rules name it).")
class UpdateStoreInput:
    id: strawberry.ID
    name: str
    idempotency_key: str


@strawberry.input
class ArchiveStoreInput:
    id: strawberry.ID
    idempotency_key: str


@strawberry.type
class StorePayload:
    store: Store | None
    user_errors: list[UserError]


@strawberry.type
class BrandMutations:
    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=TierPayload)
    async def save_tier(self, info: Info, input: SaveTierInput) -> resolve.TierPayloadView:
        return await resolve.save_tier(info, input)

    @strawberry.mutation(
        permission_classes=[IsBrandAdmin], description="ADMIN.", graphql_type=BrandSettingsPayload
    )
    async def update_brand_settings(
        self, info: Info, input: UpdateBrandSettingsInput
    ) -> resolve.BrandSettingsPayloadView:
        return await resolve.update_brand_settings(info, input)

    @strawberry.mutation(
        permission_classes=[IsBrandAdmin], description="ADMIN.", graphql_type=StorePayload
    )
    async def create_store(self, info: Info, input: CreateStoreInput) -> resolve.StorePayloadView:
        return await resolve.create_store(info, input)

    @strawberry.mutation(
        permission_classes=[IsBrandAdmin], description="ADMIN.", graphql_type=StorePayload
    )
    async def update_store(self, info: Info, input: UpdateStoreInput) -> resolve.StorePayloadView:
        return await resolve.update_store(info, input)

    @strawberry.mutation(
        permission_classes=[IsBrandAdmin],
        description="ADMIN: the store takes no purchases made from now on and leaves "
        "`brand { stores }` (includeArchived: true lists it); its history stays.",
        graphql_type=StorePayload,
    )
    async def archive_store(self, info: Info, input: ArchiveStoreInput) -> resolve.StorePayloadView:
        return await resolve.archive_store(info, input)
