"""A brand's catalog as its pages read it, kept in each process.

Members open the catalog far more often than anything in it changes. Each process keeps each
brand's active items (oldest first), its tiers, its own row and its stores, read in one
statement (each as a plain copy of its row, which the GraphQL types serve as they serve the
models), and answers every catalog page, and the brand's own, from that copy:
- for at most FRESH_SECONDS: stock and availability changed anywhere (a redemption, a
  cancellation, the payment window's job) show within a second;
- an admin's change of an item (created, changed, approved or rejected, archived, restocked),
  of the brand's settings or of its stores drops the brand's copy at once in the process that
  made it and, through the event bus after its commit, in every other: prices, windows, names
  and stores show at once;
- a member's page reads the brand's `earning_version` with the member (`items.shopper_of`),
  and a copy older than that (every change of a tier raises it) is read again: tiers show at
  once too.
A process keeps nothing until it listens on the bus (it could not hear a change), nor a read
that a change overtook; after the bus subscribed again (events may have been lost meanwhile)
it drops everything. The copies are shared by every request of the process: read-only.

Design: docs/architecture.md, "Per-process copies, and how each stays fresh".
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.connection import get_connection
from tortoise.models import Model

from db import models
from db.models import ItemStatus
from db.rows import model_of, row_of
from domain.local_copies import BusDroppedCopies
from domain.pagination import (
    Page,
    PageRequest,
    backwards,
    check_request,
    decode_cursor,
    encode_cursor,
    page_size,
)
from domain.runtime import Backends

log = logging.getLogger(__name__)

FRESH_SECONDS = 0.5  # how long a copy answers pages: a change of stock shows within a second
MAX_BRANDS = 10_000  # copies kept per process (all dropped when there would be more)
CHANGED_CHANNEL = "catalog-changed"
ORDER = ("id",)

CATALOG_SQL = """
SELECT b AS brand,
       ARRAY(SELECT i FROM catalog_item i WHERE i.brand_id = b.id AND i.status = $2
             ORDER BY i.id) AS items,
       ARRAY(SELECT t FROM tier t WHERE t.brand_id = b.id ORDER BY t.rank) AS tiers,
       ARRAY(SELECT s FROM store s WHERE s.brand_id = b.id ORDER BY s.code) AS stores
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
    tag_codes: list[str]


class Tier(_Columns):
    """A tier of a brand's copy (`models.Tier`'s columns)."""

    id: int
    rank: int


class Store(_Columns):
    """A store of a brand's copy (`models.Store`'s columns)."""

    archived_at: datetime | None


class Brand(_Columns):
    """The brand's row in its copy (`models.Brand`'s columns)."""

    earning_version: int


@dataclass(frozen=True, slots=True, eq=False)
class BrandCatalog:
    """A brand's active items, by id, its tiers (by rank), its row and its stores (by code),
    as read at `read_at` (monotonic); `brand` is None for a brand there is not."""

    brand_id: int
    earning_version: int  # of the brand when its tiers were read
    items: tuple[CatalogItem, ...]
    ids: tuple[int, ...]
    cursors: tuple[str, ...]
    tiers: dict[int, Tier]
    read_at: float
    brand: Brand | None = None
    stores: tuple[Store, ...] = ()

    def holds(self, item: Any) -> bool:
        """Whether this very object is one of the copy's items (not a row read elsewhere)."""
        index = bisect.bisect_left(self.ids, item.id)
        return index < len(self.ids) and self.items[index] is item

    def stores_shown(self, include_archived: bool) -> list[Store]:
        """The brand's stores by code, as `brands.stores_of` reads them."""
        return [s for s in self.stores if include_archived or s.archived_at is None]

    def min_tier_rank(self, item: CatalogItem) -> int | None:
        return self.tiers[item.min_tier_id].rank if item.min_tier_id is not None else None


def catalog_of(brand_id: int, row: dict[str, Any] | None, read_at: float) -> BrandCatalog:
    if row is None:
        return BrandCatalog(brand_id, 0, (), (), (), {}, read_at)
    brand = Brand(model_of(models.Brand, row["brand"]))
    items = tuple(CatalogItem(model_of(models.CatalogItem, item)) for item in row["items"])
    tiers = (Tier(model_of(models.Tier, tier)) for tier in row["tiers"])
    return BrandCatalog(
        brand_id,
        brand.earning_version,
        items,
        tuple(item.id for item in items),
        tuple(encode_cursor(item, ORDER) for item in items),
        {tier.id: tier for tier in tiers},
        read_at,
        brand,
        tuple(Store(model_of(models.Store, store)) for store in row["stores"]),
    )


class LocalCatalogs(BusDroppedCopies[int, BrandCatalog]):
    """This process's copies of brands' catalogs (see the module)."""

    def __init__(self, rt: Backends) -> None:
        super().__init__(rt, CHANGED_CHANNEL, "brandId", MAX_BRANDS, "catalogs")
        self._reading: dict[int, asyncio.Future[BrandCatalog]] = {}

    async def get(self, brand_id: int, earning_version: int = 0) -> BrandCatalog:
        """The brand's catalog, read at most FRESH_SECONDS ago and with tiers of at least
        `earning_version`. Callers at the moment a copy is due share one read."""
        kept = self.kept.get(brand_id)
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
        super().forget(brand_id)
        self._reading.pop(brand_id, None)

    def forget_all(self) -> None:
        super().forget_all()
        self._reading.clear()

    def _done_reading(self, brand_id: int, reading: asyncio.Future[BrandCatalog]) -> None:
        if self._reading.get(brand_id) is reading:
            del self._reading[brand_id]

    async def _read(self, brand_id: int) -> BrandCatalog:
        changes, began = self.changes, time.monotonic()
        rows = await get_connection("default").execute_query_dict(
            CATALOG_SQL, [brand_id, ItemStatus.ACTIVE.value]
        )
        catalog = catalog_of(brand_id, rows[0] if rows else None, began)
        self.keep(brand_id, catalog, changes)
        return catalog


def local_catalogs(rt: Backends) -> LocalCatalogs:
    kept = rt.helpers.get("catalogs")
    if kept is None:
        kept = rt.helpers["catalogs"] = LocalCatalogs(rt)
    return kept


async def brand_catalog(rt: Backends, brand_id: int, earning_version: int = 0) -> BrandCatalog:
    return await local_catalogs(rt).get(brand_id, earning_version)


async def catalog_changed(rt: Backends, brand_id: int) -> None:
    """After an admin's change of the brand's items, settings or stores (committed): the next
    page is read fresh,
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
    check_request(request)
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
    size = page_size(request)
    if backwards(request):
        chosen = window[max(0, len(window) - size) :] if size else []
        has_previous_page, has_next_page = len(window) > size, request.before is not None
    else:
        chosen = window[:size]
        has_next_page, has_previous_page = len(window) > size, request.after is not None
    return Page(
        items=[catalog.items[index] for index in chosen],
        cursors=[catalog.cursors[index] for index in chosen],
        has_next_page=has_next_page,
        has_previous_page=has_previous_page,
        total_count=len(kept),
    )
