"""Live updates through the npm graphql-ws client, as GraphiQL, Apollo and urql receive them.

A Node process subscribes (tests/clients/subscribe.mjs) and prints each result as it comes;
this side makes the changes over HTTP and reads what the client printed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from db.keys import RedisKeys
from domain.brands import TierSpec, ensure_tier
from domain.tiers import tier_channel
from tests.catalog.support import create_catalog_item
from tests.factories import Staff
from tests.flash_sales.test_flash_sales import (
    CANCEL_SALE,
    CREATE_SALE,
    UPDATE_SALE,
    sale_input,
)
from tests.ledger.records import pk
from tests.live import TIMEOUT, admin_of, bearer
from tests.support.node import PROJECT, ensure_node_clients

SUBSCRIBE = Path(__file__).with_name("subscribe.mjs")
POLL = 0.05

BALANCE_CHANGED = """
subscription ($sinceVersion: Int) {
  balanceChanged(sinceVersion: $sinceVersion) {
    available
    version
    entry { kind points balanceAfter version }
  }
}
"""

TIER_CHANGED = """
subscription { tierChanged { member { id } previous { code } current { code } } }
"""

STOCK = """
subscription ($id: ID!) {
  flashSaleStock(flashSaleId: $id) { flashSale { id } remainingStock status }
}
"""


class NodeClient:
    """The Node client's process: what it printed is read line by line, as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self) -> dict:
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
        except TimeoutError:
            pytest.fail(f"the client printed nothing for {TIMEOUT} s")
        if not line:
            await self.process.wait()
            stderr = (await self.process.stderr.read()).decode()[-2000:]
            pytest.fail(f"the client exited ({self.process.returncode}): {stderr}")
        return json.loads(line)

    async def result(self) -> dict:
        """The data of the next result; fails on anything else."""
        message = await self.line()
        assert "next" in message, f"the client got no result but {message}"
        assert "errors" not in message["next"], message
        return message["next"]["data"]

    async def results(self, count: int) -> list[dict]:
        return [await self.result() for _ in range(count)]

    async def ended(self) -> None:
        """The client received all it was asked for and closed."""
        assert await self.line() == {"done": True}
        assert await self.process.wait() == 0


@asynccontextmanager
async def node_client(
    server: Any,
    token: str,
    query: str | None,
    variables: dict | None = None,
    count: int | None = None,
    *,
    payload: dict | None = None,
) -> AsyncIterator[NodeClient]:
    """The Node client subscribed (or subscribing) with the token, to `query` or to the
    document `payload` names without its text; stopped on leaving."""
    await asyncio.to_thread(ensure_node_clients)  # npm ci, on a fresh clone
    process = await asyncio.create_subprocess_exec(
        "node",
        str(SUBSCRIBE),
        cwd=PROJECT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    request = {
        "url": server.ws_url,
        "connectionParams": bearer(token),
        "query": query,
        "variables": variables or {},
        "payload": payload,
        "count": count,
    }
    process.stdin.write(json.dumps(request).encode())
    process.stdin.close()
    try:
        yield NodeClient(process)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def until_subscribed(redis: Redis, channel: str, client: NodeClient) -> None:
    """Wait until the server listens on `channel` in Redis: from then on, events reach the
    client. (For subscriptions that start 'from now on', at a moment the client cannot see.)"""
    while not (await redis.pubsub_numsub(channel))[0][1]:
        if client.process.returncode is not None:
            pytest.fail(f"the client ended before it subscribed: {await client.line()}")
        await asyncio.sleep(POLL)


def entry_of(payload: dict) -> dict:
    """A movement's entry, as balanceChanged shows it."""
    assert payload["userErrors"] == [], payload
    return {key: payload["entry"][key] for key in ("kind", "points", "balanceAfter", "version")}


def entries_in(results: list[dict]) -> list[dict]:
    changes = [result["balanceChanged"] for result in results]
    for change in changes:
        assert change["available"] == change["entry"]["balanceAfter"], change
        assert change["version"] == change["entry"]["version"], change
    return [change["entry"] for change in changes]


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
