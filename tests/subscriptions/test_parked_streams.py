"""A taken-over balanceChanged stream waits for its next event with no task of its own
(schema/strawberry_internals.py `park`): an event gives it one, a `complete` from the client or
the socket's close while it waits ends it and leaves the member's channel. In the app's own
process, over its ASGI interface, so that its tasks and its bus can be looked at."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from domain.ledger.events import balance_channel
from domain.ledger.movements import adjust
from domain.principal import Principal, Role
from subscriptions.bus import RESUBSCRIBED
from tests.support.ledger import pk

TIMEOUT = 10.0
WATCH = "subscription { balanceChanged(sinceVersion: 0) { version } }"


class Socket:
    """One graphql-transport-ws connection to the ASGI app, driven by hand."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        await self.incoming.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any]:
        event = await asyncio.wait_for(self.outgoing.get(), TIMEOUT)
        assert event["type"] == "websocket.send", event
        return json.loads(event["text"])

    async def open(self) -> None:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
            "subprotocols": ["graphql-transport-ws"],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        await self.incoming.put({"type": "websocket.connect"})
        self.task = asyncio.create_task(self.app(scope, self.incoming.get, self.outgoing.put))
        accepted = await asyncio.wait_for(self.outgoing.get(), TIMEOUT)
        assert accepted["type"] == "websocket.accept", accepted
        init = {"Authorization": f"Bearer {self.token}"}
        await self.send({"type": "connection_init", "payload": init})
        assert (await self.receive())["type"] == "connection_ack"

    async def close(self) -> None:
        await self.incoming.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        await asyncio.wait_for(self.task, TIMEOUT)


@asynccontextmanager
async def socket_of(app: Any, token: str) -> AsyncIterator[Socket]:
    socket = Socket(app, token)
    await socket.open()
    try:
        yield socket
    finally:
        if socket.task is not None and not socket.task.done():
            await socket.close()


def operation_tasks() -> list[asyncio.Task[Any]]:
    """The tasks running a GraphQL operation over a socket (strawberry's or a continuation)."""
    names = ("run_operation", "_continue_operation")
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").endswith(names)
    ]


async def until(condition, what: str) -> None:
    for _ in range(int(TIMEOUT / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {TIMEOUT} s: {what}")


async def watching(socket: Socket, runtime: Any, member_id: int) -> None:
    """Subscribed, its replay of version 1 in, and waiting for the next event."""
    await socket.send({"id": "1", "type": "subscribe", "payload": {"query": WATCH}})
    first = await socket.receive()
    assert first == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"balanceChanged": {"version": 1}}},
    }
    channel = balance_channel(member_id)
    await until(lambda: runtime.bus.subscriber_count(channel) == 1, "subscribed")
    await until(lambda: not operation_tasks(), "no operation's task while it waits")


@pytest.fixture
async def watcher(app, runtime, brand, member_with_points):
    """A member's socket watching their balance, waiting for its next event; the member's
    id; an admin to move their points."""
    member, token = await member_with_points(100)
    member_id = pk(member["id"])
    admin = Principal(Role.ADMIN, brand.id, brand.code, "admin-1")
    async with socket_of(app, token) as socket:
        await watching(socket, runtime, member_id)
        yield socket, member_id, admin


async def test_a_waiting_stream_has_no_task_and_an_event_gives_it_one(runtime, watcher):
    socket, member_id, admin = watcher
    for version, points in ((2, 5), (3, -7)):
        await adjust(runtime, admin, member_id, points, "a test", uuid.uuid4().hex)
        message = await socket.receive()
        assert message["payload"]["data"]["balanceChanged"]["version"] == version
        await until(lambda: not operation_tasks(), "no operation's task once it waits again")


async def test_a_complete_while_it_waits_ends_it_and_leaves_the_channel(runtime, watcher):
    socket, member_id, admin = watcher
    await socket.send({"id": "1", "type": "complete"})
    await until(lambda: not runtime.bus.subscriber_count(balance_channel(member_id)), "left")
    await adjust(runtime, admin, member_id, 5, "a test", uuid.uuid4().hex)
    # The same id may be used again at once, as strawberry allows after a complete.
    await socket.send({"id": "1", "type": "subscribe", "payload": {"query": WATCH}})
    replayed = await socket.receive()
    assert replayed["id"] == "1"
    assert replayed["payload"]["data"]["balanceChanged"]["version"] == 1


async def test_a_socket_closed_while_its_stream_waits_leaves_the_channel(runtime, watcher):
    socket, member_id, _ = watcher
    await socket.close()
    assert not runtime.bus.subscriber_count(balance_channel(member_id))


def events_arrive(runtime: Any, member_id: int) -> None:
    """What the bus's listener does when the member's channel has an event, in this very turn
    of the loop: it puts it in each mailbox (and a parked operation is resumed)."""
    for mailbox in runtime.bus._queues[balance_channel(member_id)]:
        mailbox.put(RESUBSCRIBED)


async def test_a_complete_in_the_turn_an_event_resumes_the_stream_leaves_the_channel(
    runtime, watcher
):
    socket, member_id, _ = watcher
    # The socket reads the complete in the turn the event resumes the operation: its task is
    # cancelled before it has run at all.
    await socket.send({"id": "1", "type": "complete"})
    events_arrive(runtime, member_id)
    await until(lambda: not runtime.bus.subscriber_count(balance_channel(member_id)), "left")
    assert not operation_tasks()


async def test_a_close_in_the_turn_an_event_resumes_the_stream_leaves_the_channel(runtime, watcher):
    socket, member_id, _ = watcher
    await socket.incoming.put({"type": "websocket.disconnect", "code": 1000})
    events_arrive(runtime, member_id)
    assert socket.task is not None
    await asyncio.wait_for(socket.task, TIMEOUT)
    assert not runtime.bus.subscriber_count(balance_channel(member_id))
