"""Resolvers for flash sales: admin, entries, reads and the live stock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from weakref import WeakKeyDictionary

import strawberry

from domain import records
from domain.errors import AccessDenied
from domain.flash_sales import entry, sales, stock
from domain.flash_sales.sales import SaleSpec
from domain.principal import Principal
from domain.runtime import Backends
from resolvers.catalog import RedeemedPayloadView
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import Context, Info, principal_of
from resolvers.ids import ByIdFields, decode_id
from resolvers.ledger import prime_balance
from resolvers.loaders import Loaders
from resolvers.payloads import PayloadView, reports_user_errors


class FlashSaleFields(Protocol):
    """createFlashSale's input (updateFlashSale's has an id besides)."""

    item_id: strawberry.ID
    points_price: int
    starts_at: datetime
    ends_at: datetime
    total_stock: int
    per_member_limit: int
    idempotency_key: str


class UpdateFlashSaleFields(FlashSaleFields, Protocol):
    id: strawberry.ID


class EnterFlashSaleFields(Protocol):
    flash_sale_id: strawberry.ID
    quantity: int
    idempotency_key: str
    verification_code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlashSalePayloadView(PayloadView):
    flash_sale: records.FlashSale | None


@dataclass(frozen=True, eq=False)
class FlashSaleStockView:
    flash_sale: records.FlashSale
    remaining_stock: int
    status: sales.FlashSaleStatus
    # One view per stock change, shared by a process's watchers of the sale: an event whose
    # document selects only fields the same for every caller is then executed once for all of
    # them (schema/execution.py).
    same_for_every_subscriber = True


# The view of each stock change, made by the first of its watchers (the others wait for it).
_views: WeakKeyDictionary[stock.StockState, asyncio.Future[FlashSaleStockView]] = (
    WeakKeyDictionary()
)


async def item_of(info: Info, sale: records.FlashSale) -> records.CatalogItem | None:
    return await info.context.loaders.item_by_id.load(sale.item_id)


async def remaining_of(info: Info, sale: records.FlashSale) -> int:
    return await info.context.loaders.remaining_by_sale.load(sale)


async def status_of(info: Info, sale: records.FlashSale) -> sales.FlashSaleStatus:
    loaders = info.context.loaders
    remaining = await loaders.remaining_by_sale.load(sale)
    early = await loaders.early_access_by_brand_id.load(sale.brand_id)
    return sales.status_of(sale, remaining, info.context.backends.clock.now(), early)


async def flash_sale_of(info: Info, redemption: records.Redemption) -> records.FlashSale | None:
    if redemption.flash_sale_id is None:
        return None
    return await info.context.loaders.sale_by_id.load(redemption.flash_sale_id)


async def flash_sales(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    status: sales.FlashSaleStatus | None,
) -> ConnectionView[records.FlashSale]:
    page = await sales.sales_page(
        info.context.backends, principal_of(info), page_request(first, after, last, before), status
    )
    return to_connection(page)


def sale_spec(input: FlashSaleFields) -> SaleSpec:
    return SaleSpec(
        item_id=decode_id(input.item_id, "CatalogItem", "itemId"),
        points_price=input.points_price,
        starts_at=input.starts_at,
        ends_at=input.ends_at,
        total_stock=input.total_stock,
        per_member_limit=input.per_member_limit,
    )


@reports_user_errors(FlashSalePayloadView)
async def create_flash_sale(info: Info, input: FlashSaleFields) -> FlashSalePayloadView:
    sale = await sales.create_sale(
        info.context.backends, principal_of(info), sale_spec(input), input.idempotency_key
    )
    return FlashSalePayloadView(flash_sale=sale)


@reports_user_errors(FlashSalePayloadView)
async def update_flash_sale(info: Info, input: UpdateFlashSaleFields) -> FlashSalePayloadView:
    sale_id = decode_id(input.id, "FlashSale", "id")
    sale = await sales.update_sale(
        info.context.backends, principal_of(info), sale_id, sale_spec(input),
        input.idempotency_key,
    )  # fmt: skip
    return FlashSalePayloadView(flash_sale=sale)


@reports_user_errors(FlashSalePayloadView)
async def cancel_flash_sale(info: Info, input: ByIdFields) -> FlashSalePayloadView:
    sale_id = decode_id(input.id, "FlashSale", "id")
    sale = await sales.cancel_sale(
        info.context.backends, principal_of(info), sale_id, input.idempotency_key
    )
    return FlashSalePayloadView(flash_sale=sale)


async def decide_entry(
    backends: Backends, principal: Principal, input: EnterFlashSaleFields
) -> entry.Verdict:
    """enterFlashSale's pre-check: the entry script's verdict, or the DomainError it refuses
    with, before execution (the resolver then goes on from the verdict)."""
    sale_id = decode_id(input.flash_sale_id, "FlashSale", "flashSaleId")
    return await entry.decide(backends, principal, sale_id, input.quantity, input.idempotency_key)


@reports_user_errors(RedeemedPayloadView)
async def enter_flash_sale(info: Info, input: EnterFlashSaleFields) -> RedeemedPayloadView:
    sale_id = decode_id(input.flash_sale_id, "FlashSale", "flashSaleId")
    redeemed = await entry.enter(
        info.context.backends,
        principal_of(info),
        sale_id,
        input.quantity,
        input.idempotency_key,
        decided=info.context.flash_verdict,
        verification_code=input.verification_code,
    )
    prime_balance(info, redeemed.member.id, redeemed.balance)
    return RedeemedPayloadView(redemption=redeemed.redemption, member=redeemed.member)


async def flash_sale_stock(info: Info, flash_sale_id: str) -> AsyncIterator[FlashSaleStockView]:
    """Check the sale first (a refusal is the subscription's error), then stream its stock."""
    context = info.context
    principal = principal_of(info)
    sale_id = decode_id(flash_sale_id, "FlashSale", "flashSaleId")
    sale = await sales.visible_sale(principal, sale_id)
    if sale is None:
        raise AccessDenied("No such flash sale in your brand.")
    early = await sales.longest_early_access(sale.brand_id)

    async def changes() -> AsyncIterator[FlashSaleStockView]:
        watched = stock.watch_stock(context.backends, sale, principal.still_valid)
        async for state in watched:
            context.loaders = Loaders(context.backends)  # every change reads fresh data
            view = _views.get(state)
            if view is None:
                view = _views[state] = asyncio.ensure_future(stock_view(context, state))
            yield view.result() if view.done() else await asyncio.shield(view)

    async def stock_view(context: Context, state: stock.StockState) -> FlashSaleStockView:
        current = sale
        if state.cancelled and current.cancelled_at is None:
            current = await sales.visible_sale(principal, sale_id) or current
        now = context.backends.clock.now()
        status = sales.status_of(current, state.remaining, now, early)
        return FlashSaleStockView(current, state.remaining, status)

    return changes()
