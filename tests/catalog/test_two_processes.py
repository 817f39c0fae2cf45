"""Two processes, each with its copy of the brand's catalog (domain/catalog/cache.py): what one
changes, the other's pages show: an admin's change of prices, stock or tiers at once, stock
taken by a redemption within a second."""

from __future__ import annotations

import asyncio
import time

from domain.tiers import TierSpec, ensure_tier
from resolvers.ids import encode_id
from tests.support.catalog import create_catalog_item, redeem_item
from tests.support.factories import Staff
from tests.support.live import api

PAGE = """
query {
  catalog(first: 100) {
    edges { node { sku pointsPrice memberPrice available minTier { name } } }
  }
}
"""
UPDATE = """
mutation ($input: UpdateCatalogItemInput!) {
  updateCatalogItem(input: $input) { item { id } userErrors { code } }
}
"""
RESTOCK = """
mutation ($input: RestockCatalogItemInput!) {
  restockCatalogItem(input: $input) { item { id } userErrors { code } }
}
"""
SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) { tier { id } userErrors { code } }
}
"""


async def test_what_one_process_changes_the_others_pages_show(
    gql, live_server, brand, staff, make_token, member_with_points
):
    """`gql` talks to the app in this process, `there` to a uvicorn process of its own."""
    gold = await ensure_tier(
        brand, TierSpec("GOLD", "Gold", rank=1, qualifying_points=100, discount_percent=10)
    )
    item = await create_catalog_item(
        staff, sku="MUG", pointsPrice=100, stock=1, minTierId=encode_id("Tier", gold.id)
    )
    _, token = await member_with_points(500)  # Gold: 500 qualifying points
    admin = make_token(brand, "ADMIN", "admin-1")

    async with api(live_server) as there:

        async def mug(caller: str) -> dict:
            body = await there(PAGE, token=caller)
            assert "errors" not in body, body
            (node,) = [edge["node"] for edge in body["data"]["catalog"]["edges"]]
            return node

        assert await mug(token) == {
            "sku": "MUG", "pointsPrice": 100, "memberPrice": 90, "available": True,
            "minTier": {"name": "Gold"},
        }  # fmt: skip

        # A price changed here: there at once.
        changed = {"id": item["id"], "sku": "MUG", "name": "Mug", "kind": "COUPON",
                   "category": "general", "pointsPrice": 200, "stock": 1,
                   "minTierId": encode_id("Tier", gold.id)}  # fmt: skip
        assert (await staff.call(UPDATE, changed))["userErrors"] == []
        assert (await mug(token))["pointsPrice"] == 200

        # A tier changed here: there at once, to members.
        renamed = {"code": "GOLD", "name": "Aurum", "rank": 1, "qualifyingPoints": 100,
                   "discountPercent": 20}  # fmt: skip
        assert (await staff.call(SAVE_TIER, renamed))["userErrors"] == []
        seen = await mug(token)
        assert (seen["memberPrice"], seen["minTier"]) == (160, {"name": "Aurum"})

        # The last unit redeemed here: there within a second.
        assert (await redeem_item(gql, token, item["id"]))["userErrors"] == []
        redeemed_at = time.monotonic()
        while (await mug(token))["available"]:
            assert time.monotonic() - redeemed_at < 1.0, "still available there a second later"
            await asyncio.sleep(0.02)

        # Restocked there: here at once.
        async def available_here() -> bool:
            body = await gql(PAGE, token=token)
            return body["data"]["catalog"]["edges"][0]["node"]["available"]

        while await available_here():  # until this process's copy knows it is sold out
            assert time.monotonic() - redeemed_at < 1.0, "still available here a second later"
            await asyncio.sleep(0.02)
        restocked = await Staff(there, admin).call(RESTOCK, {"id": item["id"], "quantity": 3})
        assert restocked["userErrors"] == []
        assert await available_here() is True
