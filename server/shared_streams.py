"""Subscribers of one shared subscription in a process: one of them runs it, every one of them
gets its messages.

A subscription whose events are the same for every subscriber (schema/execution.py
`shares_events`: a flash sale's stock, say) is watched by thousands at once. Each subscriber's
first message comes through its own pipeline: it carries the field's permission checks and the
state as it found it. After that, one of them, the leader, goes on through its pipeline; each
message it gets is encoded once and written to every subscriber's socket with that
subscriber's operation id. When the leader leaves, the next subscriber to wake takes its place,
through its own pipeline (a message every subscriber has had already is not sent again).

A message with errors is not shared: it goes to the leader alone (an error may carry what is
the leader's own). A subscriber's credentials are still checked by its socket (server/sockets.py),
which closes once they no longer hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

# Sockets written to between two turns of the event loop: a message for thousands leaves the
# process's requests their turn meanwhile.
WRITES_AT_ONCE = 250


@dataclass(eq=False, slots=True)
class Subscriber:
    """One subscriber's operation: its id's JSON and how to write a text frame to its socket."""

    id_json: str
    write: Callable[[str], Awaitable[None]]
    is_completed: Callable[[], bool]

    async def send(self, payload: str) -> None:
        """A `next` message of its operation carrying `payload` (JSON), as strawberry writes it."""
        await self.write(f'{{"id":{self.id_json},"type":"next","payload":{payload}}}')


class SharedStream:
    """The subscribers of one document with the same variables, in this process."""

    def __init__(self, key: tuple[Any, ...], streams: SharedStreams) -> None:
        self.key = key
        self._streams = streams
        self.subscribers: dict[Subscriber, None] = {}  # in the order they joined
        self.leader: Subscriber | None = None
        self._vacant = asyncio.Event()  # the leader left
        self.last_payload: str | None = None

    def join(self, subscriber: Subscriber) -> None:
        self.subscribers[subscriber] = None

    def leave(self, subscriber: Subscriber) -> None:
        self.subscribers.pop(subscriber, None)
        if self.leader is subscriber:
            self.leader = None
            self._vacant.set()
        if not self.subscribers:
            self._streams.forget(self)

    def lead(self, subscriber: Subscriber) -> bool:
        """Whether `subscriber` leads, taking the lead if nobody does."""
        if self.leader is None:
            self.leader = subscriber
            self._vacant.clear()
        return self.leader is subscriber

    async def vacancy(self) -> None:
        await self._vacant.wait()

    async def broadcast(self, payload: str, besides: Subscriber) -> None:
        """Write the message of `payload` to every subscriber but `besides`."""
        written = 0
        for subscriber in list(self.subscribers):
            if subscriber is besides or subscriber not in self.subscribers:
                continue  # the leader has it; one that left meanwhile wants no more
            if subscriber.is_completed():
                continue
            if written and not written % WRITES_AT_ONCE:
                await asyncio.sleep(0)
                if subscriber not in self.subscribers:
                    continue
            written += 1
            try:
                await subscriber.send(payload)
            except Exception:
                continue


class SharedStreams:
    """This process's shared streams, by document, operation name and variables."""

    def __init__(self) -> None:
        self._streams: dict[tuple[Any, ...], SharedStream] = {}

    def stream_of(self, key: tuple[Any, ...]) -> SharedStream:
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = SharedStream(key, self)
        return stream

    def forget(self, stream: SharedStream) -> None:
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]

    def __len__(self) -> int:
        return len(self._streams)

    def __iter__(self) -> Iterator[SharedStream]:
        return iter(list(self._streams.values()))


def stream_key(query: str, operation_name: str | None, variables: Any) -> tuple[Any, ...]:
    return (query, operation_name, orjson.dumps(variables, option=orjson.OPT_SORT_KEYS))


async def shared_results(
    stream: SharedStream,
    subscriber: Subscriber,
    results: AsyncIterator[Any],
    payload_of: Callable[[Any], str | None],
) -> AsyncIterator[Any]:
    """The results a subscriber's own pipeline sends it: its first, then, while it leads,
    each next one, which is also written to the others. `payload_of` is a result's message
    payload as JSON, or None for one not to share."""
    first = await anext(results, None)
    if first is None:
        return
    yield first
    first_payload = payload_of(first)
    if first_payload is None:  # refused, or with errors: nothing to share
        async for result in results:
            yield result
        return
    stream.join(subscriber)
    try:
        if stream.last_payload not in (None, first_payload):
            # A change went to the others while its first message was on its way: the leader
            # will send any later one.
            await subscriber.send(stream.last_payload)
        while True:
            if not stream.lead(subscriber):
                await stream.vacancy()
                continue
            result = await anext(results, None)
            if result is None:
                return
            payload = payload_of(result)
            if payload is None:
                yield result  # its own alone
                continue
            if payload == stream.last_payload:
                continue  # the leader before it sent this one to everybody
            stream.last_payload = payload
            yield result
            await stream.broadcast(payload, besides=subscriber)
    finally:
        stream.leave(subscriber)
