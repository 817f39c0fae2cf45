"""The event bus: one Redis pub/sub connection per process, fanned out to many subscribers.

Publishers send JSON to a prefixed channel. Each process holds a single pattern subscription
on its prefix and hands every message to the in-process queues that asked for that channel, so
5,000 WebSocket subscribers cost one Redis connection, not 5,000.

Pub/sub keeps nothing: what is published while the connection is down is lost. Subscribers
that can read what they missed from a record ask to hear of it: after every resubscription
they get RESUBSCRIBED in their stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from db.keys import RedisKeys

log = logging.getLogger(__name__)

# Put into the streams that asked for it when the bus has subscribed again after losing its
# connection: events may have been missed meanwhile. Compared by identity.
RESUBSCRIBED: dict[str, Any] = {"resubscribed": True}
# Put into the streams that asked for it when nothing came for a while: a publisher may have
# failed to send (it commits first, publishes after). Compared by identity.
QUIET: dict[str, Any] = {"quiet": True}
START_TIMEOUT = 10.0


class EventBus:
    """Publish JSON events to channels; subscribe to a channel as an async iterator."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, queue_size: int = 1000) -> None:
        self._redis = redis
        self._keys = keys
        self._queue_size = queue_size
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = defaultdict(set)
        self._told_of_resubscription: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._subscribed_before = False
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Open the one pub/sub connection of this process and start fanning out."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="event-bus")
        try:
            await asyncio.wait_for(self._ready.wait(), START_TIMEOUT)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(f"Redis did not answer within {START_TIMEOUT:.0f} s.") from None

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        for queues in self._queues.values():
            for queue in queues:
                _put(queue, None)
        self._queues.clear()

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        """Send an event to every subscriber of `channel` in every process."""
        await self._redis.publish(self._keys.channel(channel), json.dumps(event))

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        channel: str,
        *,
        hear_resubscriptions: bool = False,
        quiet_after: float | None = None,
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Receive the events of `channel` published from now on, while the context is open.

        With `hear_resubscriptions`, RESUBSCRIBED also comes whenever events may have been lost;
        with `quiet_after`, QUIET comes after that many seconds without an event.
        """
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self._queue_size)
        self._queues[channel].add(queue)
        if hear_resubscriptions:
            self._told_of_resubscription.add(queue)
        try:
            yield _drain(queue, quiet_after)
        finally:
            self._told_of_resubscription.discard(queue)
            subscribers = self._queues.get(channel)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._queues[channel]

    def subscriber_count(self, channel: str) -> int:
        return len(self._queues.get(channel, ()))

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.psubscribe(self._keys.channel_pattern())
                    self._ready.set()
                    async for message in pubsub.listen():
                        if message["type"] == "pmessage":
                            self._fan_out(message["channel"], message["data"])
                        elif message["type"] == "psubscribe":
                            # Confirmed by Redis, also when redis-py reconnected on its own.
                            self._resubscribed()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event bus lost its Redis connection; reconnecting")
                await asyncio.sleep(0.5)

    def _resubscribed(self) -> None:
        if self._subscribed_before:
            log.info("event bus subscribed again; telling subscribers events may be missing")
            for queue in self._told_of_resubscription:
                _put(queue, RESUBSCRIBED)
        self._subscribed_before = True

    def _fan_out(self, channel: str, data: str) -> None:
        queues = self._queues.get(self._keys.strip_channel(channel))
        if not queues:
            return
        event = json.loads(data)
        for queue in queues:
            _put(queue, event)


def _put(queue: asyncio.Queue[dict[str, Any] | None], event: dict[str, Any] | None) -> None:
    if queue.full():
        # A subscriber that cannot keep up loses the oldest event, never blocks the rest;
        # consumers that need every event (balance versions) fill gaps from the record.
        queue.get_nowait()
    queue.put_nowait(event)


async def _drain(
    queue: asyncio.Queue[dict[str, Any] | None], quiet_after: float | None
) -> AsyncIterator[dict[str, Any]]:
    while True:
        try:
            event = await asyncio.wait_for(queue.get(), quiet_after)
        except TimeoutError:
            event = QUIET
        if event is None:
            return
        yield event
