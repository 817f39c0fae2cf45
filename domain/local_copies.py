"""What a process keeps of what it read, dropped when the event bus says it changed.

The catalog's copies (domain/catalog/cache.py) and members' facts (domain/member_facts.py) keep
per key what they read, for as long as it may be trusted: nothing is kept until the process
listens on the bus (it could not hear a change), nor a read that a change overtook (its event
came while the read was under way); after the bus subscribed again (events may have been lost
meanwhile) everything is dropped, and when the bus stops too.

Design: docs/architecture.md, "Per-process copies, and how each stays fresh".
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from db.redis import cancel_and_wait
from domain.runtime import Backends
from subscriptions.bus import RESUBSCRIBED

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BusDroppedCopies(Generic[K, V]):
    """Per-key copies, dropped by the events of `channel` naming their key under `key_field`."""

    def __init__(
        self, rt: Backends, channel: str, key_field: str, max_kept: int, name: str
    ) -> None:
        self._rt = rt
        self._channel, self._key_field, self._max_kept = channel, key_field, max_kept
        self.kept: dict[K, V] = {}
        self.changes = 0  # changes heard of so far: a read begun before a change is not kept
        self.listening = False
        self._listener = asyncio.create_task(self._listen(), name=name)

    def keep(self, key: K, value: V, changes_when_read: int) -> None:
        """Keep what was read, unless the process could not hear of a change to it, or heard
        of one since the read began."""
        if self.listening and changes_when_read == self.changes:
            if len(self.kept) >= self._max_kept:
                self.kept.clear()
            self.kept[key] = value

    def forget(self, key: K) -> None:
        """Drop the key's copy, and let no read begun before now be kept."""
        self.changes += 1
        self.kept.pop(key, None)

    def forget_all(self) -> None:
        self.changes += 1
        self.kept.clear()

    async def stop(self) -> None:
        await cancel_and_wait(self._listener)

    async def _listen(self) -> None:
        subscription = self._rt.bus.subscribe(self._channel, hear_resubscriptions=True)
        try:
            async with subscription as events:
                self.listening = True
                async for event in events:
                    if event is RESUBSCRIBED:
                        self.forget_all()
                    else:
                        self.forget(self._key_of(event))
        finally:  # the bus stopped: keep nothing more that no event could drop
            self.listening = False
            self.kept.clear()

    def _key_of(self, event: Any) -> K:
        key: K = event[self._key_field]
        return key
