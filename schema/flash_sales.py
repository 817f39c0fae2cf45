"""Flash sales: scheduled by admins, entered by members, their stock watched live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import strawberry

from domain import records
from domain.flash_sales import sales
from resolvers import flash_sales as resolve
from resolvers.catalog import RedeemedPayloadView
from resolvers.connections import ConnectionView
from resolvers.context import Info
from schema.catalog import CatalogItem, Redemption
from schema.errors import UserError
from schema.execution import SAME_FOR_EVERY_CALLER, SAME_FOR_EVERY_SUBSCRIBER
from schema.permissions import HasBrand, IsBrandAdmin, IsMember
from schema.prechecks import PRECHECK, Precheck
from schema.relay import Connection, MemberRef, Node

FlashSaleStatus = sales.FlashSaleStatus
strawberry.enum(
    FlashSaleStatus,
    name="FlashSaleStatus",
    description="SCHEDULED, then EARLY_ACCESS (open to tiers with early access), LIVE, SOLD_OUT "
    "(no unit left now; a cancelled redemption may bring one back), ENDED; or CANCELLED.",
)


@strawberry.type
class FlashSale(Node):
    points_price: int
    starts_at: datetime
    ends_at: datetime
    total_stock: int
    per_member_limit: int

    @strawberry.field(metadata=SAME_FOR_EVERY_CALLER, graphql_type=CatalogItem)
    async def item(
        self, info: Info, sale: strawberry.Parent[records.FlashSale]
    ) -> records.CatalogItem | None:
        return await resolve.item_of(info, sale)

    @strawberry.field(description="Units left to enter for (units held by entries in flight "
                      "are not left).", metadata=SAME_FOR_EVERY_CALLER)  # fmt: skip
    async def remaining_stock(self, info: Info, sale: strawberry.Parent[records.FlashSale]) -> int:
        return await resolve.remaining_of(info, sale)

    @strawberry.field(metadata=SAME_FOR_EVERY_CALLER)
    async def status(
        self, info: Info, sale: strawberry.Parent[records.FlashSale]
    ) -> FlashSaleStatus:
        return await resolve.status_of(info, sale)


@strawberry.type
class FlashSaleStock:
    flash_sale: FlashSale
    remaining_stock: int
    status: FlashSaleStatus


@strawberry.input
class CreateFlashSaleInput:
    item_id: strawberry.ID
    points_price: int
    starts_at: datetime
    ends_at: datetime
    total_stock: int
    per_member_limit: int = 1
    idempotency_key: str


@strawberry.input(description="A scheduled sale's new settings, replacing all of them.")
class UpdateFlashSaleInput(CreateFlashSaleInput):
    id: strawberry.ID


@strawberry.input
class CancelFlashSaleInput:
    id: strawberry.ID
    idempotency_key: str


@strawberry.type
class FlashSalePayload:
    flash_sale: FlashSale | None
    user_errors: list[UserError]


@strawberry.input
class EnterFlashSaleInput:
    flash_sale_id: strawberry.ID
    quantity: int = 1
    idempotency_key: str
    verification_code: str | None = strawberry.field(
        default=None,
        description="The one-time code of requestVerification, when an entry answered "
        "VERIFICATION_REQUIRED (the brand's step-up); the same idempotencyKey may be sent again.",
    )


@strawberry.type
class EnterFlashSalePayload:
    redemption: Redemption | None
    member: MemberRef | None
    user_errors: list[UserError]


@strawberry.type
class FlashSaleQueries:
    @strawberry.field(
        permission_classes=[HasBrand],
        description="The brand's sales, by start.",
        graphql_type=Connection[FlashSale],
    )
    async def flash_sales(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        status: FlashSaleStatus | None = None,
    ) -> ConnectionView[records.FlashSale]:
        return await resolve.flash_sales(info, first, after, last, before, status)


@strawberry.type
class FlashSaleMutations:
    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=FlashSalePayload)
    async def create_flash_sale(
        self, info: Info, input: CreateFlashSaleInput
    ) -> resolve.FlashSalePayloadView:
        return await resolve.create_flash_sale(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=FlashSalePayload)
    async def update_flash_sale(
        self, info: Info, input: UpdateFlashSaleInput
    ) -> resolve.FlashSalePayloadView:
        return await resolve.update_flash_sale(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=FlashSalePayload)
    async def cancel_flash_sale(
        self, info: Info, input: CancelFlashSaleInput
    ) -> resolve.FlashSalePayloadView:
        return await resolve.cancel_flash_sale(info, input)

    # The entry script may refuse an attempt before execution (schema/prechecks.py): at a
    # sale's start, nearly every attempt is refused, and the script costs less than execution.
    @strawberry.mutation(
        permission_classes=[IsMember],
        metadata={
            PRECHECK: Precheck(
                resolve.decide_entry, assumes=(IsMember,), refusal=RedeemedPayloadView.refused
            )
        },
        graphql_type=EnterFlashSalePayload,
    )
    async def enter_flash_sale(self, info: Info, input: EnterFlashSaleInput) -> RedeemedPayloadView:
        return await resolve.enter_flash_sale(info, input)


@strawberry.type
class FlashSaleSubscriptions:
    @strawberry.subscription(
        permission_classes=[HasBrand],
        description="The sale's remaining stock and status now, then as they change (at most "
        "about ten updates a second).",
        metadata=SAME_FOR_EVERY_SUBSCRIBER,
        graphql_type=FlashSaleStock,
    )
    async def flash_sale_stock(
        self, info: Info, flash_sale_id: strawberry.ID
    ) -> AsyncIterator[resolve.FlashSaleStockView]:
        return await resolve.flash_sale_stock(info, flash_sale_id)
