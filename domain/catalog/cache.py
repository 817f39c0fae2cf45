"""A brand's catalog as its pages read it, kept in each process.

Members open the catalog far more often than anything in it changes. Each process keeps each
brand's active items (oldest first) and its tiers, read in one statement (each as a plain copy
of its row, which the GraphQL types serve as they serve the models), and answers every page
from that copy:
- for at most FRESH_SECONDS: stock and availability changed anywhere (a redemption, a
  cancellation, the payment window's job) show within a second;
- an admin's change of an item (created, changed, approved or rejected, archived, restocked)
  drops the brand's copy at once in the process that made it and, through the event bus after
  its commit, in every other: prices and windows show at once;
- a member's page reads the brand's `earning_version` with the member (`items.shopper_of`),
  and a copy older than that (every change of a tier raises it) is read again: tiers show at
  once too.
A process keeps nothing until it listens on the bus (it could not hear a change), nor a read
that a change overtook; after the bus subscribed again (events may have been lost meanwhile)
it drops everything. The copies are shared by every request of the process: read-only.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.connection import get_connection
from tortoise.models import Model

from db import models
from db.models import ItemStatus
from db.redis import cancel_and_wait
from db.rows import model_of, row_of
from domain.errors import DomainError, ErrorCode
from domain.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Page,
    PageRequest,
    decode_cursor,
    encode_cursor,
)
from domain.runtime import Backends
from subscriptions.bus import RESUBSCRIBED

log = logging.getLogger(__name__)

FRESH_SECONDS = 0.5  # how long a copy answers pages: a change of stock shows within a second
MAX_BRANDS = 10_000  # copies kept per process (all dropped when there would be more)
CHANGED_CHANNEL = "catalog-changed"
ORDER = ("id",)

CATALOG_SQL = """
SELECT b.earning_version,
       ARRAY(SELECT i FROM catalog_item i WHERE i.brand_id = b.id AND i.status = $2
             ORDER BY i.id) AS items,
       ARRAY(SELECT t FROM tier t WHERE t.brand_id = b.id ORDER BY t.rank) AS tiers
FROM brand b WHERE b.id = $1
"""


class _Columns:
    """A record's columns as plain attributes, and its `pk`. A Tortoise model is awaitable (it
    has `__await__`), and graphql-core awaits whatever a field resolves to that is: every item
    of a page would cost a coroutine and a task. The GraphQL type of the same name serves it
    (schema/relay.py `Node.is_type_of`)."""

    def __init__(self, record: Model) -> None:
        self.__dict__.update(row_of(record))
        self.pk = record.pk


class CatalogItem(_Columns):
    """A catalog item of a brand's copy (`models.CatalogItem`'s columns)."""

    id: int
    min_tier_id: int | None


class Tier(_Columns):
    """A tier of a brand's copy (`models.Tier`'s columns)."""

    rank: int


@dataclass(frozen=True, slots=True, eq=False)
class BrandCatalog:
    """A brand's active items, by id, and its tiers, as read at `read_at` (monotonic)."""

    brand_id: int
    earning_version: int  # of the brand when its tiers were read
    items: tuple[CatalogItem, ...]
    ids: tuple[int, ...]
    cursors: tuple[str, ...]
    tiers: dict[int, Tier]
    read_at: float

    def holds(self, item: Any) -> bool:
        """Whether this very object is one of the copy's items (not a row read elsewhere)."""
        index = bisect.bisect_left(self.ids, item.id)
        return index < len(self.ids) and self.items[index] is item

    def min_tier_rank(self, item: CatalogItem) -> int | None:
        return self.tiers[item.min_tier_id].rank if item.min_tier_id is not None else None


def catalog_of(brand_id: int, row: dict[str, Any] | None, read_at: float) -> BrandCatalog:
    if row is None:
        return BrandCatalog(brand_id, 0, (), (), (), {}, read_at)
    items = tuple(CatalogItem(model_of(models.CatalogItem, item)) for item in row["items"])
    tiers = (Tier(model_of(models.Tier, tier)) for tier in row["tiers"])
    return BrandCatalog(
        brand_id,
        row["earning_version"],
        items,
        tuple(item.id for item in items),
        tuple(encode_cursor(item, ORDER) for item in items),
        {tier.id: tier for tier in tiers},
        read_at,
    )


class LocalCatalogs:
    """This process's copies of brands' catalogs (see the module)."""

    def __init__(self, rt: Backends) -> None:
        self._rt = rt
        self._kept: dict[int, BrandCatalog] = {}
        self._reading: dict[int, asyncio.Future[BrandCatalog]] = {}
        self._changes = 0  # changes heard of so far
        self._listening = False
        self._listener = asyncio.create_task(self._listen(), name="catalogs")

    async def get(self, brand_id: int, earning_version: int = 0) -> BrandCatalog:
        """The brand's catalog, read at most FRESH_SECONDS ago and with tiers of at least
        `earning_version`. Callers at the moment a copy is due share one read."""
        kept = self._kept.get(brand_id)
        if (
            kept is not None
            and time.monotonic() - kept.read_at < FRESH_SECONDS
            and kept.earning_version >= earning_version
        ):
            return kept
        reading = self._reading.get(brand_id)
        if reading is None:
            reading = self._reading[brand_id] = asyncio.ensure_future(self._read(brand_id))
            reading.add_done_callback(lambda done: self._done_reading(brand_id, done))
        catalog = await asyncio.shield(reading)
        if catalog.earning_version < earning_version:
            # Begun before the tiers changed: read them as they are now.
            catalog = await self._read(brand_id)
        return catalog

    def forget(self, brand_id: int) -> None:
        """Drop the brand's copy, and let no read begun before now be kept or shared."""
        self._changes += 1
        self._kept.pop(brand_id, None)
        self._reading.pop(brand_id, None)

    async def stop(self) -> None:
        await cancel_and_wait(self._listener)

    def _done_reading(self, brand_id: int, reading: asyncio.Future[BrandCatalog]) -> None:
        if self._reading.get(brand_id) is reading:
            del self._reading[brand_id]

    async def _read(self, brand_id: int) -> BrandCatalog:
        changes, began = self._changes, time.monotonic()
        rows = await get_connection("default").execute_query_dict(
            CATALOG_SQL, [brand_id, ItemStatus.ACTIVE.value]
        )
        catalog = catalog_of(brand_id, rows[0] if rows else None, began)
        if self._listening and changes == self._changes:
            if len(self._kept) >= MAX_BRANDS:
                self._kept.clear()
            self._kept[brand_id] = catalog
        return catalog

    async def _listen(self) -> None:
        subscription = self._rt.bus.subscribe(CHANGED_CHANNEL, hear_resubscriptions=True)
        try:
            async with subscription as events:
                self._listening = True
                async for event in events:
                    if event is RESUBSCRIBED:
                        self._changes += 1
                        self._kept.clear()
                        self._reading.clear()
                    else:
                        self.forget(event["brandId"])
        finally:  # the bus stopped: keep nothing more that no event could drop
            self._listening = False
            self._kept.clear()


def local_catalogs(rt: Backends) -> LocalCatalogs:
    kept = rt.helpers.get("catalogs")
    if kept is None:
        kept = rt.helpers["catalogs"] = LocalCatalogs(rt)
    return kept


async def brand_catalog(rt: Backends, brand_id: int, earning_version: int = 0) -> BrandCatalog:
    return await local_catalogs(rt).get(brand_id, earning_version)


async def catalog_changed(rt: Backends, brand_id: int) -> None:
    """After an admin's change of the brand's items (committed): the next page is read fresh,
    here at once and in every other process when the bus tells it. Best effort: a process
    that does not hear of it reads again within FRESH_SECONDS."""
    local_catalogs(rt).forget(brand_id)
    try:
        await rt.bus.publish(CHANGED_CHANNEL, {"brandId": brand_id})
    except Exception:
        log.warning("the catalog change of brand %s was not published", brand_id, exc_info=True)


def page_of(
    catalog: BrandCatalog,
    request: PageRequest,
    keep: Callable[[CatalogItem], bool] | None = None,
) -> Page[CatalogItem]:
    """A page of the copy's items (those `keep` keeps), as `domain.pagination.paginate` pages
    the same rows in the database: oldest first, keyset cursors on the id."""
    for size, argument in ((request.first, "first"), (request.last, "last")):
        if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"{argument} must be between 0 and {MAX_PAGE_SIZE}.",
                [argument],
            )
    if request.first is not None and request.last is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Pass first or last, not both.", ["first", "last"]
        )
    if keep is None:
        kept: Sequence[int] = range(len(catalog.items))
    else:
        kept = [index for index, item in enumerate(catalog.items) if keep(item)]
    start, end = 0, len(kept)
    if request.after is not None:
        (after,) = decode_cursor(request.after, ORDER, "after", models.CatalogItem)
        start = bisect.bisect_right(kept, after, key=lambda index: catalog.ids[index])
    if request.before is not None:
        (before,) = decode_cursor(request.before, ORDER, "before", models.CatalogItem)
        end = bisect.bisect_left(kept, before, key=lambda index: catalog.ids[index])
    window = kept[start:end] if start < end else []
    if request.last is not None or (request.before is not None and request.first is None):
        size = request.last if request.last is not None else DEFAULT_PAGE_SIZE
        chosen = window[max(0, len(window) - size) :] if size else []
        has_previous_page, has_next_page = len(window) > size, request.before is not None
    else:
        size = request.first if request.first is not None else DEFAULT_PAGE_SIZE
        chosen = window[:size]
        has_next_page, has_previous_page = len(window) > size, request.after is not None
    return Page(
        items=[catalog.items[index] for index in chosen],
        cursors=[catalog.cursors[index] for index in chosen],
        has_next_page=has_next_page,
        has_previous_page=has_previous_page,
        total_count=len(kept),
    )
