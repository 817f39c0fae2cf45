"""catalogItemChanged through the npm graphql-ws client against a live server: the item now,
then its stock as redemptions, a restock and a cancellation change it; an item of another
brand is refused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from domain.brands import create_brand
from tests.support.factories import key, unique_code
from tests.support.live import TIMEOUT, admin_of, api, bearer
from tests.support.node import PROJECT, ensure_node_clients

SUBSCRIBE = Path(__file__).with_name("subscribe.mjs")
CHANGED = """
subscription ($itemId: ID!) { catalogItemChanged(itemId: $itemId) { id stock available } }
"""
CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id } userErrors { code } }
}
"""
RESTOCK = """
mutation ($input: RestockCatalogItemInput!) {
  restockCatalogItem(input: $input) { item { stock } userErrors { code } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { id } userErrors { code } }
}
"""
CANCEL = """
mutation ($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) { redemption { status } userErrors { code } }
}
"""


async def subscribe(server, token: str, item_id: str, count: int) -> asyncio.subprocess.Process:
    await asyncio.to_thread(ensure_node_clients)
    process = await asyncio.create_subprocess_exec(
        "node", str(SUBSCRIBE), cwd=PROJECT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    request = {"url": server.ws_url, "connectionParams": bearer(token), "query": CHANGED,
               "variables": {"itemId": item_id}, "count": count}  # fmt: skip
    process.stdin.write(json.dumps(request).encode())
    process.stdin.close()
    return process


async def line_of(process: asyncio.subprocess.Process) -> dict:
    try:
        line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
    except TimeoutError:
        pytest.fail(f"the client printed nothing for {TIMEOUT} s")
    assert line, (await process.stderr.read()).decode()[-2000:]
    return json.loads(line)


async def test_a_member_watches_an_items_stock_change(live_server, brand, make_token):
    async with admin_of(live_server, brand, make_token) as staff, api(live_server) as gql:
        created = await staff.call(
            CREATE_ITEM,
            {"sku": f"LIVE-{key()[:8]}", "name": "Mug", "kind": "COUPON", "category": "home",
             "pointsPrice": 10, "stock": 3},
        )  # fmt: skip
        item_id = created["item"]["id"]
        member = await staff.register()
        await staff.purchase(member["id"], "100.00")
        token = make_token(brand, "MEMBER", member["id"])
        process = await subscribe(live_server, token, item_id, count=4)
        try:
            first = await line_of(process)
            assert first["next"]["data"]["catalogItemChanged"] == {
                "id": item_id, "stock": 3, "available": True,
            }  # fmt: skip
            redeemed = await gql(
                REDEEM, {"input": {"itemId": item_id, "idempotencyKey": key()}}, token=token
            )
            assert redeemed["data"]["redeem"]["userErrors"] == []
            assert (await line_of(process))["next"]["data"]["catalogItemChanged"]["stock"] == 2
            await staff.call(RESTOCK, {"id": item_id, "quantity": 5})
            assert (await line_of(process))["next"]["data"]["catalogItemChanged"]["stock"] == 7
            redemption_id = redeemed["data"]["redeem"]["redemption"]["id"]
            await staff.call(CANCEL, {"redemptionId": redemption_id, "reason": "test"})
            assert (await line_of(process))["next"]["data"]["catalogItemChanged"]["stock"] == 8
            assert await line_of(process) == {"done": True}
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()


async def test_an_item_of_another_brand_is_refused(live_server, brand, make_token):
    other_brand = await create_brand(unique_code(), "Other brand")
    async with admin_of(live_server, other_brand, make_token) as other:
        created = await other.call(
            CREATE_ITEM,
            {"sku": f"THEIRS-{key()[:6]}", "name": "Theirs", "kind": "COUPON",
             "category": "home", "pointsPrice": 10},
        )  # fmt: skip
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
    process = await subscribe(
        live_server, make_token(brand, "MEMBER", member["id"]), created["item"]["id"], count=1
    )
    message = await line_of(process)
    await process.wait()
    errors = message.get("error") or message["next"]["errors"]
    assert {error["extensions"]["code"] for error in errors} == {"FORBIDDEN"}
