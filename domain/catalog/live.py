"""A catalog item's stock and availability, live (`catalogItemChanged`).

Whatever changes an item's stock or settings (a redemption, its cancel, the unpaid job, an
admin's change) announces the item on the bus after its commit. A watcher reads the item now,
then again after each announcement, at most every COALESCE seconds (announcements meanwhile are
one read), and only passes on what changed. A lost announcement is made good by a read after a
quiet RECHECK_AFTER seconds, and after the bus lost events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, cast

from db.models import CatalogItem, ItemStatus
from db.redis import cancel_and_wait
from domain.runtime import Backends
from subscriptions.bus import RESUBSCRIBED

log = logging.getLogger(__name__)

COALESCE = 0.1  # at most about ten updates a second, as flashSaleStock
RECHECK_AFTER = 30.0


def item_channel(item_id: int) -> str:
    return f"catalog-item:{item_id}"


async def announce_items(rt: Backends, item_ids: Iterable[int]) -> None:
    """After commit, best effort: a lost announcement shows within RECHECK_AFTER."""
    try:
        await rt.bus.publish_all([(item_channel(item_id), {"itemId": item_id})
                                  for item_id in sorted(set(item_ids))])  # fmt: skip
    except Exception:
        log.warning("catalog items %s not announced", sorted(set(item_ids)), exc_info=True)


def _state(item: CatalogItem) -> tuple[object, ...]:
    return (
        item.stock, item.status, item.points_price, item.cash_price, item.available_from,
        item.available_until, item.min_tier_id, item.updated_at,
    )  # fmt: skip


async def watch_item(
    rt: Backends, item: CatalogItem, still_valid: Callable[[], bool]
) -> AsyncIterator[CatalogItem]:
    """The item now, then each time it changed, until it is archived or the credentials
    expire."""
    next_event: asyncio.Task[dict[str, Any]] | None = None
    async with rt.bus.subscribe(item_channel(item.id), hear_resubscriptions=True) as events:
        try:
            current = await CatalogItem.get(id=item.id)
            yield current
            last_read = time.monotonic()
            while still_valid() and current.status is not ItemStatus.ARCHIVED:
                # Waited for with a timeout, never cancelled: that would end the stream.
                # ensure_future wraps an awaitable that is no future in a Task.
                next_event = next_event or cast(
                    asyncio.Task[dict[str, Any]], asyncio.ensure_future(anext(events))
                )
                done, _ = await asyncio.wait({next_event}, timeout=RECHECK_AFTER)
                if done:
                    event, next_event = next_event.result(), None
                    if event is not RESUBSCRIBED:
                        await asyncio.sleep(max(0.0, last_read + COALESCE - time.monotonic()))
                fresh = await CatalogItem.get(id=item.id)
                last_read = time.monotonic()
                if _state(fresh) != _state(current):
                    current = fresh
                    yield current
        except StopAsyncIteration:
            return  # the bus stopped
        finally:
            if next_event is not None:
                await cancel_and_wait(next_event)
