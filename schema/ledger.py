"""Points: balances, ledger entries, movements, and the live balance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

import strawberry

from domain import records
from domain.ledger import reads
from domain.partners import Scope
from resolvers import ledger as resolve
from resolvers.context import Info
from schema.brands import Store
from schema.errors import UserError
from schema.permissions import (
    HasBrand,
    IsBrandAdmin,
    NotPartner,
    staff_only,
    staff_or_partner_with,
)
from schema.prechecks import PLANNED
from schema.relay import MemberRef, Node

LedgerEntryKind = records.LedgerKind
strawberry.enum(LedgerEntryKind, name="LedgerEntryKind")


@strawberry.type
class ExpiringPoints:
    points: int
    expires_at: datetime


@strawberry.type
class PointsBalance:
    available: int
    version: int = strawberry.field(
        description="The member's ledger version: the version of their latest entry (0 before any)."
    )
    lifetime_earned: int
    lifetime_redeemed: int
    pending: int = strawberry.field(
        description="Points earned but held for the brand's return window: not yet available, "
        "cancelled by a refund within it."
    )

    @strawberry.field(
        description="Points that expire within the given number of days, grouped by expiry "
        "date, soonest first.",
        metadata={PLANNED: True},
        graphql_type=list[ExpiringPoints],
    )
    async def expiring(
        self, info: Info, balance: strawberry.Parent[reads.BalanceView], within_days: int = 30
    ) -> list[reads.ExpiringPoints]:
        return await resolve.expiring(info, balance, within_days)


@strawberry.type(description="One rule's share of an EARN entry: why these points were given.")
class EarnComponent:
    rule: str
    description: str
    points: int


@strawberry.type
class LedgerEntry(Node):
    kind: LedgerEntryKind
    points: int = strawberry.field(
        description="Signed: positive adds to the balance, negative takes from it."
    )
    balance_after: int = strawberry.field(
        description="The member's balance after it (not for partners).",
        permission_classes=[NotPartner],
    )
    version: int = strawberry.field(
        description="Per member, 1, 2, 3, … without gaps, in commit order."
    )
    description: str = strawberry.field(
        description="For the member to read; never an order number (staff read orderRef)."
    )
    created_at: datetime
    expires_at: datetime | None
    pending: int = strawberry.field(
        description="What it changed of the member's pending points: held (positive), or "
        "released or cancelled (negative); `points` counts available points only."
    )
    pending_until: datetime | None = strawberry.field(
        description="For points it held: when they become available."
    )

    @strawberry.field(graphql_type=Store | None)
    async def store(
        self, info: Info, entry: strawberry.Parent[records.LedgerEntry]
    ) -> records.Store | None:
        return await resolve.store_of(info, entry)

    @strawberry.field(graphql_type=list[EarnComponent])
    def breakdown(
        self, entry: strawberry.Parent[records.LedgerEntry]
    ) -> list[resolve.EarnComponentView]:
        return resolve.breakdown_of(entry)

    actor: str | None = strawberry.field(
        description="Who made the movement (staff only).", extensions=staff_only()
    )
    reason: str | None = strawberry.field(
        description="Why, for adjustments (staff only).", extensions=staff_only()
    )
    order_ref: str | None = strawberry.field(
        description="The purchase's order number (staff only).", extensions=staff_only()
    )
    shortfall: int | None = strawberry.field(
        description="Points a reversal could not claw back, owed by the member (staff only).",
        extensions=staff_only(),
    )


@strawberry.input
class PurchaseLineInput:
    sku: str
    category: str
    quantity: int
    unit_price: Decimal


@strawberry.input
class RecordPurchaseInput:
    member_id: strawberry.ID
    store_code: str | None = None
    order_ref: str = strawberry.field(
        description="The order number in the selling system; with the brand it identifies the "
        "purchase."
    )
    total: Decimal
    lines: list[PurchaseLineInput] | None = None
    occurred_at: datetime | None = None
    idempotency_key: str


@strawberry.input
class ReversePurchaseInput:
    member_id: strawberry.ID
    order_ref: str
    amount: Decimal | None = strawberry.field(
        default=None, description="Refunded amount; omitted: the whole purchase."
    )
    idempotency_key: str


@strawberry.input
class AdjustPointsInput:
    member_id: strawberry.ID
    points: int
    reason: str
    idempotency_key: str


@strawberry.type
class RecordPurchasePayload:
    entry: LedgerEntry | None
    member: MemberRef | None
    user_errors: list[UserError]


@strawberry.type
class ReversePurchasePayload:
    entry: LedgerEntry | None
    member: MemberRef | None
    user_errors: list[UserError]


@strawberry.type
class AdjustPointsPayload:
    entry: LedgerEntry | None
    member: MemberRef | None
    user_errors: list[UserError]


@strawberry.type
class BalanceChange:
    member: MemberRef
    entry: LedgerEntry
    available: int
    version: int = strawberry.field(
        description="The entry's version: strictly increasing per member, with no gaps."
    )


@strawberry.type
class LedgerMutations:
    @strawberry.mutation(
        permission_classes=[staff_or_partner_with(Scope.POINTS_EARN)],
        description="A partner (points:earn) records purchases made with it; its orderRefs are "
        "its own.",
        graphql_type=RecordPurchasePayload,
    )
    async def record_purchase(
        self, info: Info, input: RecordPurchaseInput
    ) -> resolve.MovementPayloadView:
        return await resolve.record_purchase(info, input)

    @strawberry.mutation(
        permission_classes=[staff_or_partner_with(Scope.POINTS_EARN)],
        description="Staff reverse the brand's purchases; a partner (points:earn) its own.",
        graphql_type=ReversePurchasePayload,
    )
    async def reverse_purchase(
        self, info: Info, input: ReversePurchaseInput
    ) -> resolve.MovementPayloadView:
        return await resolve.reverse_purchase(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=AdjustPointsPayload)
    async def adjust_points(
        self, info: Info, input: AdjustPointsInput
    ) -> resolve.MovementPayloadView:
        return await resolve.adjust_points(info, input)


@strawberry.type
class LedgerSubscriptions:
    @strawberry.subscription(
        permission_classes=[HasBrand],
        description="A MEMBER gets their own changes (passing another member's id is FORBIDDEN); "
        "STAFF/ADMIN must pass memberId, for a member of their brand. Events arrive in version "
        "order without gaps. With sinceVersion, the entries after that version are replayed "
        "first, then live ones.",
        graphql_type=BalanceChange,
    )
    async def balance_changed(
        self, info: Info, member_id: strawberry.ID | None = None, since_version: int | None = None
    ) -> AsyncIterator[resolve.BalanceChangeView]:
        return await resolve.balance_changed(info, member_id, since_version)
