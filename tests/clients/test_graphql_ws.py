"""Live updates through the npm graphql-ws client, as GraphiQL, Apollo and urql receive them.

A Node process subscribes (tests/clients/subscribe.mjs) and prints each result as it comes;
this side makes the changes over HTTP and reads what the client printed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from db.keys import RedisKeys
from domain.tiers import TierSpec, ensure_tier, tier_channel
from tests.support.catalog import create_catalog_item
from tests.support.clients import BALANCE_CHANGED, NodeClient, entries_in, entry_of, node_client
from tests.support.factories import Staff
from tests.support.flash_sales import CANCEL_SALE, CREATE_SALE, UPDATE_SALE, sale_input
from tests.support.ledger import pk
from tests.support.live import admin_of

POLL = 0.05


TIER_CHANGED = """
subscription { tierChanged { member { id } previous { code } current { code } } }
"""

STOCK = """
subscription ($id: ID!) {
  flashSaleStock(flashSaleId: $id) { flashSale { id } remainingStock status }
}
"""


async def until_subscribed(redis: Redis, channel: str, client: NodeClient) -> None:
    """Wait until the server listens on `channel` in Redis: from then on, events reach the
    client. (For subscriptions that start 'from now on', at a moment the client cannot see.)"""
    while not (await redis.pubsub_numsub(channel))[0][1]:
        if client.process.returncode is not None:
            pytest.fail(f"the client ended before it subscribed: {await client.line()}")
        await asyncio.sleep(POLL)


async def test_balance_changed_follows_live_and_resumes_after_a_reconnect(
    live_server, brand, make_token
):
    """As an app does: load the balance, subscribe from its version; when the connection
    drops, subscribe again from the last version seen: what was missed comes first, then live
    changes again, each entry once and in order."""
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        token = make_token(brand, "MEMBER", subject=member["id"])
        await staff.adjust(member["id"], 10)
        loaded = (await staff.balance(member["id"]))["version"]

        async with node_client(
            live_server, token, BALANCE_CHANGED, {"sinceVersion": loaded}, count=2
        ) as client:
            made = [
                entry_of(await staff.adjust(member["id"], 5)),
                entry_of(await staff.purchase(member["id"], "20.00")),
            ]
            seen = entries_in(await client.results(2))
            await client.ended()
        assert seen == made

        missed = [
            entry_of(await staff.adjust(member["id"], -3)),
            entry_of(await staff.adjust(member["id"], 1)),
        ]
        since = {"sinceVersion": seen[-1]["version"]}
        async with node_client(live_server, token, BALANCE_CHANGED, since) as client:
            assert entries_in(await client.results(2)) == missed
            live = entry_of(await staff.adjust(member["id"], 2))
            assert entries_in(await client.results(1)) == [live]
        assert [entry["version"] for entry in [*seen, *missed, live]] == [2, 3, 4, 5, 6]


async def test_tier_changed_reaches_the_member(live_server, settings, redis, brand, make_token):
    await ensure_tier(brand, TierSpec("SILVER", "Silver", 1, qualifying_points=100))
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        token = make_token(brand, "MEMBER", subject=member["id"])
        tiers = RedisKeys(settings.redis_prefix).channel(tier_channel(pk(member["id"])))
        async with node_client(live_server, token, TIER_CHANGED, count=1) as client:
            await until_subscribed(redis, tiers, client)
            await staff.purchase(member["id"], "50.00")  # not enough: no change, nothing sent
            await staff.purchase(member["id"], "60.00")
            assert await client.result() == {
                "tierChanged": {
                    "member": {"id": member["id"]},
                    "previous": {"code": "BASE"},
                    "current": {"code": "SILVER"},
                }
            }
            await client.ended()


async def test_flash_sale_stock_shows_the_stock_then_each_change(live_server, brand, make_token):
    async with admin_of(live_server, brand, make_token) as staff:
        item = await create_catalog_item(staff)
        starts_at = datetime.now(UTC) + timedelta(hours=1)  # real time, as the live server's
        spec = sale_input(item["id"], starts_at, starts_at + timedelta(hours=1), totalStock=5)
        sale = await sale_after(staff, CREATE_SALE, spec)
        # Two watchers of one document share its stream (server/shared_streams.py): the first
        # one's pipeline runs, the second gets each change as the server writes it for both.
        watchers = (make_token(brand, "STAFF", "watcher"), make_token(brand, "STAFF", "second"))
        variables = {"id": sale["id"]}
        async with node_client(live_server, watchers[0], STOCK, variables) as first:
            assert await stock_shown(first, sale) == (5, "SCHEDULED")
            async with node_client(live_server, watchers[1], STOCK, variables) as second:
                assert await stock_shown(second, sale) == (5, "SCHEDULED")
                await sale_after(staff, UPDATE_SALE, {**spec, "id": sale["id"], "totalStock": 3})
                for client in (first, second):
                    shown = await next_stock_unlike(client, sale, (5, "SCHEDULED"))
                    assert shown == (3, "SCHEDULED")
                await sale_after(staff, CANCEL_SALE, {"id": sale["id"]})
                for client in (first, second):
                    shown = await next_stock_unlike(client, sale, (3, "SCHEDULED"))
                    assert shown == (3, "CANCELLED")


async def stock_shown(client: NodeClient, sale: dict) -> tuple[int, str]:
    """The next stock the client got: (units left, status)."""
    stock = (await client.result())["flashSaleStock"]
    assert stock["flashSale"] == {"id": sale["id"]}, stock
    return stock["remainingStock"], stock["status"]


async def next_stock_unlike(client: NodeClient, sale: dict, before: tuple[int, str]) -> tuple:
    """The next stock that differs from `before`: the stock is also re-read and published at
    times of its own, so the same one may come again first."""
    while (stock := await stock_shown(client, sale)) == before:
        pass
    return stock


async def sale_after(staff: Staff, document: str, input: dict) -> dict:
    """The sale that the admin's mutation (create, update or cancel) returns."""
    payload = await staff.call(document, input)
    assert payload["userErrors"] == [], payload
    return payload["flashSale"]
