"""The live balance: balanceChanged over graphql-transport-ws, against real uvicorn servers.

Movements are made over HTTP while a subscriber listens on a socket: it must see every entry
once, in version order, with nothing missed where the replay of `sinceVersion` meets the live
events, also when the movements are made by another process. Who may watch whom is checked
as for every other read of a member.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from domain.brands import create_brand
from tests.support.factories import Staff, unique_code
from tests.support.live import (
    admin_of,
    bearer,
    codes,
    connected,
    nothing_more,
    receive,
    start_live_server,
    stop_live_server,
)

PRIME_WAIT = 0.5

BALANCE_CHANGED = """
subscription ($memberId: ID, $sinceVersion: Int) {
  balanceChanged(memberId: $memberId, sinceVersion: $sinceVersion) {
    available
    version
    member { id }
    entry { kind points balanceAfter version }
  }
}
"""

LEDGER = """
query ($id: ID!) {
  member(id: $id) {
    ledger(first: 100) { edges { node { kind points balanceAfter version } } }
  }
}
"""


# Calling the servers -----------------------------------------------------------------------


def entry_of(payload: dict) -> dict:
    """A movement's entry, as balanceChanged shows it."""
    assert payload["userErrors"] == [], payload
    entry = payload["entry"]
    return {key: entry[key] for key in ("kind", "points", "balanceAfter", "version")}


async def ledger_of(staff: Staff, member_id: str) -> list[dict]:
    """The member's entries, oldest first."""
    body = await staff.gql(LEDGER, {"id": member_id}, token=staff.token)
    assert "errors" not in body, body
    return [edge["node"] for edge in reversed(body["data"]["member"]["ledger"]["edges"])]


# Speaking graphql-transport-ws -------------------------------------------------------------


async def subscribe(socket: ClientConnection, operation: str = "1", **variables: Any) -> None:
    await socket.send(
        json.dumps(
            {
                "id": operation,
                "type": "subscribe",
                "payload": {"query": BALANCE_CHANGED, "variables": variables},
            }
        )
    )


def change_in(message: dict, operation: str = "1") -> dict:
    assert message.get("id") == operation and message["type"] == "next", message
    assert "errors" not in message["payload"], message
    return message["payload"]["data"]["balanceChanged"]


async def changes(socket: ClientConnection, count: int, operation: str = "1") -> list[dict]:
    """The next `count` balance changes; fails on anything else, or when they do not come."""
    received: list[dict] = []
    try:
        while len(received) < count:
            received.append(change_in(await receive(socket), operation))
    except TimeoutError:
        pytest.fail(f"{len(received)} of {count} changes arrived: {versions(received)}")
    return received


async def refusal(socket: ClientConnection, operation: str = "1") -> list[dict]:
    """The errors that end a refused subscription; no change may come before them."""
    message = await receive(socket)
    assert message.get("id") == operation, message
    if message["type"] == "error":
        return message["payload"]
    assert message["type"] == "next", message
    assert message["payload"]["data"] is None, message
    ending = await receive(socket)
    assert ending == {"id": operation, "type": "complete"}, ending
    return message["payload"]["errors"]


def versions(received: list[dict]) -> list[int]:
    return [change["version"] for change in received]


def shown(change: dict) -> dict:
    """A change must agree with its own entry: the balance after it, at its version."""
    assert change["available"] == change["entry"]["balanceAfter"], change
    assert change["version"] == change["entry"]["version"], change
    return change["entry"]


async def until_live(socket: ClientConnection, staff: Staff, member_id: str) -> int:
    """Make small movements until the subscription reports one: from then on it is live.

    Without sinceVersion a subscription starts 'from now on', at a moment the client cannot
    see; the first change it reports marks it. Returns the latest version, all reported.
    """
    for _ in range(40):
        latest = entry_of(await staff.adjust(member_id, 1))["version"]
        try:
            first = change_in(await receive(socket, PRIME_WAIT))
        except TimeoutError:
            continue
        rest = await changes(socket, latest - first["version"])
        assert versions([first, *rest]) == list(range(first["version"], latest + 1))
        return latest
    pytest.fail("the subscription reported none of 40 movements")


# Who sees what ----------------------------------------------------------------------------


async def test_a_member_sees_each_of_their_movements_in_order(live_server, brand, make_token):
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        token = make_token(brand, "MEMBER", subject=member["id"])
        async with connected(live_server, bearer(token)) as socket:
            await subscribe(socket)
            latest = await until_live(socket, staff, member["id"])
            made = [
                entry_of(await staff.purchase(member["id"], "120.50", orderRef="A1")),
                entry_of(await staff.adjust(member["id"], -20)),
                entry_of(await staff.reverse(member["id"], "A1", "60.25")),
                entry_of(await staff.adjust(member["id"], 7)),
                entry_of(await staff.purchase(member["id"], "0.99")),
            ]
            assert [entry["version"] for entry in made] == list(
                range(latest + 1, latest + 1 + len(made))
            )
            received = await changes(socket, len(made))
            assert [shown(change) for change in received] == made
            assert {change["member"]["id"] for change in received} == {member["id"]}
            await nothing_more(socket)


async def test_a_member_may_not_watch_another_member(live_server, brand, make_token):
    async with admin_of(live_server, brand, make_token) as staff:
        member, other = await staff.register("Ada"), await staff.register("Bob")
        await staff.adjust(other["id"], 10)
        token = make_token(brand, "MEMBER", subject=member["id"])
        async with connected(live_server, bearer(token)) as socket:
            await subscribe(socket, memberId=other["id"], sinceVersion=0)
            assert codes(await refusal(socket)) == {"FORBIDDEN"}
            # Naming themselves is the same as naming no one.
            await subscribe(socket, "2", memberId=member["id"], sinceVersion=0)
            await staff.adjust(member["id"], 3)
            (change,) = await changes(socket, 1, "2")
            assert change["member"]["id"] == member["id"] and change["available"] == 3


@pytest.mark.parametrize("role", ["STAFF", "ADMIN"])
async def test_staff_name_a_member_of_their_own_brand(live_server, brand, make_token, role):
    other_brand = await create_brand(unique_code(), "Other Brand")
    async with (
        admin_of(live_server, brand, make_token) as staff,
        admin_of(live_server, other_brand, make_token) as other_staff,
    ):
        member = await staff.register()
        stranger = await other_staff.register()
        await staff.adjust(member["id"], 5)
        await other_staff.adjust(stranger["id"], 5)
        async with connected(live_server, bearer(make_token(brand, role, "clerk"))) as socket:
            await subscribe(socket, "missing", sinceVersion=0)
            assert codes(await refusal(socket, "missing")) == {"FORBIDDEN"}
            await subscribe(socket, "stranger", memberId=stranger["id"], sinceVersion=0)
            assert codes(await refusal(socket, "stranger")) == {"FORBIDDEN"}
            await subscribe(socket, "own", memberId=member["id"], sinceVersion=0)
            (change,) = await changes(socket, 1, "own")
            assert shown(change) == {"kind": "ADJUST", "points": 5, "balanceAfter": 5, "version": 1}


async def test_analysts_and_visitors_are_refused(live_server, brand, make_token):
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        await staff.adjust(member["id"], 5)
    analyst = bearer(make_token(brand, "ANALYST", "analyst-1"))
    async with connected(live_server, analyst) as socket:
        await subscribe(socket, memberId=member["id"], sinceVersion=0)
        assert codes(await refusal(socket)) == {"FORBIDDEN"}
    async with connected(live_server, {"X-Brand": brand.code}) as socket:
        await subscribe(socket, memberId=member["id"], sinceVersion=0)
        # A visitor is not signed in: either code refuses; no change may be shown.
        assert codes(await refusal(socket)) <= {"FORBIDDEN", "UNAUTHENTICATED"}


async def test_a_refusal_is_an_error_message_for_the_subscription(live_server, brand, make_token):
    """graphql-transport-ws: a subscription refused before it starts gets an `error` message
    for its id (and nothing after it), not a `next` carrying errors."""
    async with admin_of(live_server, brand, make_token) as staff:
        member, other = await staff.register("Ada"), await staff.register("Bob")
    token = make_token(brand, "MEMBER", subject=member["id"])
    async with connected(live_server, bearer(token)) as socket:
        await subscribe(socket, memberId=other["id"])
        message = await receive(socket)
        assert message["type"] == "error" and message["id"] == "1", message
        assert codes(message["payload"]) == {"FORBIDDEN"}
        await nothing_more(socket)


# No gap, no duplicate ----------------------------------------------------------------------


async def burst(staff: Staff, member_id: str, workers: int, each: int) -> list[dict]:
    """Concurrent movements on one member: `workers` callers, each making `each` in a row."""

    async def worker(number: int) -> list[dict]:
        made = []
        for step in range(each):
            if step % 3 == 0:
                payload = await staff.purchase(member_id, f"{number + step + 1}.50")
            else:
                payload = await staff.adjust(member_id, step + 1, reason=f"worker {number}")
            made.append(entry_of(payload))
        return made

    results = await asyncio.gather(*(worker(number) for number in range(workers)))
    return [entry for made in results for entry in made]


@pytest.mark.parametrize("since", [0, 3])
async def test_since_version_replays_then_follows_live_without_a_seam(
    live_server, brand, make_token, since
):
    """Subscribing in the middle of a burst: the entries after `since` once each, in order."""
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        for points in (10, 20, 30, 40):
            await staff.adjust(member["id"], points)
        workers, each = 6, 10
        total = 4 + workers * each
        writing = asyncio.create_task(burst(staff, member["id"], workers, each))
        try:
            async with connected(live_server, bearer(make_token(brand, "STAFF", "s"))) as socket:
                # Subscribe once the burst is well under way, so the replay meets live events.
                while (await staff.balance(member["id"]))["version"] < 4 + workers * each // 3:
                    assert not writing.done()
                    await asyncio.sleep(0.01)
                await subscribe(socket, memberId=member["id"], sinceVersion=since)
                received = await changes(socket, total - since)
                made = await writing
                assert versions(received) == list(range(since + 1, total + 1))
                await nothing_more(socket)
        finally:
            writing.cancel()
        assert sorted(entry["version"] for entry in made) == list(range(5, total + 1))
        ledger = await ledger_of(staff, member["id"])
        assert [shown(change) for change in received] == ledger[since:]


async def test_every_version_once_in_order_when_another_process_writes(
    live_server, settings, brand, make_token
):
    """Subscriber on server A, many concurrent writers on server B: events cross Redis."""
    writer = await asyncio.to_thread(start_live_server, settings)
    try:
        async with (
            admin_of(writer, brand, make_token) as staff,
            connected(live_server, bearer(make_token(brand, "STAFF", "s"))) as socket,
        ):
            member, neighbour = await staff.register("Ada"), await staff.register("Bob")
            await subscribe(socket, memberId=member["id"], sinceVersion=0)
            # Once version 1 is shown the replay is over: what follows can only come live.
            await staff.adjust(member["id"], 1)
            (first,) = await changes(socket, 1)
            assert first["version"] == 1
            workers, each = 8, 10
            made, _ = await asyncio.gather(
                burst(staff, member["id"], workers, each),
                burst(staff, neighbour["id"], 2, 10),
            )
            total = 1 + workers * each
            received = await changes(socket, total - 1)
            assert versions(received) == list(range(2, total + 1))
            assert {change["member"]["id"] for change in received} == {member["id"]}
            by_version = {entry["version"]: entry for entry in made}
            assert [shown(change) for change in received] == [
                by_version[version] for version in range(2, total + 1)
            ]
            await nothing_more(socket)
    finally:
        await asyncio.to_thread(stop_live_server, writer)


# When Redis goes away -----------------------------------------------------------------------


async def test_a_movement_stands_when_redis_is_down(settings, private_redis, brand, make_token):
    """Events are wake-up calls, the ledger is the record: a committed movement is reported as
    made even when its event cannot be published, and a subscriber connected throughout gets
    the entry it missed once Redis is back, with no further movement."""
    server = await asyncio.to_thread(
        start_live_server, settings, env={"REDIS_URL": f"unix://{private_redis.socket}"}
    )
    try:
        async with (
            admin_of(server, brand, make_token) as staff,
            connected(server, bearer(make_token(brand, "STAFF", "s"))) as socket,
        ):
            member = await staff.register()
            await subscribe(socket, memberId=member["id"], sinceVersion=0)
            await staff.adjust(member["id"], 5)
            (first,) = await changes(socket, 1)
            assert first["version"] == 1
            await asyncio.to_thread(private_redis.stop)
            payload = await staff.adjust(member["id"], 7)
            assert entry_of(payload) == {
                "kind": "ADJUST",
                "points": 7,
                "balanceAfter": 12,
                "version": 2,
            }
            await asyncio.to_thread(private_redis.start)
            (second,) = await changes(socket, 1)
            assert shown(second) == entry_of(payload)
    finally:
        await asyncio.to_thread(stop_live_server, server)


async def test_a_since_version_ahead_of_the_ledger_is_refused(live_server, brand, make_token):
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        await staff.adjust(member["id"], 5)
    token = make_token(brand, "MEMBER", subject=member["id"])
    async with connected(live_server, bearer(token)) as socket:
        await subscribe(socket, sinceVersion=2)
        message = await receive(socket)
        assert message["type"] == "error" and codes(message["payload"]) == {"BAD_REQUEST"}


async def test_a_watch_ends_when_its_token_expires(live_server, brand, make_token):
    """Nothing reaches a subscriber once the token it connected with has expired: the socket
    is closed with 4401 (Unauthorized), and the client signs in again."""
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        token = make_token(brand, "MEMBER", subject=member["id"], ttl_seconds=3)
        async with connected(live_server, bearer(token)) as socket:
            await subscribe(socket, sinceVersion=0)
            await staff.adjust(member["id"], 5)
            assert versions(await changes(socket, 1)) == [1]
            await asyncio.sleep(3.5)
            await staff.adjust(member["id"], 5)
            with pytest.raises(ConnectionClosed) as closed:
                message = await receive(socket)
                pytest.fail(f"a message after the token expired: {message}")
            assert closed.value.rcvd.code == 4401
