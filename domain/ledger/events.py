"""Balance events: published after commit, one per entry, carrying the member's version.

An event is only a wake-up call; the ledger is the record. So publishing is best effort: a
movement that committed stands even when its events cannot be sent (Redis down), and watchers
read what they missed from the ledger when the bus is back (see `balance_changes`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from domain.runtime import Backends
from subscriptions.bus import QUIET, RESUBSCRIBED

log = logging.getLogger(__name__)


def balance_channel(member_id: int) -> str:
    return f"balance:{member_id}"


def published_entries(entries: list[Any]) -> list[list[int]]:
    """What a movement's outcome keeps of its entries, to publish them after commit."""
    return [[entry.id, entry.version, entry.balance_after] for entry in entries]


async def publish_balance_changes(rt: Backends, member_id: int, entries: list[list[int]]) -> None:
    """Tell every API process about a member's new entries, in version order.

    Called after commit: a failure here must not turn a movement that was made into an error
    (the caller would be told it failed, and its retry would replay without publishing).
    """
    for entry_id, version, available in entries:
        try:
            await rt.bus.publish(
                balance_channel(member_id),
                {
                    "memberId": member_id,
                    "entryId": entry_id,
                    "version": version,
                    "available": available,
                },
            )
        except Exception:
            log.warning(
                "balance event of member %s, version %s, not published; watchers will read "
                "it from the ledger",
                member_id,
                version,
                exc_info=True,
            )
            return  # the rest would fail alike, each after its own retries


# A watcher rereads the ledger after this long without an event: a publish that failed after
# its commit is made good within it.
RECHECK_AFTER = 30.0


def may_have_missed(event: dict) -> bool:
    """Whether an event says only that events may have been lost: the bus lost Redis, or all
    was quiet for a while (a publisher may have failed after its commit)."""
    return event is RESUBSCRIBED or event is QUIET


@asynccontextmanager
async def balance_changes(rt: Backends, member_id: int) -> AsyncIterator[AsyncIterator[dict]]:
    """The member's balance events published from now on (not yet ordered nor gap-free), and
    a `may_have_missed` event whenever some may have been lost."""
    async with rt.bus.subscribe(
        balance_channel(member_id), hear_resubscriptions=True, quiet_after=RECHECK_AFTER
    ) as events:
        yield events
