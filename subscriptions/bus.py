"""The event bus: one Redis pub/sub connection per process, fanned out to many subscribers.

Publishers send JSON to a prefixed channel. Each process subscribes its one connection to the
channels its own subscribers asked for, and hands each message to their in-process queues: 5,000
WebSocket subscribers cost one Redis connection, not 5,000, and a process hears (and decodes)
only the events someone in it is waiting for, however many processes publish.

A process sends what it publishes in the order it was published, and what was published while
Redis answered the last send goes out together, in one round trip (`_Publisher`).

On a Redis Cluster, PUBLISH reaches the subscribers on every node; the bus listens (redis-py's
ClusterPubSub) and publishes on the node of the channels' hash tag (db/keys.py).

Pub/sub keeps nothing: what is published while the connection is down is lost. Subscribers
that can read what they missed from a record ask to hear of it: after every resubscription
they get RESUBSCRIBED in their stream.

A subscriber holds a `Mailbox` (a bounded deque while events wait, and one future while it
waits), not an asyncio.Queue, whose futures, events and deques cost some 3 KB more per
subscriber: at 5,000 open pages, 15 MB. The subscription and its mailbox are plain objects, not
async generators, whose frames an idle watcher would hold for its whole life.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from db.keys import RedisKeys
from db.redis import RedisClient, cancel_and_wait

log = logging.getLogger(__name__)

# Put into the streams that asked for it when the bus has subscribed again after losing its
# connection: events may have been missed meanwhile. Compared by identity.
RESUBSCRIBED: dict[str, Any] = {"resubscribed": True}
START_TIMEOUT = 10.0
RETRY_SECONDS = 0.5
# The bus's own channel, which nobody publishes to: subscribed first on every connection, it
# keeps the connection listening while no one else subscribes, and its confirmation tells
# that the connection has (re)subscribed.
OWN_CHANNEL = "bus"


class _Reconnected(Exception):
    """The connection changed before Redis answered: ask again on the new one."""


class EventBus:
    """Publish JSON events to channels; subscribe to a channel as an async iterator."""

    def __init__(self, redis: RedisClient, keys: RedisKeys, *, queue_size: int = 1000) -> None:
        self._redis = redis
        self._keys = keys
        self._own_channel = keys.channel(OWN_CHANNEL)
        self._queue_size = queue_size
        self._queues: dict[str, set[Mailbox]] = {}
        self._told_of_resubscription: set[Mailbox] = set()
        self._subscribed_before = False
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: PubSub | None = None  # while connected and subscribed
        self._connected = asyncio.Event()
        # Channels subscribed to as barriers (see _confirmed), with who waits for them.
        self._barriers: dict[str, asyncio.Future[None]] = {}
        self._tokens = itertools.count()
        # SUBSCRIBE and UNSUBSCRIBE go out in the order the queues changed, one at a time.
        self._changing = asyncio.Lock()
        self._leaving: asyncio.Task[None] | None = None  # unsubscribing channels left meanwhile
        self._stopped = False
        self._publisher = _Publisher(redis)

    async def start(self) -> None:
        """Open the one pub/sub connection of this process and start fanning out."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="event-bus")
        try:
            await asyncio.wait_for(self._connected.wait(), START_TIMEOUT)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(f"Redis did not answer within {START_TIMEOUT:.0f} s.") from None

    async def stop(self) -> None:
        self._stopped = True
        await self._publisher.stop()
        for task in (self._listener, self._leaving):
            if task is not None:
                await cancel_and_wait(task)
        self._listener = self._leaving = None
        self._connected.set()  # wakes subscribers still waiting to subscribe: they end now
        for queues in self._queues.values():
            for queue in queues:
                queue.put(None)
        self._queues.clear()

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        """Send an event to every subscriber of `channel` in every process; return once
        Redis has it."""
        await self._publisher.publish(self.redis_channel(channel), orjson.dumps(event))

    async def publish_all(
        self, messages: Sequence[tuple[str, dict[str, Any]]], together: int = 500
    ) -> None:
        """Publish many (channel, event) pairs, `together` at a time (those published at once
        go to Redis in one pipeline); the first failure is raised once its batch was tried."""
        for start in range(0, len(messages), together):
            sent = await asyncio.gather(
                *(
                    self.publish(channel, event)
                    for channel, event in messages[start : start + together]
                ),
                return_exceptions=True,
            )
            for outcome in sent:
                if isinstance(outcome, BaseException):
                    raise outcome

    def subscribe(self, channel: str, *, hear_resubscriptions: bool = False) -> Subscription:
        """Receive the events of `channel` published from now on, while the context is open:
        it opens once Redis has subscribed this process to the channel.

        With `hear_resubscriptions`, RESUBSCRIBED also comes whenever events may have been lost.
        """
        return Subscription(self, channel, Mailbox(self._queue_size), hear_resubscriptions)

    async def join(self, channel: str, mailbox: Mailbox, hear_resubscriptions: bool) -> None:
        """A subscription's mailbox gets the channel's events; return once Redis has subscribed
        this process to it."""
        subscribers = self._queues.setdefault(channel, set())
        subscribers.add(mailbox)
        if hear_resubscriptions:
            self._told_of_resubscription.add(mailbox)
        try:
            await self._subscribed(channel, first=len(subscribers) == 1)
        except BaseException:
            await self.leave(channel, mailbox)
            raise

    async def leave(self, channel: str, mailbox: Mailbox) -> None:
        """A subscription's mailbox gets no more events; the last to leave a channel
        unsubscribes this process from it."""
        self._told_of_resubscription.discard(mailbox)
        subscribers = self._queues.get(channel)
        if subscribers is None or mailbox not in subscribers:
            return  # the bus stopped, and let go of every subscriber
        subscribers.discard(mailbox)
        if not subscribers:
            del self._queues[channel]
            await self._unsubscribe(channel)

    def subscriber_count(self, channel: str) -> int:
        return len(self._queues.get(channel, ()))

    def redis_channel(self, channel: str) -> str:
        """The channel's name in Redis: under the deployment's prefix."""
        return self._keys.channel(channel)

    async def _subscribed(self, channel: str, *, first: bool) -> None:
        """Return once Redis has the connection subscribed to `channel` (or the bus stopped).
        After a failure or a new connection, it subscribes again: twice is once in Redis."""
        while True:
            await self._connected.wait()
            pubsub = self._pubsub
            if self._stopped or pubsub is None:
                return
            try:
                if first:
                    async with self._changing:
                        await pubsub.subscribe(self.redis_channel(channel))
                await self._confirmed(pubsub)
                return
            except _Reconnected:
                first = True
            except (RedisError, OSError):
                first = True
                await asyncio.sleep(RETRY_SECONDS)  # the listener reconnects meanwhile

    async def _confirmed(self, pubsub: PubSub) -> None:
        """Return once Redis has done every command sent before on this connection: Redis
        answers in order, so it confirms a channel subscribed now after them. (A PING would
        do, but redis-py cannot read its answer on a decoding pub/sub connection.)"""
        barrier = f"{self._own_channel}:{next(self._tokens)}"
        confirmed = asyncio.get_running_loop().create_future()
        self._barriers[barrier] = confirmed
        try:
            await pubsub.subscribe(barrier)
            await confirmed
        finally:
            self._barriers.pop(barrier, None)
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(barrier)

    async def _unsubscribe(self, channel: str) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            return  # the next connection subscribes only to channels with a queue
        try:
            async with self._changing:
                await pubsub.unsubscribe(self.redis_channel(channel))
        except (RedisError, OSError):  # the connection is going; the next leaves the channel out
            log.debug("event bus could not unsubscribe from %s", channel, exc_info=True)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    channels = [self.redis_channel(channel) for channel in self._queues]
                    await pubsub.subscribe(self._own_channel, *channels)
                    async for message in pubsub.listen():
                        kind = message["type"]
                        if kind == "message":
                            self._fan_out(message["channel"], message["data"])
                        elif kind == "subscribe":
                            self._subscription_confirmed(pubsub, message["channel"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event bus lost its Redis connection; reconnecting")
                self._disconnected()
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                self._disconnected()

    def _subscription_confirmed(self, pubsub: PubSub, name: str) -> None:
        barrier = self._barriers.get(name)
        if barrier is not None and not barrier.done():
            barrier.set_result(None)
        elif name == self._own_channel:
            # Confirmed by Redis, also when redis-py reconnected on its own.
            self._resubscribed(pubsub)

    def _resubscribed(self, pubsub: PubSub) -> None:
        # Barriers sent before may have gone down with the connection before: ask again.
        self._disconnected()
        self._pubsub = pubsub
        self._connected.set()
        if self._subscribed_before:
            log.info("event bus subscribed again; telling subscribers events may be missing")
            for queue in self._told_of_resubscription:
                queue.put(RESUBSCRIBED)
            # redis-py resubscribes to what it knew, left channels included.
            left = [
                name
                for name in pubsub.channels
                if name != self._own_channel and self._channel_of(name) not in self._queues
            ]
            if left:
                self._leaving = asyncio.create_task(self._unsubscribe_left(pubsub, left))
        self._subscribed_before = True

    async def _unsubscribe_left(self, pubsub: PubSub, left: list[str]) -> None:
        """Unsubscribe from the channels redis-py subscribed to again that no one here wants."""
        async with self._changing:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(
                    *(name for name in left if self._channel_of(name) not in self._queues)
                )

    def _disconnected(self) -> None:
        self._pubsub = None
        self._connected.clear()
        for barrier in self._barriers.values():
            if not barrier.done():
                barrier.set_exception(_Reconnected())

    def _channel_of(self, name: str | bytes) -> str:
        return self._keys.strip_channel(name if isinstance(name, str) else name.decode())

    def _fan_out(self, channel: str, data: str) -> None:
        queues = self._queues.get(self._channel_of(channel))
        if not queues:
            return
        event = orjson.loads(data)
        for queue in queues:
            queue.put(event)


class _Publisher:
    """Sends a process's PUBLISH commands in order, those waiting meanwhile together.

    redis-py spends about 100 µs of CPU on a command of its own and under 30 µs on each of
    eight in a pipeline. One task sends: the first event at once, then whatever was published
    while Redis answered, as one pipeline. Each publisher waits until Redis has its event.
    """

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._waiting: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def publish(self, channel: str, message: bytes) -> None:
        sent = asyncio.get_running_loop().create_future()
        self._waiting.append((channel, message, sent))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send(), name="event-bus-publisher")
        await sent

    async def stop(self) -> None:
        if self._sender is not None:
            await cancel_and_wait(self._sender)

    async def _send(self) -> None:
        batch: list[tuple[str, bytes, asyncio.Future[None]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                failure: Exception | None = None
                try:
                    await self._send_batch(batch)
                except Exception as error:  # each publisher decides what a failure means
                    failure = error
                _settle(batch, failure)
                batch = []
        finally:
            self._sender = None
            unsent, self._waiting = [*batch, *self._waiting], []
            _settle(unsent, RuntimeError("the event bus stopped before the event was sent"))

    async def _send_batch(self, batch: list[tuple[str, bytes, asyncio.Future[None]]]) -> None:
        if len(batch) == 1 or isinstance(self._redis, RedisCluster):
            # redis-py's cluster pipelines refuse PUBLISH: one after the other, in order.
            for channel, message, _ in batch:
                await self._redis.publish(channel, message)
            return
        async with self._redis.pipeline(transaction=False) as pipeline:
            for channel, message, _ in batch:
                pipeline.publish(channel, message)
            await pipeline.execute()


def _settle(
    batch: list[tuple[str, bytes, asyncio.Future[None]]], failure: Exception | None
) -> None:
    for _, _, sent in batch:
        if sent.done():
            continue  # its publisher was cancelled
        if failure is None:
            sent.set_result(None)
        else:
            sent.set_exception(failure)


class Subscription:
    """`EventBus.subscribe`'s context: its mailbox is in the bus while it is open. A class,
    not an async generator: one is held open by every watcher, for as long as it watches."""

    __slots__ = ("bus", "channel", "hear_resubscriptions", "mailbox")

    def __init__(
        self, bus: EventBus, channel: str, mailbox: Mailbox, hear_resubscriptions: bool
    ) -> None:
        self.bus = bus
        self.channel = channel
        self.mailbox = mailbox
        self.hear_resubscriptions = hear_resubscriptions

    async def __aenter__(self) -> Mailbox:
        await self.bus.join(self.channel, self.mailbox, self.hear_resubscriptions)
        return self.mailbox

    async def __aexit__(self, *exc_info: object) -> None:
        await self.bus.leave(self.channel, self.mailbox)


class Mailbox:
    """A subscriber's events, in order, at most `size` of them: one that cannot keep up loses
    the oldest, never blocks the rest (consumers that need every event, such as balance
    versions, fill gaps from the record). None ends the stream. It iterates them itself, not
    through an async generator, and holds a deque only while events wait: an idle subscriber
    costs neither a generator's frame nor an empty deque's block. A consumer with no task
    waiting on it asks to be called when the next event comes instead (`on_put`)."""

    __slots__ = ("_ended", "_events", "_on_put", "_size", "_waiter")

    def __init__(self, size: int) -> None:
        self._size = size
        self._events: deque[dict[str, Any] | None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._on_put: Callable[[], None] | None = None
        self._ended = False

    def put(self, event: dict[str, Any] | None) -> None:
        if self._events is None:
            self._events = deque(maxlen=self._size)
        self._events.append(event)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        elif self._on_put is not None:
            on_put, self._on_put = self._on_put, None
            on_put()

    def empty(self) -> bool:
        """Whether the next step would wait for an event."""
        return not self._events and not self._ended

    def on_put(self, callback: Callable[[], None]) -> None:
        """Call `callback` once, when the next event (or the end) comes."""
        self._on_put = callback

    def __aiter__(self) -> Mailbox:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._ended:
            raise StopAsyncIteration
        while not self._events:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        event = self._events.popleft()
        if not self._events:
            self._events = None
        if event is None:
            self._ended = True
            raise StopAsyncIteration
        return event
