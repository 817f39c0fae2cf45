"""Balance events: published after commit, one per entry, carrying the member's version."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from domain.runtime import Backends


def balance_channel(member_id: int) -> str:
    return f"balance:{member_id}"


def published_entries(entries: list[Any]) -> list[list[int]]:
    """What a movement's outcome keeps of its entries, to publish them after commit."""
    return [[entry.id, entry.version, entry.balance_after] for entry in entries]


async def publish_balance_changes(rt: Backends, member_id: int, entries: list[list[int]]) -> None:
    """Tell every API process about a member's new entries, in version order."""
    for entry_id, version, available in entries:
        await rt.bus.publish(
            balance_channel(member_id),
            {
                "memberId": member_id,
                "entryId": entry_id,
                "version": version,
                "available": available,
            },
        )


@asynccontextmanager
async def balance_changes(rt: Backends, member_id: int) -> AsyncIterator[AsyncIterator[dict]]:
    """The member's balance events published from now on (not yet ordered nor gap-free)."""
    async with rt.bus.subscribe(balance_channel(member_id)) as events:
        yield events
