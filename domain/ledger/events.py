"""Balance events: published after commit, one per entry, carrying the member's version.

An event is only a wake-up call; the ledger is the record. So publishing is best effort: a
movement that committed stands even when its events cannot be sent (Redis down), and watchers
read what they missed from the ledger when the bus is back (see `balance_changes`).

An event lost between commit and publish (a publish that failed, a process that died in
between) is made good by one sweep for the whole deployment (`announce_recent`, a periodic
job): every SWEEP_EVERY seconds it announces the latest version of each member whose ledger
moved in the last SWEEP_WINDOW seconds. A watcher that has that version already does nothing;
one that missed it reads the ledger. Its cost follows the movements, not the watchers: an
idle watcher does no work at all.

Design: docs/events.md, "Balance events: every version once, in order".
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from tortoise.connection import get_connection

from db.models import LedgerEntry
from db.rows import model_of, row_of
from domain.runtime import Backends
from subscriptions.bus import RESUBSCRIBED, Subscription

log = logging.getLogger(__name__)


def balance_channel(member_id: int) -> str:
    return f"balance:{member_id}"


def published_entries(entries: list[LedgerEntry]) -> list[list[Any]]:
    """What to publish of a movement's entries after commit: id, version, balance after and
    the entry itself, so that watchers need not read it back."""
    return [[entry.id, entry.version, entry.balance_after, row_of(entry)] for entry in entries]


def entry_of(row: dict[str, Any]) -> LedgerEntry:
    """The entry an event carried, as the ORM would load it from its row."""
    return model_of(
        LedgerEntry,
        {
            **row,
            "created_at": datetime.fromisoformat(row["created_at"]),
            "expires_at": row["expires_at"] and datetime.fromisoformat(row["expires_at"]),
        },
    )


async def publish_balance_changes(rt: Backends, member_id: int, entries: list[list[Any]]) -> None:
    """Tell every API process about a member's new entries, in version order.

    Called after commit: a failure here must not turn a movement that was made into an error
    (the caller would be told it failed, and its retry would replay without publishing).
    """
    for entry_id, version, available, row in entries:
        event = {
            "memberId": member_id,
            "entryId": entry_id,
            "version": version,
            "available": available,
            "entry": row,
        }
        try:
            await rt.bus.publish(balance_channel(member_id), event)
        except Exception:
            log.warning(
                "balance event of member %s, version %s, not published; watchers will read "
                "it from the ledger",
                member_id,
                version,
                exc_info=True,
            )
            return  # the rest would fail alike, each after its own retries


SWEEP_EVERY = 10.0  # seconds: a lost event reaches its watchers within about this long
# Longer than SWEEP_EVERY, so a movement whose transaction outlasts the gap between two sweeps
# (its entry is stamped when written, seen when committed) is still in the next one's window.
SWEEP_WINDOW = timedelta(seconds=25)
RECENT_VERSIONS_SQL = """
SELECT member_id, max(version) AS version FROM ledger_entry
WHERE created_at >= $1
GROUP BY member_id
"""


async def announce_recent(rt: Backends) -> int:
    """Announce each recently moved member's latest version on its channel (the sweep in the
    module's docstring); how many members were announced."""
    since = rt.clock.now() - SWEEP_WINDOW
    rows = await get_connection("default").execute_query_dict(RECENT_VERSIONS_SQL, [since])
    await rt.bus.publish_all(
        [
            (balance_channel(row["member_id"]),
             {"memberId": row["member_id"], "version": row["version"]})
            for row in rows
        ]
    )  # fmt: skip
    return len(rows)


def may_have_missed(event: dict[str, Any]) -> bool:
    """Whether an event says only that events may have been lost: the bus lost Redis."""
    return event is RESUBSCRIBED


def balance_changes(rt: Backends, member_id: int) -> Subscription:
    """The member's balance events published from now on (not yet ordered nor gap-free), the
    sweep's announcements, and a `may_have_missed` event whenever some may have been lost, while
    the subscription's context is open."""
    return rt.bus.subscribe(balance_channel(member_id), hear_resubscriptions=True)
