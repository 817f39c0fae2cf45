"""A subscription whose subscribers all get the same messages (flashSaleStock selecting only
fields the same for every caller) runs one pipeline per process after each subscriber's first
message: the leader's, whose messages are encoded once and written to every subscriber
(server/shared_streams.py). Which documents qualify is schema/execution.py's `shares_events`."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from graphql import parse

from schema.build import build_schema
from schema.strawberry_internals import graphql_schema_of
from server.shared_streams import (
    WRITES_AT_ONCE,
    SharedStream,
    SharedStreams,
    Subscriber,
    shared_results,
)
from tests.support.flash_sales import PERSONAL, SHARED, enter, live_sale
from tests.support.live import bearer, connected, nothing_more, receive

END = object()


# The algorithm, on results fed by the test ---------------------------------------------------


@dataclass
class Result:
    data: Any
    errors: list | None = None


def payload_of(result: Result) -> str | None:
    return None if result.errors else json.dumps({"data": result.data})


@dataclass(eq=False)
class Watcher:
    """A subscriber's own pipeline (results the test feeds it) and everything it was sent."""

    number: int
    feed: asyncio.Queue = field(default_factory=asyncio.Queue)
    received: list[tuple[str, Any]] = field(default_factory=list)
    completed: bool = False
    broken: bool = False
    task: asyncio.Task | None = None

    @property
    def subscriber(self) -> Subscriber:
        return self._subscriber

    def __post_init__(self) -> None:
        self._subscriber = Subscriber(json.dumps(str(self.number)), self.write, self.is_done)

    def is_done(self) -> bool:
        return self.completed

    async def write(self, text: str) -> None:
        if self.broken:
            raise ConnectionError("closed")
        message = json.loads(text)
        assert message["id"] == str(self.number) and message["type"] == "next", message
        self.received.append(("shared", message["payload"]["data"]))

    async def results(self):
        while (item := await self.feed.get()) is not END:
            yield item

    async def run(self, stream: SharedStream) -> None:
        async for result in shared_results(stream, self.subscriber, self.results(), payload_of):
            self.received.append(("own", result.data))

    def data(self) -> list[Any]:
        return [data for _, data in self.received]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def watchers_on(stream: SharedStream, count: int, first: Any) -> list[Watcher]:
    watchers = []
    for number in range(count):
        watcher = Watcher(number)
        watcher.feed.put_nowait(Result(first))
        watcher.task = asyncio.create_task(watcher.run(stream))
        await settle()
        watchers.append(watcher)
    return watchers


async def stop(watchers: list[Watcher]) -> None:
    for watcher in watchers:
        if watcher.task is not None:
            watcher.task.cancel()
    await asyncio.gather(*(w.task for w in watchers if w.task), return_exceptions=True)


async def test_one_leader_runs_its_pipeline_and_every_subscriber_gets_its_messages():
    streams = SharedStreams()
    stream = streams.stream_of(("doc", None, b"{}"))
    watchers = await watchers_on(stream, 3, {"stock": 5})
    try:
        assert stream.leader is watchers[0].subscriber
        watchers[0].feed.put_nowait(Result({"stock": 4}))
        await settle()
        assert watchers[0].received == [("own", {"stock": 5}), ("own", {"stock": 4})]
        for follower in watchers[1:]:
            assert follower.received == [("own", {"stock": 5}), ("shared", {"stock": 4})]
            assert follower.feed.empty()  # its own pipeline was not asked for more
    finally:
        await stop(watchers)
    assert len(streams) == 0  # the last to leave removed the stream


async def test_when_the_leader_leaves_the_next_one_leads_without_repeating_a_message():
    stream = SharedStreams().stream_of(("doc", None, b"{}"))
    watchers = await watchers_on(stream, 3, {"stock": 5})
    try:
        watchers[0].feed.put_nowait(Result({"stock": 4}))
        await settle()
        await stop(watchers[:1])
        await settle()
        # The next leader's pipeline resumes with the state it last had from the old leader.
        watchers[1].feed.put_nowait(Result({"stock": 4}))
        await settle()
        assert stream.leader is watchers[1].subscriber
        watchers[1].feed.put_nowait(Result({"stock": 3}))
        await settle()
        assert watchers[1].data() == [{"stock": 5}, {"stock": 4}, {"stock": 3}]
        assert watchers[2].data() == [{"stock": 5}, {"stock": 4}, {"stock": 3}]
        assert watchers[2].received[-1][0] == "shared"
    finally:
        await stop(watchers)


async def test_a_result_with_errors_goes_to_the_leader_alone():
    stream = SharedStreams().stream_of(("doc", None, b"{}"))
    watchers = await watchers_on(stream, 2, {"stock": 5})
    try:
        watchers[0].feed.put_nowait(Result(None, errors=["the sale could not be read"]))
        await settle()
        assert watchers[0].data() == [{"stock": 5}, None]
        assert watchers[1].data() == [{"stock": 5}]
    finally:
        await stop(watchers)


async def test_a_subscriber_whose_first_message_was_refused_shares_nothing():
    stream = SharedStreams().stream_of(("doc", None, b"{}"))
    watcher = Watcher(7)
    watcher.feed.put_nowait(Result(None, errors=["not in your brand"]))
    watcher.task = asyncio.create_task(watcher.run(stream))
    try:
        await settle()
        assert stream.subscribers == {} and stream.leader is None
    finally:
        await stop([watcher])


async def test_a_change_sent_while_a_first_message_was_on_its_way_reaches_it_too():
    stream = SharedStreams().stream_of(("doc", None, b"{}"))
    watchers = await watchers_on(stream, 1, {"stock": 5})
    late = Watcher(1)
    late.feed.put_nowait(Result({"stock": 5}))  # read before the change
    try:
        watchers[0].feed.put_nowait(Result({"stock": 4}))
        await settle()
        late.task = asyncio.create_task(late.run(stream))
        await settle()
        assert late.received == [("own", {"stock": 5}), ("shared", {"stock": 4})]
    finally:
        await stop([*watchers, late])


async def test_a_completed_or_closed_subscriber_does_not_stop_the_others():
    stream = SharedStreams().stream_of(("doc", None, b"{}"))
    watchers = await watchers_on(stream, 4, {"stock": 5})
    watchers[1].completed, watchers[2].broken = True, True
    try:
        watchers[0].feed.put_nowait(Result({"stock": 4}))
        await settle()
        assert watchers[1].data() == watchers[2].data() == [{"stock": 5}]
        assert watchers[3].data() == [{"stock": 5}, {"stock": 4}]
    finally:
        await stop(watchers)


async def test_a_message_for_thousands_leaves_the_process_its_turns():
    stream = SharedStreams().stream_of(("doc", None, b"{}"))
    written: list[int] = []

    async def write(text: str) -> None:
        written.append(1)

    for number in range(4 * WRITES_AT_ONCE):
        stream.join(Subscriber(json.dumps(str(number)), write, lambda: False))
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while len(written) < 4 * WRITES_AT_ONCE:
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_turns())
    await stream.broadcast('{"data":{}}', besides=None)  # type: ignore[arg-type]
    await counter
    assert len(written) == 4 * WRITES_AT_ONCE
    assert turns >= 3


# Which documents share ----------------------------------------------------------------------


def test_only_a_subscription_of_events_the_same_for_everyone_selecting_such_fields_shares():
    from schema.execution import shares_events

    schema = graphql_schema_of(build_schema())

    def shares(text: str, name: str | None = None) -> bool:
        return shares_events(schema, parse(text), name)

    assert shares(SHARED)
    assert not shares(PERSONAL)  # memberPrice is the member's own
    assert not shares("subscription { balanceChanged(sinceVersion: 0) { balance } }")
    assert not shares(
        "subscription ($id: ID!) { a: flashSaleStock(flashSaleId: $id) { remainingStock } "
        "b: flashSaleStock(flashSaleId: $id) { remainingStock } }"
    )
    assert not shares(
        "subscription ($id: ID!, $s: Boolean!) "
        "{ flashSaleStock(flashSaleId: $id) @include(if: $s) { remainingStock } }"
    )
    assert not shares("query { brand { code } }")
    two = f"{SHARED.replace('subscription (', 'subscription One (')}\nquery Two {{ __typename }}"
    assert shares(two, "One") and not shares(two, "Two")


# On a real server, with real sockets ---------------------------------------------------------


async def subscribe(socket, number: int, document: str, sale_id: str) -> dict:
    await socket.send(
        json.dumps(
            {
                "id": str(number),
                "type": "subscribe",
                "payload": {"query": document, "variables": {"id": sale_id}},
            }
        )
    )
    return await receive(socket)


async def test_watchers_on_a_server_get_each_change_as_its_leader_comes_and_goes(
    live_server, staff, clock, gql, member_with_points
):
    created = await live_sale(staff, clock, totalStock=9, perMemberLimit=5)
    async with AsyncExitStack() as stack:
        sockets = {}
        for number in range(5):
            _, token = await member_with_points(0, name=f"Watcher {number}")
            socket = await stack.enter_async_context(connected(live_server, bearer(token)))
            first = await subscribe(socket, number, SHARED, created["id"])
            assert first["id"] == str(number) and first["type"] == "next", first
            assert first["payload"]["data"]["flashSaleStock"]["remainingStock"] == 9
            sockets[number] = socket
            await asyncio.sleep(0.1)  # joined in this order: the first leads

        _, buyer = await member_with_points(10_000, name="Buyer")
        for remaining, leaving in ((8, 0), (7, 3), (6, 1)):
            assert (await enter(gql, buyer, created["id"]))["userErrors"] == []
            messages = {number: await receive(socket) for number, socket in sockets.items()}
            for number, message in messages.items():
                assert (message["id"], message["type"]) == (str(number), "next"), message
            payloads = {json.dumps(message["payload"]) for message in messages.values()}
            assert len(payloads) == 1, payloads  # the same bytes for every one
            (payload,) = [message["payload"] for message in messages.values()][:1]
            assert payload["data"]["flashSaleStock"]["remainingStock"] == remaining
            await asyncio.gather(*(nothing_more(socket) for socket in sockets.values()))
            await sockets.pop(leaving).close()  # the leader first, then others


class InProcessSocket:
    """A graphql-transport-ws socket on the tests' own app, through ASGI messages."""

    def __init__(self, app: Any) -> None:
        self.received: asyncio.Queue = asyncio.Queue()
        self.sent: asyncio.Queue = asyncio.Queue()
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "scheme": "ws",
            "server": ("pointsmall.test", 80),
            "client": ("127.0.0.1", 50000),
            "headers": [(b"host", b"pointsmall.test")],
            "subprotocols": ["graphql-transport-ws"],
        }
        self.task = asyncio.create_task(app(scope, self.received.get, self.sent.put))

    async def open(self, token: str) -> None:
        await self.received.put({"type": "websocket.connect"})
        assert (await self.next_event())["type"] == "websocket.accept"
        await self.send({"type": "connection_init", "payload": bearer(token)})
        assert (await self.receive())["type"] == "connection_ack"

    async def next_event(self) -> dict:
        return await asyncio.wait_for(self.sent.get(), 10)

    async def send(self, message: dict) -> None:
        await self.received.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict:
        event = await self.next_event()
        assert event["type"] == "websocket.send", event
        return json.loads(event["text"])

    async def close(self) -> None:
        await self.received.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, 10)


async def test_the_server_runs_one_stream_for_a_shared_document_and_none_for_another(
    app, running_app, staff, clock, gql, member_with_points
):
    shared_streams = running_app[0].state.graphql.shared_streams
    created = await live_sale(staff, clock, totalStock=9)
    sockets: list[InProcessSocket] = []
    try:
        for number, document in enumerate([SHARED] * 3 + [PERSONAL] * 2):
            _, token = await member_with_points(0, name=f"Watcher {number}")
            socket = InProcessSocket(app)
            sockets.append(socket)
            await socket.open(token)
            await socket.send(
                {
                    "id": str(number),
                    "type": "subscribe",
                    "payload": {"query": document, "variables": {"id": created["id"]}},
                }
            )
            assert (await socket.receive())["type"] == "next"
        await settle()
        (stream,) = shared_streams
        assert stream.key[0] == SHARED and len(stream.subscribers) == 3
        assert stream.leader is next(iter(stream.subscribers))

        _, buyer = await member_with_points(1000, name="Buyer")
        assert (await enter(gql, buyer, created["id"]))["userErrors"] == []
        for number, socket in enumerate(sockets):
            message = await socket.receive()
            assert message["id"] == str(number), message
            assert message["payload"]["data"]["flashSaleStock"]["remainingStock"] == 8
    finally:
        for socket in sockets:
            await socket.close()
    assert len(shared_streams) == 0
