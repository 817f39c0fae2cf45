"""A flash sale's state in Redis: loaded from PostgreSQL's record, read, and published live.

PostgreSQL is the record (`sold`, the redemptions); Redis holds what the entry script decides
on: the stock left, each member's units (bought or held), the holds and their deadlines. A
sale is loaded when it is created or edited, and rebuilt by the reconciler when Redis lost it.

Design: docs/flash-sales.md, "Stock, published and watched".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from tortoise.connection import get_connection

from db.flash_sales import FlashScripts, SaleKeys
from db.models import FlashSale
from db.redis import cancel_and_wait
from domain.idempotency import request_hash
from domain.runtime import Backends
from subscriptions.bus import RESUBSCRIBED

log = logging.getLogger(__name__)

PUBLISH_EVERY = 0.1  # seconds: at most ~10 stock updates a second per sale, across processes
KEPT_AFTER_END = timedelta(days=1)
WAKE_AT_ONCE = 250  # watchers of a sale resumed per turn of the event loop
RECHECK_AFTER = 5.0  # seconds without an event before a process re-reads a watched sale's stock

REDEMPTIONS_SQL = """
SELECT id, reservation_id, quantity FROM redemption
WHERE flash_sale_id = $1 AND status <> 'CANCELLED' AND reservation_id IS NOT NULL
"""
BUYERS_SQL = """
SELECT member_id, SUM(quantity) AS units FROM redemption
WHERE flash_sale_id = $1 AND status <> 'CANCELLED'
GROUP BY member_id
"""


def scripts_of(rt: Backends) -> FlashScripts:
    scripts = rt.helpers.get("flash_scripts")
    if scripts is None:
        scripts = rt.helpers["flash_scripts"] = FlashScripts(rt.redis)
    return scripts


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def load_sale(rt: Backends, sale: FlashSale) -> None:
    """Put the sale's state in Redis from PostgreSQL: stock = total - sold, each member's
    units and each redemption's outcome (for replays of its key) from the redemptions; holds
    start empty."""
    connection = get_connection("default")
    rows = await connection.execute_query_dict(BUYERS_SQL, [sale.id])
    buyers = [str(value) for row in rows for value in (row["member_id"], int(row["units"]))]
    made = await connection.execute_query_dict(REDEMPTIONS_SQL, [sale.id])
    outcomes = [
        value
        for row in made
        for value in (
            row["reservation_id"],
            f"R|{entry_fingerprint(sale.id, row['quantity'])}|{row['id']}",
        )
    ]
    keys = SaleKeys.of(rt.keys, sale.id)
    await scripts_of(rt).load(
        keys=[keys.meta, keys.stock, keys.buyers, keys.holds, keys.holddata, keys.outcomes],
        args=[
            sale.total_stock - sale.sold,
            ms(sale.ends_at + KEPT_AFTER_END) - rt.clock.offset_ms(),
            sale.brand_id,
            ms(sale.starts_at),
            ms(sale.ends_at),
            sale.per_member_limit,
            "1" if sale.cancelled_at else "0",
            len(rows),
            *buyers,
            *outcomes,
        ],
    )
    publisher_of(rt).changed(sale.id)


@lru_cache(maxsize=4096)
def entry_fingerprint(sale_id: int, quantity: int) -> str:
    """What an entry's key records of its request, to tell a replay from a different call."""
    return request_hash({"sale": sale_id, "quantity": quantity})[:16]


async def remaining_by_sale(rt: Backends, sales: list[FlashSale]) -> dict[int, int]:
    """Units left per sale: Redis's count where the sale is loaded, else the record's.

    One GET per sale in a pipeline, not one MGET: each sale's keys have a slot of their own on
    a Redis Cluster, which refuses an MGET across slots (its pipeline sends each node its own)."""
    if not sales:
        return {}
    async with rt.redis.pipeline(transaction=False) as pipe:
        for sale in sales:
            pipe.get(SaleKeys.of(rt.keys, sale.id).stock)
        stocks = await pipe.execute()
    return {
        sale.id: max(int(stock), 0) if stock is not None else sale.total_stock - sale.sold
        for sale, stock in zip(sales, stocks, strict=True)
    }


async def attempts_by_sale(rt: Backends, sale_ids: list[int]) -> dict[int, int | None]:
    """How many entries each sale's script took (None where Redis no longer holds the sale)."""
    if not sale_ids:
        return {}
    async with rt.redis.pipeline(transaction=False) as pipe:
        for sale_id in sale_ids:
            pipe.hget(SaleKeys.of(rt.keys, sale_id).meta, "attempts")
        counts = await pipe.execute()
    return {
        sale_id: int(count) if count is not None else None
        for sale_id, count in zip(sale_ids, counts, strict=True)
    }


def stock_channel(sale_id: int) -> str:
    return f"flash:{sale_id}"


class StockPublisher:
    """Publishes a sale's stock after it changed, coalesced: one publish per sale per
    PUBLISH_EVERY across all processes (a Redis gate), and the last change always published."""

    def __init__(self, rt: Backends) -> None:
        self._rt = rt
        self._dirty: set[int] = set()
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def changed(self, sale_id: int) -> None:
        self._dirty.add(sale_id)
        if sale_id not in self._tasks:
            self._tasks[sale_id] = asyncio.create_task(self._publish(sale_id))

    async def _publish(self, sale_id: int) -> None:
        keys = SaleKeys.of(self._rt.keys, sale_id)
        try:
            while sale_id in self._dirty:
                gate = await self._rt.redis.set(
                    keys.publish_gate, "1", nx=True, px=int(PUBLISH_EVERY * 1000)
                )
                if not gate:
                    await asyncio.sleep(PUBLISH_EVERY)
                    continue
                self._dirty.discard(sale_id)
                async with self._rt.redis.pipeline(transaction=False) as pipe:
                    pipe.get(keys.stock)
                    pipe.hget(keys.meta, "cancelled")
                    stock, cancelled = await pipe.execute()
                if stock is not None:
                    await self._rt.bus.publish(
                        stock_channel(sale_id),
                        {"saleId": sale_id, "remaining": int(stock), "cancelled": cancelled == "1"},
                    )
        except Exception:
            log.warning("stock of flash sale %s not published", sale_id, exc_info=True)
        finally:
            self._tasks.pop(sale_id, None)

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            await cancel_and_wait(task)


def publisher_of(rt: Backends) -> StockPublisher:
    publisher = rt.helpers.get("stock_publisher")
    if publisher is None:
        publisher = rt.helpers["stock_publisher"] = StockPublisher(rt)
    return publisher


async def return_units(rt: Backends, sale_id: int, member_id: int, quantity: int) -> None:
    """A cancelled flash-sale redemption's units, back to the live sale (after commit)."""
    keys = SaleKeys.of(rt.keys, sale_id)
    if not await rt.redis.exists(keys.meta):
        return  # Redis lost the sale: the reconciler rebuilds it from the record
    async with rt.redis.pipeline(transaction=True) as pipe:
        pipe.incrby(keys.stock, quantity)
        pipe.hincrby(keys.buyers, str(member_id), -quantity)
        await pipe.execute()
    publisher_of(rt).changed(sale_id)


async def resolve_hold(
    rt: Backends, sale_id: int, reservation: str, outcome: str, how: str
) -> bool:
    """Confirm or release a hold, once: False when it was resolved already. `outcome` is what
    a replay of its key answers ("" forgets it, so the key may try again)."""
    keys = SaleKeys.of(rt.keys, sale_id)
    resolved = await scripts_of(rt).resolve(
        keys=[keys.stock, keys.buyers, keys.holds, keys.holddata, keys.outcomes],
        args=[reservation, outcome, how],
    )
    publisher_of(rt).changed(sale_id)
    return bool(resolved)


@dataclass(frozen=True, eq=False, slots=True, weakref_slot=True)
class StockState:
    """A sale's stock as its watchers see it; one object per change, shared by the watchers of
    a process (so what is made of it can be made once for all of them)."""

    remaining: int
    cancelled: bool

    def same_as(self, other: StockState | None) -> bool:
        return other is not None and (self.remaining, self.cancelled) == (
            other.remaining,
            other.cancelled,
        )


class _SaleWatch:
    """One process's view of a sale's (remaining, cancelled), shared by all its watchers there:
    one bus subscription and, after a quiet spell or a lost connection, one read of Redis,
    however many members watch. Watchers wait for the state to change, never queue events:
    one that falls behind skips to the latest."""

    def __init__(self, rt: Backends, sale: FlashSale) -> None:
        self._rt = rt
        self._sale = sale
        self.watchers = 0
        self.state: StockState | None = None  # None once the watch has ended
        self._waiting: dict[asyncio.Future[None], None] = {}  # watchers waiting, in order
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._follow(), name=f"flash-sale-{sale.id}-stock")

    @property
    def ended(self) -> bool:
        return self._ready.is_set() and self.state is None

    async def ready(self) -> None:
        await self._ready.wait()

    async def changed_from(self, state: StockState | None) -> None:
        """Return once the state is no longer `state`."""
        while self.state is state and state is not None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting[waiter] = None
            try:
                await waiter
            finally:
                self._waiting.pop(waiter, None)  # a watcher that left waits no more

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _follow(self) -> None:
        next_event: asyncio.Task[dict[str, Any]] | None = None
        try:
            async with self._rt.bus.subscribe(
                stock_channel(self._sale.id), hear_resubscriptions=True
            ) as events:
                self._set(await self._read())
                while True:
                    # Waited for with a timeout, never cancelled: that would end the stream.
                    # ensure_future wraps an awaitable that is no future in a Task.
                    next_event = next_event or cast(
                        asyncio.Task[dict[str, Any]], asyncio.ensure_future(anext(events))
                    )
                    done, _ = await asyncio.wait({next_event}, timeout=RECHECK_AFTER)
                    if not done:  # quiet for a while: a publish may have been lost
                        self._set(await self._read())
                        continue
                    event, next_event = next_event.result(), None
                    if event is RESUBSCRIBED:
                        self._set(await self._read())
                    else:
                        remaining, cancelled = int(event["remaining"]), bool(event.get("cancelled"))
                        self._set(StockState(max(remaining, 0), cancelled))
        except StopAsyncIteration:
            pass  # the bus stopped
        except Exception:
            log.warning("stock of flash sale %s no longer followed", self._sale.id, exc_info=True)
        finally:
            if next_event is not None:
                await cancel_and_wait(next_event)
            self._set(None)

    async def _read(self) -> StockState:
        keys = SaleKeys.of(self._rt.keys, self._sale.id)
        async with self._rt.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.stock)
            pipe.hget(keys.meta, "cancelled")
            stock, cancelled = await pipe.execute()
        if stock is None:  # Redis lost the sale: the record's count until it is rebuilt
            sale = self._sale
            return StockState(sale.total_stock - sale.sold, sale.cancelled_at is not None)
        return StockState(max(int(stock), 0), cancelled == "1")

    def _set(self, state: StockState | None) -> None:
        self._ready.set()
        if state is not None and state.same_as(self.state):
            return
        self.state = state
        waiting, self._waiting = list(self._waiting), {}
        self._wake(waiting, 0)

    def _wake(self, waiting: list[asyncio.Future[None]], start: int) -> None:
        """Resume the watchers WAKE_AT_ONCE at a time, a turn of the event loop each: a change
        seen by thousands leaves the process's requests (the entries themselves) their turn."""
        for waiter in waiting[start : start + WAKE_AT_ONCE]:
            if not waiter.done():
                waiter.set_result(None)
        if start + WAKE_AT_ONCE < len(waiting):
            asyncio.get_running_loop().call_soon(self._wake, waiting, start + WAKE_AT_ONCE)


async def watch_stock(
    rt: Backends, sale: FlashSale, still_valid: Callable[[], bool]
) -> AsyncIterator[StockState]:
    """The sale's stock and whether it was cancelled now, then at each change (published, or
    read again after the bus lost events or all was quiet), until the credentials expire."""
    watches: dict[int, _SaleWatch] = rt.helpers.setdefault("sale_watches", {})
    watch = watches.get(sale.id)
    if watch is None or watch.ended:
        watch = watches[sale.id] = _SaleWatch(rt, sale)
    watch.watchers += 1
    try:
        await watch.ready()
        state = watch.state
        while state is not None and still_valid():
            yield state
            await watch.changed_from(state)
            state = watch.state
    finally:
        watch.watchers -= 1
        if not watch.watchers:
            if watches.get(sale.id) is watch:
                del watches[sale.id]
            await watch.stop()
