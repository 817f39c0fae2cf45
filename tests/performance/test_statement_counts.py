"""The hot paths send exactly these many SQL statements and Redis commands (in Saleor's way):
one more (an N+1, a stray round trip) fails here, listing what was sent.

Each operation goes through the app over HTTP, as a client sends it, on the real PostgreSQL and
Redis; `tests/support/backend_calls.py` records what the request sends from the moment it is
sent until its response (its own task and the tasks it starts meanwhile, such as the event
bus's sender of its PUBLISH). Background work it did not cause is never counted: the event
bus's listener and the member-facts listener run in tasks of their own, and the scheduler is
off in tests. A new connection's handshake (Redis) and asyncpg's type look-ups are upkeep of
the pools, kept apart.

Warm: the same request (another idempotency key) was just sent, so the process has verified
the token and keeps what it caches (brands for 10 s, brand rules per version, a member's
flash-sale facts for 10 s, Lua scripts loaded). Cold: the first request of a token this
process has not seen (the brand itself was read by the setup's requests) and, for flash
sales, of a member whose facts nobody cached yet. Each test pins both: they differ for flash
sales (a cache that stops working shows there) and cost the same elsewhere.

When a change is meant to alter a count, update the number and the list of statements beside
it (the failure's message lists what is sent now).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from db.models import Tier
from domain.brands import ensure_store
from domain.catalog import cache as catalog_cache
from domain.flash_sales.stock import publisher_of
from domain.member_facts import local_facts
from resolvers.ids import encode_id, parse_id
from tests.support.backend_calls import Recording, recording
from tests.support.catalog import create_catalog_item
from tests.support.factories import RECORD_PURCHASE, key

REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) {
    redemption { id quantity pointsSpent status coupons { code value } }
    member { points { available } }
    userErrors { field message code }
  }
}
"""

ENTER_FLASH_SALE = """
mutation ($input: EnterFlashSaleInput!) {
  enterFlashSale(input: $input) {
    redemption { id quantity pointsSpent status }
    member { points { available } }
    userErrors { field message code }
  }
}
"""

CREATE_FLASH_SALE = """
mutation ($input: CreateFlashSaleInput!) {
  createFlashSale(input: $input) {
    flashSale { id }
    userErrors { field message code }
  }
}
"""

ME = """
query {
  me {
    id
    displayName
    points { available version lifetimeEarned lifetimeRedeemed }
    ledger(first: 20) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        cursor
        node {
          id kind points balanceAfter version description createdAt expiresAt
          store { code name }
          breakdown { rule description points }
        }
      }
    }
  }
}
"""

CATALOG = """
query {
  catalog(first: 50) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id sku name kind category pointsPrice cashPrice stock perMemberLimit
        minTier { name }
        available
        memberPrice
      }
    }
  }
}
"""

STOCK_PUBLICATION = "StockPublisher._publish"


@pytest.fixture(autouse=True)
def brands_kept(running_app, monkeypatch):
    """Every request checks its brand's signing keys, cached for 10 s and then read again (one
    SELECT per brand and 10 s). A test's requests come within those 10 s of each other, but
    the reread may fall between any two: keeping brands for the test keeps the counts exact."""
    monkeypatch.setattr(running_app[0].state.authenticator.brands, "ttl", 3600.0)


async def stock_publications_done() -> None:
    """Wait until no flash sale's stock is being published: such a task (of this test or an
    earlier one) could carry a request's PUBLISH in its own batch (see subscriptions/bus.py)."""
    running = [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == STOCK_PUBLICATION
    ]
    if running:
        await asyncio.wait(running, timeout=10)


async def send(gql, document: str, variables: dict, token: str) -> tuple[dict, Recording]:
    """Send one request and record what it sends; returns its body and the recording."""
    await stock_publications_done()
    async with recording() as calls:
        body = await gql(document, variables, token=token)
    assert "errors" not in body, body
    return body, calls


# ---------------------------------------------------------------------------------------------
# the counter counts


async def test_the_counter_counts_each_sql_statement(app):
    connection = get_connection("default")
    async with recording() as calls:
        await connection.execute_query("SELECT 1")
        await connection.execute_query("SELECT $1::int", [2])
        async with in_transaction() as transaction:
            await transaction.execute_query("SELECT 3")
    assert calls.sql == ["SELECT 1", "SELECT $1::int", "BEGIN;", "SELECT 3", "COMMIT;"]
    calls.assert_counts(sql=5, redis=0)


async def test_the_counter_counts_each_redis_command_also_in_pipelines(runtime, redis_prefix):
    name = f"{redis_prefix}:performance:{key()}"
    async with recording() as calls:
        await runtime.redis.get(name)
        async with runtime.redis.pipeline(transaction=False) as pipe:
            pipe.set(name, "1").incr(name).get(name)
            await pipe.execute()
        async with runtime.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name).incr(name).delete(name)
            await pipe.execute()
    commands = [command.split()[0] for command in calls.redis]
    # A pipeline of three is three commands; a transaction's MULTI and EXEC count as two more.
    # (redis-py sends `incr` as INCRBY.)
    assert commands == ["GET", "SET", "INCRBY", "GET", "MULTI", "INCRBY", "INCRBY", "DEL", "EXEC"]
    calls.assert_counts(sql=0, redis=9)


async def test_a_new_connections_handshake_is_upkeep_not_counted(backend_servers, redis_prefix):
    fresh = Redis.from_url(backend_servers.redis_url)
    try:
        async with recording() as calls:
            await fresh.get(f"{redis_prefix}:performance:{key()}")
    finally:
        await fresh.aclose()
    assert [command.split()[0] for command in calls.redis] == ["GET"]
    assert calls.redis_upkeep, "the handshake of a new connection was not seen"


async def test_work_the_recorded_task_did_not_start_is_not_counted(app, runtime):
    connection = get_connection("default")
    go = asyncio.Event()

    async def background() -> None:
        await go.wait()
        await connection.execute_query("SELECT 'background'")
        await runtime.redis.ping()

    started_before = asyncio.create_task(background())
    async with recording() as calls:
        go.set()
        await started_before
        await connection.execute_query("SELECT 'mine'")
        await asyncio.create_task(connection.execute_query("SELECT 'started by me'"))
    assert calls.sql == ["SELECT 'mine'", "SELECT 'started by me'"]
    assert calls.redis == []


async def test_a_wrong_count_lists_what_was_sent(app):
    async with recording() as calls:
        await get_connection("default").execute_query("SELECT 'the statement'")
    with pytest.raises(AssertionError) as failure:
        calls.assert_counts(sql=0, redis=0)
    message = str(failure.value)
    assert "expected 0 SQL statements and 0 Redis commands, saw 1 and 0" in message
    assert "1. SELECT 'the statement'" in message


# ---------------------------------------------------------------------------------------------
# the hot paths


async def test_record_purchase(gql, staff, make_token, brand):
    """A cashier records a purchase: one transaction, and the balance event after it."""
    member = await staff.register()
    cashier = make_token(brand, "STAFF", "cashier-7")  # a token the process has not seen

    def purchase() -> dict:
        return {
            "input": {
                "memberId": member["id"],
                "orderRef": key(),
                "total": "120.00",
                "idempotencyKey": key(),
            }
        }

    for case in ("cold", "warm"):
        body, calls = await send(gql, RECORD_PURCHASE, purchase(), cashier)
        assert body["data"]["recordPurchase"]["userErrors"] == [], (case, body)
        # 14 SQL: BEGIN; the idempotency key claimed (INSERT … ON CONFLICT); the balance row
        # locked with the member and brand; lots due to expire; the earn's facts (first
        # purchase? points earned today and in the tier window); the balance updated; the
        # EARN entry; its lot; the purchase; the lot linked to the purchase; the roll-ups (the
        # member's day, points by expiry month: one statement); the member's notice (inbox and
        # gateway deliveries, one statement); the key's outcome stored; COMMIT.
        # (The payload's member and entry are served from what was written.)
        # 2 Redis: the PUBLISH of the balance event and of the notice, after commit.
        calls.assert_counts(sql=14, redis=2, case=case)


# The points are spent some minutes after they were earned: a large earn spent at once is
# flagged for review, one statement more (tests/operations/test_risk_rules.py).
SPEND_LATER = timedelta(minutes=11)


async def test_redeem(gql, staff, member_with_points, clock):
    """A member redeems a coupon item of limited stock: one transaction with the FIFO debit."""
    item = await create_catalog_item(staff, stock=100)
    _, token = await member_with_points(5000)
    clock.advance(SPEND_LATER)

    def redemption() -> dict:
        return {"input": {"itemId": item["id"], "quantity": 1, "idempotencyKey": key()}}

    for case in ("cold", "warm"):
        body, calls = await send(gql, REDEEM, redemption(), token)
        payload = body["data"]["redeem"]
        assert (payload["userErrors"], payload["redemption"]["status"]) == ([], "CONFIRMED")
        # 17 SQL: BEGIN; the key claimed; the balance row locked with member and brand; lots
        # due to expire or to be released; the item (no gifts: nothing more); the spendable
        # lots, first to expire first; the balance
        # updated; the REDEEM entry; the lot debited; its consumption; the redemption; its
        # coupon; the roll-ups; the member's notices (points spent, redemption confirmed: one
        # statement);
        # the key's outcome; the item's stock and popularity with the COMMIT, in one message
        # (to hold its row lock only for the commit); then the payload's coupons read.
        # 3 Redis: the PUBLISH of the balance event, of the notices, and of the item's change
        # (catalogItemChanged).
        calls.assert_counts(sql=17, redis=3, case=case)


async def live_sale(staff, clock, **fields) -> dict:
    """A sale of a new item at 100 points a unit, open now (the clock moved past its start)."""
    item = await create_catalog_item(staff)
    starts_at = clock.now() + timedelta(seconds=1)
    payload = await staff.call(
        CREATE_FLASH_SALE,
        {
            "itemId": item["id"],
            "pointsPrice": 100,
            "startsAt": starts_at.isoformat(),
            "endsAt": (starts_at + timedelta(hours=1)).isoformat(),
            **fields,
        },
    )
    assert payload["userErrors"] == [], payload
    clock.advance(timedelta(seconds=2))
    return payload["flashSale"]


async def facts_kept(runtime) -> None:
    """Wait until this process listens for changes of members' facts: only from then on does
    it keep the facts it reads (domain/member_facts.py), which the warm counts rely on."""
    facts = local_facts(runtime)
    for _ in range(500):
        if facts.listening:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the process does not listen for changes of members' facts")


def entry_of(sale: dict) -> dict:
    return {"input": {"flashSaleId": sale["id"], "quantity": 1, "idempotencyKey": key()}}


async def test_enter_flash_sale_hold(gql, staff, clock, member_with_points, runtime, monkeypatch):
    """A winning entry: the script holds a unit, the transaction records it, the hold is
    confirmed.

    The sale's stock is published to `flashSaleStock` watchers by a task of its own, at most
    once per sale every 0.1 s across processes, however many entries changed it: that coalesced
    work is left out of the count (it is asked for here, then run after the recording)."""
    sale = await live_sale(staff, clock, totalStock=10, perMemberLimit=5)
    _, first_token = await member_with_points(5000, "First")
    _, token = await member_with_points(5000, "Ada")
    clock.advance(SPEND_LATER)
    # Another member enters first: the scripts are loaded into Redis and the process listens
    # for changes of members' facts, so what follows counts this member's entries only.
    await send(gql, ENTER_FLASH_SALE, entry_of(sale), first_token)
    await facts_kept(runtime)
    publisher = publisher_of(runtime)
    sale_pk = parse_id(sale["id"])[1]

    for case in ("cold", "warm"):
        asked: list[int] = []
        await stock_publications_done()
        with monkeypatch.context() as patch:
            patch.setattr(publisher, "changed", asked.append)
            body, calls = await send(gql, ENTER_FLASH_SALE, entry_of(sale), token)
        for sale_id in asked:
            publisher.changed(sale_id)
        payload = body["data"]["enterFlashSale"]
        assert (payload["userErrors"], payload["redemption"]["status"]) == ([], "CONFIRMED")
        assert asked == [sale_pk, sale_pk], "the stock is published after the hold and the confirm"
        # Warm, 18 SQL: BEGIN; the key claimed; the balance row locked with member and brand;
        # lots due to expire; SET LOCAL statement_timeout; the sale with its item; the units the
        # member has of the sale; the spendable lots; the balance updated; the REDEEM entry; the
        # lot debited; its consumption; the redemption; its coupon; the roll-ups; the member's
        # notices; the key's outcome; the sale's sold count with the COMMIT, in one message.
        # Warm, 5 Redis: EVALSHA of the entry script (the hold); ZSCORE of the hold's deadline,
        # inside the transaction; the PUBLISH of the balance event and of the notices; EVALSHA
        # of the resolve script (the hold confirmed).
        # Cold, the member's facts (status, tier's early access) are read first: +2 SQL (the
        # member, their tier) and +2 Redis (GET of the shared copy, SET of it).
        if case == "cold":
            calls.assert_counts(sql=20, redis=7, case=case)
        else:
            calls.assert_counts(sql=18, redis=5, case=case)


async def test_enter_flash_sale_refused_when_sold_out(
    gql, staff, clock, member_with_points, runtime
):
    """A refusal: the entry script says SOLD_OUT; nothing is read or written in PostgreSQL once
    the member's facts are known. Counted at the endpoint, whichever way it answers."""
    sale = await live_sale(staff, clock, totalStock=1, perMemberLimit=1)
    _, winner = await member_with_points(5000, "Winner")
    _, token = await member_with_points(5000, "Ada")
    body, _ = await send(gql, ENTER_FLASH_SALE, entry_of(sale), winner)  # the last unit
    assert body["data"]["enterFlashSale"]["userErrors"] == [], body
    await facts_kept(runtime)

    for case in ("cold", "warm"):
        body, calls = await send(gql, ENTER_FLASH_SALE, entry_of(sale), token)
        codes = [error["code"] for error in body["data"]["enterFlashSale"]["userErrors"]]
        assert codes == ["SOLD_OUT"], (case, body)
        # Warm, 0 SQL and 1 Redis: EVALSHA of the entry script, which refuses (and counts the
        # attempt against the member's rate), with the facts this process keeps.
        # Cold, +2 SQL (the member, their tier) and +2 Redis (GET of the facts' shared copy,
        # missing; SET of it) before the script.
        if case == "cold":
            calls.assert_counts(sql=2, redis=3, case=case)
        else:
            calls.assert_counts(sql=0, redis=1, case=case)


async def test_me_with_points_and_a_page_of_the_ledger(gql, staff, member_with_points, brand):
    """A member with 21 entries, half in a store, reads their balance and their latest 20."""
    await ensure_store(brand, "SH-01", "Shanghai One")
    member, token = await member_with_points(0)
    for number in range(21):
        await staff.purchase(member["id"], "10.00", storeCode="SH-01" if number % 2 else None)

    for case in ("cold", "warm"):
        body, calls = await send(gql, ME, {}, token)
        ledger = body["data"]["me"]["ledger"]
        assert (ledger["totalCount"], len(ledger["edges"])) == (21, 20), case
        # 5 SQL, whatever the page's size (some run side by side, in either order): the member
        # (by id and brand); the balance less the points already due; the entries' count; the
        # page of entries; their stores, in one query. 0 Redis.
        calls.assert_counts(sql=5, redis=0, case=case)


CATALOG_PAGE = """
query ($first: Int!) {
  catalog(first: $first) {
    edges { node { id name pointsPrice memberPrice available category } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.fixture
async def catalogs_kept(monkeypatch, runtime):
    """A process keeps each brand's catalog for half a second (domain/catalog/cache.py), then
    reads it again: kept for the test, the counts do not depend on how fast it runs. The
    process listens for changes before the test (subscribing is upkeep, once a process)."""
    monkeypatch.setattr(catalog_cache, "FRESH_SECONDS", 3600.0)
    catalogs = catalog_cache.local_catalogs(runtime)
    for _ in range(500):
        if catalogs.listening:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the catalogs' copies never listened on the bus")


async def items_with_tiers(staff, brand, count: int) -> None:
    """`count` items of the brand, every other one for members of the base tier and up."""
    base_tier = await Tier.get(brand_id=brand.id, rank=0)
    for number in range(count):
        minimum = encode_id("Tier", base_tier.id) if number % 2 else None
        await create_catalog_item(staff, sku=f"ITEM-{number:03}", minTierId=minimum)


async def test_a_catalog_page_of_50(gql, staff, member_with_points, brand, catalogs_kept):
    """A member reads 50 of the brand's 55 items, with each one's tier, availability and
    price for them."""
    await items_with_tiers(staff, brand, 55)
    _, token = await member_with_points(500)

    for case in ("cold", "warm"):
        body, calls = await send(gql, CATALOG, {}, token)
        catalog = body["data"]["catalog"]
        assert (catalog["totalCount"], len(catalog["edges"])) == (55, 50), case
        # Warm, 1 SQL, whatever the page's size: the caller as a shopper (the member, their
        # tier, their balance, their brand's tiers' version), in one statement; the items and
        # their tiers come from the process's copy of the brand's catalog.
        # Cold, the copy is read first (the items were just created): +1 SQL, the brand's
        # active items and tiers in one statement. 0 Redis.
        calls.assert_counts(sql=2 if case == "cold" else 1, redis=0, case=case)


@pytest.mark.parametrize("caller", ["visitor", "member"])
async def test_a_catalog_page_costs_the_same_for_20_or_50_items(
    gql, client, staff, member_with_points, brand, catalogs_kept, caller
):
    """The catalog page a storefront opens, by a visitor (X-Brand) and by a member: the items
    come from the process's copy, so the page's size changes nothing."""
    await items_with_tiers(staff, brand, 60)
    _, token = await member_with_points(500)

    async def page(size: int) -> Recording:
        await stock_publications_done()
        headers = {"X-Brand": brand.code} if caller == "visitor" else {}
        if caller == "member":
            headers["Authorization"] = f"Bearer {token}"
        async with recording() as calls:
            response = await client.post(
                "/graphql",
                json={"query": CATALOG_PAGE, "variables": {"first": size}},
                headers=headers,
            )
        body = response.json()
        assert "errors" not in body, body
        nodes = [edge["node"] for edge in body["data"]["catalog"]["edges"]]
        assert len(nodes) == size
        assert {node["memberPrice"] is None for node in nodes} == {caller == "visitor"}
        return calls

    cold = await page(20)
    # Cold: the brand's catalog read into the process's copy (one statement), and for a
    # member, the shopper (one statement).
    cold.assert_counts(sql=2 if caller == "member" else 1, redis=0, case="cold")
    for size in (20, 50):
        # Warm: nothing for a visitor; the shopper for a member.
        (await page(size)).assert_counts(
            sql=1 if caller == "member" else 0, redis=0, case=f"warm, first {size}"
        )


MEMBER_PAGE = """
query {
  me {
    displayName
    points { available expiring(withinDays: 30) { points expiresAt } }
    tier { name }
    ledger(first: 20) {
      edges { node { id kind points description createdAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def test_the_member_page_is_one_statement(gql, staff, member_with_points, catalogs_kept):
    """The page a member opens most (a document of `me` alone, answered by its plan): their
    points, what expires, their tier and their latest 20 entries of 41."""
    member, token = await member_with_points(0)
    for _ in range(41):
        await staff.purchase(member["id"], "10.00")

    for case in ("cold", "warm"):
        body, calls = await send(gql, MEMBER_PAGE, {}, token)
        me = body["data"]["me"]
        assert (me["points"]["available"], len(me["ledger"]["edges"])) == (410, 20), case
        # Warm, 1 SQL whatever the page's size: the member, their balance less what is due,
        # what expires within 30 days and the page of entries, in one statement; the tier
        # from the process's copy of the brand. Cold, the copy is read first: +1. 0 Redis.
        calls.assert_counts(sql=2 if case == "cold" else 1, redis=0, case=case)


async def test_the_brand_page_costs_no_statement(gql, client, brand, catalogs_kept):
    """`brand { name stores { name } }` for a visitor, from the process's copy of the brand."""
    for code in ("SH-01", "BJ-01", "SZ-01"):
        await ensure_store(brand, code, f"Store {code}")
    for case in ("cold", "warm"):
        await stock_publications_done()
        async with recording() as calls:
            response = await client.post(
                "/graphql",
                json={"query": "{ brand { name stores { name } } }"},
                headers={"X-Brand": brand.code},
            )
        assert len(response.json()["data"]["brand"]["stores"]) == 3, case
        # Cold: the brand the X-Brand header names, for the authenticator (which keeps it),
        # and the brand's copy (its row, stores, tiers and active items: one statement).
        # Warm: nothing. 0 Redis.
        calls.assert_counts(sql=2 if case == "cold" else 0, redis=0, case=case)
