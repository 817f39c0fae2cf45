"""noticeReceived: a member's notices live through the npm graphql-ws client (the one GraphiQL,
Apollo and urql use) against a live server; and the two ways a watcher gets a notice whose
event was lost: the sweep's announcement, and the bus resubscribing after Redis comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from tortoise.transactions import in_transaction

from db.keys import RedisKeys
from db.models import Brand, Member, NoticeKind
from db.redis import open_redis
from domain.ids import parse_id
from domain.notices.inbox import announce_recent_notices, watch_notices
from domain.notices.outbox import NoticeDraft, notice_channel, publish_notices, record
from domain.runtime import Backends
from subscriptions.bus import EventBus
from tests.support.clients import NodeClient, node_client
from tests.support.live import QUIET, TIMEOUT, admin_of, api

POLL = 0.05

NOTICE_RECEIVED = """
subscription ($memberId: ID) { noticeReceived(memberId: $memberId) { id kind title text read } }
"""
INBOX = "{ me { notices(first: 10) { edges { node { id kind } } } } }"


def pk_of(member: dict) -> int:
    parsed = parse_id(member["id"])
    assert parsed is not None and parsed[0] == "Member", member
    return parsed[1]


async def until_subscribed(redis: Redis, channel: str, running: Callable[[], bool]) -> None:
    """Wait until a process listens on `channel` in Redis: from then on, its events arrive.
    (noticeReceived starts 'from now on', at a moment the watcher cannot see.)"""
    for _ in range(int(TIMEOUT / POLL)):
        if (await redis.pubsub_numsub(channel))[0][1]:
            return
        if not running():
            return  # the caller reads why it ended
        await asyncio.sleep(POLL)
    pytest.fail(f"nobody subscribed to {channel} within {TIMEOUT} s")


# Through the npm client, against a live server --------------------------------------------


def still_running(client: NodeClient) -> Callable[[], bool]:
    """Whether the client's process runs, asked when `until_subscribed` needs to know."""
    return lambda: client.process.returncode is None


async def notices(client: NodeClient, count: int) -> list[dict]:
    """The next `count` notices the client received; fails on anything else."""
    return [(await client.result())["noticeReceived"] for _ in range(count)]


async def refusal(client: NodeClient) -> set[str]:
    """The error codes the subscription was refused with (as an `error` message, or as a
    result without data that completes it); no notice may come before them."""
    message = await client.line()
    if "next" in message:
        assert message["next"]["data"] is None, message
        assert await client.line() == {"complete": True}
        errors = message["next"]["errors"]
    else:
        assert isinstance(message.get("error"), list), message
        errors = message["error"]
    await client.process.wait()
    return {error["extensions"]["code"] for error in errors}


async def test_a_member_receives_their_earn_once_and_no_one_elses(
    live_server, runtime, redis, brand, make_token
):
    """The member's purchase arrives as one POINTS_EARNED notice, as their inbox shows it;
    another member's notice does not arrive; the member's next notice comes right after."""
    async with admin_of(live_server, brand, make_token) as staff, api(live_server) as gql:
        member, other = await staff.register("Ada"), await staff.register("Bo")
        token = make_token(brand, "MEMBER", member["id"])
        channel = runtime.bus.redis_channel(notice_channel(pk_of(member)))
        async with node_client(live_server, token, NOTICE_RECEIVED) as client:
            await until_subscribed(redis, channel, still_running(client))
            await staff.purchase(member["id"], "120.00")
            await staff.purchase(other["id"], "80.00")
            await staff.adjust(member["id"], 5)
            earned, adjusted = await notices(client, 2)
        inbox = (await gql(INBOX, token=token))["data"]["me"]["notices"]["edges"]

    assert earned == {
        "id": earned["id"],
        "kind": "POINTS_EARNED",
        "title": "积分到账",  # the brand's locale, zh-CN by default
        "text": earned["text"],
        "read": False,
    }
    assert "120" in earned["text"]
    assert adjusted["kind"] == "POINTS_ADJUSTED"
    assert [edge["node"] for edge in inbox] == [
        {"id": adjusted["id"], "kind": "POINTS_ADJUSTED"},
        {"id": earned["id"], "kind": "POINTS_EARNED"},
    ]


async def test_access_is_as_for_balance_changed(live_server, runtime, redis, brand, make_token):
    """STAFF must name the member (and then receive their notices); a member watches only
    their own."""
    async with admin_of(live_server, brand, make_token) as staff:
        member, other = await staff.register("Ada"), await staff.register("Bo")
        staff_token = make_token(brand, "STAFF", "clerk")
        async with node_client(live_server, staff_token, NOTICE_RECEIVED) as unnamed:
            assert await refusal(unnamed) == {"FORBIDDEN"}
        member_token = make_token(brand, "MEMBER", member["id"])
        foreign = {"memberId": other["id"]}
        async with node_client(live_server, member_token, NOTICE_RECEIVED, foreign) as watcher:
            assert await refusal(watcher) == {"FORBIDDEN"}

        channel = runtime.bus.redis_channel(notice_channel(pk_of(member)))
        named = {"memberId": member["id"]}
        async with node_client(live_server, staff_token, NOTICE_RECEIVED, named) as client:
            await until_subscribed(redis, channel, still_running(client))
            await staff.purchase(member["id"], "30.00")
            (earned,) = await notices(client, 1)
        assert earned["kind"] == "POINTS_EARNED" and "30" in earned["text"]


# In process: the sweep, and Redis restarting ------------------------------------------------


class Watcher:
    """`watch_notices` run in a task; what it hands on is queued for the test to take."""

    def __init__(self, rt: Backends, member: Member) -> None:
        self.handed_on: asyncio.Queue[dict] = asyncio.Queue()
        self.task = asyncio.create_task(self._watch(rt, member))

    async def _watch(self, rt: Backends, member: Member) -> None:
        async for notice in watch_notices(rt, member):
            self.handed_on.put_nowait(notice)

    def running(self) -> bool:
        return not self.task.done()

    async def next_id(self) -> int:
        """The id of the next notice handed on."""
        try:
            return (await asyncio.wait_for(self.handed_on.get(), TIMEOUT))["id"]
        except TimeoutError:
            pytest.fail(f"no notice handed on within {TIMEOUT} s")

    async def nothing_within(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            notice = await asyncio.wait_for(self.handed_on.get(), seconds)
            pytest.fail(f"unexpected notice handed on: {notice}")


@contextlib.asynccontextmanager
async def watching(rt: Backends, redis: Redis, member_id: int) -> AsyncIterator[Watcher]:
    """A watcher of the member's notices, subscribed; stopped on leaving."""
    watcher = Watcher(rt, await Member.get(id=member_id))
    try:
        channel = rt.bus.redis_channel(notice_channel(member_id))
        await until_subscribed(redis, channel, watcher.running)
        assert watcher.running(), watcher.task.result()
        yield watcher
    finally:
        watcher.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher.task


async def write_notice(rt: Backends, brand: Brand, member_id: int, subject: str) -> dict:
    """A notice committed as a movement writes one, not published yet."""
    draft = NoticeDraft(
        member_id,
        NoticeKind.POINTS_ADJUSTED,
        subject,
        {"points": 1, "balance": 1, "reason": subject},
    )
    async with in_transaction() as connection:
        (notice,) = await record(connection, brand, rt.clock.now(), [draft])
    return notice


async def told(rt: Backends, brand: Brand, member_id: int, subject: str) -> int:
    """A notice written and published, as movements do; its id."""
    notice = await write_notice(rt, brand, member_id, subject)
    await publish_notices(rt, [notice])
    return notice["id"]


async def test_the_sweep_hands_on_a_notice_whose_publish_was_lost(staff, brand, runtime, redis):
    member_id = pk_of(await staff.register())
    async with watching(runtime, redis, member_id) as watcher:
        lost = await write_notice(runtime, brand, member_id, "lost")
        await watcher.nothing_within(QUIET)  # no event: only the sweep can tell of it

        assert await announce_recent_notices(runtime) >= 1
        assert await watcher.next_id() == lost["id"]

        await announce_recent_notices(runtime)  # announced again: handed on already
        later = await told(runtime, brand, member_id, "later")
        assert await watcher.next_id() == later


async def test_the_sweep_hands_on_no_notice_from_before_the_watch(staff, brand, runtime, redis):
    """The watch is of notices from now on: one the member's inbox had before it started (and
    the app loaded with it) is not handed on again when the sweep announces it."""
    member_id = pk_of(await staff.register())
    await told(runtime, brand, member_id, "before")
    async with watching(runtime, redis, member_id) as watcher:
        await announce_recent_notices(runtime)
        during = await told(runtime, brand, member_id, "during")
        assert await watcher.next_id() == during


@contextlib.asynccontextmanager
async def backends_on(server: Any, clock: Any) -> AsyncIterator[tuple[Backends, Redis]]:
    """Backends whose Redis and bus are the test's own Redis server (started), and a plain
    client of it; closed on leaving."""
    url = f"unix://{server.socket}"
    redis, plain = open_redis(url), open_redis(url)
    keys = RedisKeys("notices-restart")
    bus = EventBus(redis, keys)
    try:
        await asyncio.wait_for(bus.start(), TIMEOUT)
        yield Backends(redis=redis, keys=keys, bus=bus, clock=clock), plain
    finally:
        await bus.stop()
        await redis.aclose()
        await plain.aclose()


async def test_a_notice_made_while_redis_restarts_is_read_back_once(
    staff, brand, runtime, private_redis
):
    """Its event is lost with Redis; once the bus has resubscribed, the watcher reads what it
    has not handed on: that notice, and not the one it had before."""
    member_id = pk_of(await staff.register())
    async with (
        backends_on(private_redis, runtime.clock) as (rt, redis),
        watching(rt, redis, member_id) as watcher,
    ):
        before = await told(rt, brand, member_id, "before")
        assert await watcher.next_id() == before

        await asyncio.to_thread(private_redis.stop)
        meanwhile = await told(rt, brand, member_id, "meanwhile")  # its publish fails
        await asyncio.to_thread(private_redis.start)
        assert await watcher.next_id() == meanwhile

        after = await told(rt, brand, member_id, "after")
        assert await watcher.next_id() == after
