"""`node(id:)`: any global id, with the same visibility as its type's own queries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from domain import brands, members, risk
from domain.catalog import items, redemptions
from domain.flash_sales import sales
from domain.ledger import reads
from domain.notices import gateway, inbox
from domain.principal import Principal
from domain.rules import admin
from resolvers.context import Info, principal_of
from resolvers.ids import parse_id

# A finder's record: any of the node types' records.
NodeFinder = Callable[[Principal, str, int], Awaitable[object | None]]

# Each area's visibility rule for its node types; an unlisted type resolves to null.
NODE_FINDERS: dict[str, NodeFinder] = {
    **{type_name: brands.public_record for type_name in brands.PUBLIC_RECORDS},
    "Member": lambda principal, _type_name, pk: members.visible_member(principal, pk),
    "LedgerEntry": lambda principal, _type_name, pk: reads.visible_entry(principal, pk),
    "EarningRule": lambda principal, _type_name, pk: admin.visible_rule(principal, pk),
    "CatalogItem": lambda principal, _type_name, pk: items.visible_item(principal, pk),
    "Redemption": lambda principal, _type_name, pk: redemptions.visible_redemption(principal, pk),
    "FlashSale": lambda principal, _type_name, pk: sales.visible_sale(principal, pk),
    "Notice": lambda principal, _type_name, pk: inbox.visible_notice(principal, pk),
    "NoticeDelivery": lambda principal, _type_name, pk: gateway.visible_delivery(principal, pk),
    "RiskFlag": lambda principal, _type_name, pk: risk.visible_flag(principal, pk),
}


async def node(info: Info, global_id: str) -> object | None:
    parsed = parse_id(global_id)
    if parsed is None:
        return None
    type_name, pk = parsed
    finder = NODE_FINDERS.get(type_name)
    return await finder(principal_of(info), type_name, pk) if finder else None
