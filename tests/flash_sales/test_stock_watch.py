"""flashSaleStock's watchers in one process share one view of the sale (domain.flash_sales.stock):
one bus subscription and one re-read of Redis per quiet spell, however many watch; and a change
is executed once for the watchers of a document it cannot differ for (schema/execution.py)."""

from __future__ import annotations

import asyncio
import time

from db.models import FlashSale
from domain.flash_sales import stock
from domain.principal import Principal, Role
from resolvers import flash_sales as resolve
from resolvers.context import Context
from resolvers.loaders import Loaders
from schema.build import build_schema
from tests.support.backend_calls import recording
from tests.support.flash_sales import PERSONAL, SHARED, enter, live_sale
from tests.support.ledger import pk

WATCHERS = 20
SETTLE = 0.5


async def watching(runtime, sale: FlashSale, seen: list[tuple[int, bool]]) -> None:
    async for state in stock.watch_stock(runtime, sale, lambda: True):
        seen.append((state.remaining, state.cancelled))


async def test_watchers_of_a_sale_share_one_subscription_and_see_each_change(
    runtime, staff, clock, gql, member_with_points
):
    created = await live_sale(staff, clock, totalStock=5)
    sale = await FlashSale.get(id=pk(created["id"]))
    seen: list[list[tuple[int, bool]]] = [[] for _ in range(WATCHERS)]
    tasks = [asyncio.create_task(watching(runtime, sale, states)) for states in seen]
    try:
        await asyncio.sleep(SETTLE)
        assert runtime.bus.subscriber_count(stock.stock_channel(sale.id)) == 1
        assert all(states == [(5, False)] for states in seen)

        _, token = await member_with_points(1000)
        assert (await enter(gql, token, created["id"]))["userErrors"] == []
        await asyncio.sleep(SETTLE)
        assert all(states == [(5, False), (4, False)] for states in seen)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.1)
    assert runtime.bus.subscriber_count(stock.stock_channel(sale.id)) == 0  # the last one left


async def test_a_quiet_sale_is_read_again_once_per_process_not_once_per_watcher(
    runtime, staff, clock, monkeypatch
):
    monkeypatch.setattr(stock, "RECHECK_AFTER", 0.3)
    created = await live_sale(staff, clock, totalStock=5)
    sale = await FlashSale.get(id=pk(created["id"]))
    seen: list[list[tuple[int, bool]]] = [[] for _ in range(WATCHERS)]
    async with recording() as calls:
        tasks = [asyncio.create_task(watching(runtime, sale, states)) for states in seen]
        try:
            await asyncio.sleep(SETTLE)
            calls.redis.clear()
            await asyncio.sleep(1.0)  # three quiet spells
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    # Each re-read is one GET of the stock and one HGET of the sale's state, for all watchers.
    assert 4 <= len(calls.redis) <= 8, calls.report()
    assert all(states == [(5, False)] for states in seen)  # nothing changed: nothing sent


async def test_a_change_is_executed_once_per_document_for_callers_it_cannot_differ_for(
    runtime, staff, clock, gql, brand, member_with_points, monkeypatch
):
    """schema/execution.py's shared events: the watchers of a document that selects only fields
    the same for every caller get one execution's result; any other document is executed for
    each watcher, as strawberry does."""
    schema = build_schema()
    created = await live_sale(staff, clock, totalStock=5)
    executions: list[int] = []
    counted = resolve.remaining_of

    async def remaining_of(info, sale):  # FlashSale.remainingStock, once per execution
        executions.append(1)
        return await counted(info, sale)

    monkeypatch.setattr(resolve, "remaining_of", remaining_of)
    streams = {}
    for document in (SHARED, PERSONAL):
        streams[document] = []
        for number in range(10):
            member, _ = await member_with_points(1000, name=f"Watcher {number}")
            principal = Principal(
                Role.MEMBER, brand.id, brand.code, member["id"], member_id=pk(member["id"]),
                expires_at=time.time() + 3600,
            )  # fmt: skip
            context = Context(None, None, runtime, Loaders(runtime), "test", principal)
            stream = await schema.subscribe(document, {"id": created["id"]}, context)
            streams[document].append(stream)
    try:
        firsts = {doc: [await anext(s) for s in found] for doc, found in streams.items()}
        assert all(not result.errors for results in firsts.values() for result in results)
        executions.clear()

        _, token = await member_with_points(1000, name="Buyer")
        assert (await enter(gql, token, created["id"]))["userErrors"] == []
        changed = {doc: [await anext(s) for s in found] for doc, found in streams.items()}
    finally:
        for found in streams.values():
            for stream in found:
                await stream.aclose()
    shared, personal = changed[SHARED], changed[PERSONAL]
    assert all(not result.errors for result in shared + personal)
    assert all(result.data == shared[0].data for result in shared)
    assert shared[0].data["flashSaleStock"]["remainingStock"] == 4
    assert all(result.data == personal[0].data for result in personal)
    assert len(executions) == 1 + len(personal)


async def test_a_change_seen_by_many_watchers_leaves_the_process_its_turns(
    runtime, staff, clock, gql, member_with_points
):
    """Thousands of watchers resumed in one turn of the event loop would hold up every request
    of the process meanwhile (a winner's entry past its hold's deadline, say): they are resumed
    a batch a turn."""
    created = await live_sale(staff, clock, totalStock=5)
    sale = await FlashSale.get(id=pk(created["id"]))
    watchers = 4 * stock.WAKE_AT_ONCE
    seen: list[list[tuple[int, bool]]] = [[] for _ in range(watchers)]
    tasks = [asyncio.create_task(watching(runtime, sale, states)) for states in seen]
    turns_while_resuming: list[int] = []

    async def count_turns() -> None:  # turns of the loop from the first sight of the change
        for _ in range(1_000_000):
            if any(len(states) == 2 for states in seen):
                break
            await asyncio.sleep(0)
        turns = 0
        while not all(len(states) == 2 for states in seen):
            turns += 1
            await asyncio.sleep(0)
        turns_while_resuming.append(turns)

    try:
        await asyncio.sleep(SETTLE)
        assert all(states == [(5, False)] for states in seen)
        _, token = await member_with_points(1000)
        counter = asyncio.create_task(count_turns())
        assert (await enter(gql, token, created["id"]))["userErrors"] == []
        await asyncio.wait_for(counter, 10)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert turns_while_resuming[0] >= watchers // stock.WAKE_AT_ONCE - 1
