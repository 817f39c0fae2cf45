"""Flash sales as the tests make them: sales created by the brand's admin, entered by members
over GraphQL; the stock documents watchers subscribe with; and, for the tests under attack,
backends of real time and live servers started side by side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta

from db.keys import RedisKeys
from db.models import FlashSale
from db.redis import open_redis
from domain.clock import Clock
from domain.runtime import Backends, FlashSaleLimits
from server.settings import Settings
from subscriptions.bus import EventBus
from tests.support.catalog import create_catalog_item
from tests.support.factories import Staff, key
from tests.support.ledger import iso, pk
from tests.support.live import LiveServer, start_live_server, stop_live_server
from tests.support.node import PROJECT

SALE_FIELDS = """
id pointsPrice startsAt endsAt totalStock perMemberLimit remainingStock status item { id }
"""

CREATE_SALE = f"""
mutation ($input: CreateFlashSaleInput!) {{
  createFlashSale(input: $input) {{
    flashSale {{ {SALE_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

UPDATE_SALE = f"""
mutation ($input: UpdateFlashSaleInput!) {{
  updateFlashSale(input: $input) {{
    flashSale {{ {SALE_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

CANCEL_SALE = f"""
mutation ($input: CancelFlashSaleInput!) {{
  cancelFlashSale(input: $input) {{
    flashSale {{ {SALE_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

ENTER = """
mutation ($input: EnterFlashSaleInput!) {
  enterFlashSale(input: $input) {
    redemption {
      id quantity pointsSpent status
      flashSale { id } item { id } coupons { code }
    }
    member { points { available } }
    userErrors { field message code }
  }
}
"""

POINTS = """
query ($id: ID!) {
  member(id: $id) {
    tier { code }
    points { available lifetimeRedeemed }
    ledger(first: 100) { totalCount edges { node { kind points } } }
  }
}
"""

# The example operation of examples/operations/: an entry as clients write it.
EXAMPLE = (PROJECT / "examples" / "operations" / "EnterFlashSale.graphql").read_text()

# flashSaleStock as watchers subscribe: SHARED selects only fields the same for every caller.
SHARED = """
subscription ($id: ID!) {
  flashSaleStock(flashSaleId: $id) {
    __typename remainingStock status
    flashSale { id remainingStock ...Item }
  }
}
fragment Item on FlashSale { item { name pointsPrice } }
"""

# `memberPrice` is the member's own: every watcher's event is executed for them alone.
PERSONAL = """
subscription ($id: ID!) {
  flashSaleStock(flashSaleId: $id) {
    remainingStock flashSale { remainingStock item { memberPrice } }
  }
}
"""


def sale_input(item_id: str, starts_at, ends_at, **fields) -> dict:
    """createFlashSale's input: 100 points a unit, 5 units, 1 a member unless told."""
    return {
        "itemId": item_id,
        "pointsPrice": fields.pop("pointsPrice", 100),
        "startsAt": iso(starts_at),
        "endsAt": iso(ends_at),
        "totalStock": fields.pop("totalStock", 5),
        "perMemberLimit": fields.pop("perMemberLimit", 1),
        **fields,
    }


async def create_sale(staff: Staff, item_id: str, starts_at, ends_at, **fields) -> dict:
    payload = await staff.call(CREATE_SALE, sale_input(item_id, starts_at, ends_at, **fields))
    assert payload["userErrors"] == [], payload
    return payload["flashSale"]


async def scheduled_sale(staff: Staff, clock, *, starts_in=timedelta(hours=1), **fields) -> dict:
    """A sale of a new item (100 points a unit, 5 units, 1 a member unless told), starting
    `starts_in` from now and lasting an hour."""
    item = await create_catalog_item(staff)
    starts_at = clock.now() + starts_in
    return await create_sale(
        staff,
        item["id"],
        starts_at,
        fields.pop("ends_at", starts_at + timedelta(hours=1)),
        **fields,
    )


async def live_sale(staff: Staff, clock, *, lasts=timedelta(hours=1), **fields) -> dict:
    """A sale that is open now: created a second ahead, then the clock moved past its start."""
    item = await create_catalog_item(staff)
    starts_at = clock.now() + timedelta(seconds=1)
    sale = await create_sale(staff, item["id"], starts_at, starts_at + lasts, **fields)
    clock.advance(timedelta(seconds=2))
    return sale


async def enter(gql, token: str, sale_id: str, quantity: int = 1, idem: str | None = None):
    """enterFlashSale's payload, as the member whose token this is (a fresh key unless told)."""
    body = await gql(
        ENTER,
        {"input": {"flashSaleId": sale_id, "quantity": quantity, "idempotencyKey": idem or key()}},
        token=token,
    )
    assert "errors" not in body, body
    return body["data"]["enterFlashSale"]


async def points_of(staff: Staff, member_id: str) -> dict:
    """The member's available and redeemed points, and (kind, points) of their entries."""
    body = await staff.gql(POINTS, {"id": member_id}, token=staff.token)
    assert "errors" not in body, body
    member = body["data"]["member"]
    return {
        "available": member["points"]["available"],
        "lifetimeRedeemed": member["points"]["lifetimeRedeemed"],
        "entries": [(edge["node"]["kind"], edge["node"]["points"]) for edge in
                    member["ledger"]["edges"]],
    }  # fmt: skip


async def sold(sale_id: str) -> int:
    """Units of the sale PostgreSQL has sold."""
    return (await FlashSale.get(id=pk(sale_id))).sold


# PEXPIRETIME is Redis 7's; the embedded Redis is 6.2: the same from TIME and PTTL, in one script.
EXPIRE_AT_MS = """
local now = redis.call('TIME')
local at = {}
for i, key in ipairs(KEYS) do
  at[i] = now[1] * 1000 + math.floor(now[2] / 1000) + redis.call('PTTL', key)
end
return at
"""


async def expire_at_ms(redis, *names: str) -> list[int]:
    """When each key expires, in Unix milliseconds of the Redis server, to within 1 ms (TIME and
    PTTL are read moments apart); keys in one hash slot."""
    return await redis.eval(EXPIRE_AT_MS, len(names), *names)


# Backends of real time, and live servers ------------------------------------------------


@asynccontextmanager
async def runtime_on(redis_url: str, prefix: str) -> AsyncIterator[Backends]:
    """Backends on the in-process database (opened by the app) and the given Redis, with a
    clock of real time, as the live servers and `pointsmall reconcile` have."""
    redis = open_redis(redis_url, max_connections=20)
    keys = RedisKeys(prefix)
    rt = Backends(
        redis=redis,
        keys=keys,
        bus=EventBus(redis, keys),
        clock=Clock(),
        flash=FlashSaleLimits(),  # holds of 10 s, as the servers' default
    )
    try:
        yield rt
    finally:
        for helper in rt.helpers.values():
            if hasattr(helper, "stop"):
                await helper.stop()
        await redis.aclose()


def start_servers(settings: Settings, count: int, env: dict | None = None) -> list[LiveServer]:
    """`count` uvicorn processes (one worker each), started side by side."""
    with ThreadPoolExecutor(count) as pool:
        futures = [
            pool.submit(start_live_server, settings, workers=1, env=env) for _ in range(count)
        ]
        return [future.result() for future in futures]


def stop_servers(servers: list[LiveServer]) -> None:
    with ThreadPoolExecutor(len(servers)) as pool:
        list(pool.map(stop_live_server, servers))
