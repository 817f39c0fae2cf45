"""The reconciler: resolves holds nobody resolved (their process died) and rebuilds sales
Redis lost, from PostgreSQL's record. Runs in `serve` every few seconds and as
`pointsmall reconcile`; safe to run anywhere, any number of times.

Design: docs/flash-sales.md, "The reconciler".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from db.flash_sales import SaleKeys
from db.models import FlashSale, Redemption
from domain.flash_sales.stock import load_sale, resolve_hold
from domain.runtime import DEADLINE_MARGIN_MS, Backends

RECENT = timedelta(days=1)  # sales that ended longer ago are left alone


@dataclass(frozen=True, slots=True)
class Reconciled:
    rebuilt: int = 0
    confirmed: int = 0
    released: int = 0


async def reconcile(rt: Backends) -> Reconciled:
    """For every sale not long over: rebuild it when Redis lost it; resolve each hold past its
    deadline (plus the margin no transaction commits in) by the record: confirmed when its
    redemption exists, else released with its units back."""
    now = rt.clock.now()
    rebuilt = confirmed = released = 0
    for sale in await FlashSale.filter(ends_at__gt=now - RECENT).order_by("id"):
        keys = SaleKeys.of(rt.keys, sale.id)
        if not await rt.redis.exists(keys.meta):
            await load_sale(rt, sale)
            rebuilt += 1
            continue
        overdue_before = int(time.time() * 1000) + rt.clock.offset_ms() - DEADLINE_MARGIN_MS
        # The client decodes every answer (decode_responses): strings.
        overdue = await rt.redis.zrangebyscore(keys.holds, "-inf", overdue_before)
        for reservation in cast(list[str], overdue):
            redemption = await Redemption.get_or_none(reservation_id=reservation)
            recorded = cast(str | None, await rt.redis.hget(keys.outcomes, reservation)) or "H|?|0"
            fingerprint = recorded.split("|")[1]
            if redemption is not None:
                confirmed += await resolve_hold(
                    rt, sale.id, reservation, f"R|{fingerprint}|{redemption.id}", "confirm"
                )
            else:
                released += await resolve_hold(rt, sale.id, reservation, "", "release")
    return Reconciled(rebuilt, confirmed, released)
