"""What watching a balance costs: nothing while nothing moves; no read of the ledger for an
entry its event carries; and events lost between commit and publish reach their watchers
through the deployment's sweep (domain.ledger.events.announce_recent).

A "lost" event here is a real movement whose publish went to a channel no one listens on (the
movement is made through backends whose bus has another prefix), as a publisher that died
after its commit would leave it: the ledger has the entry, the watchers never heard of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from db.keys import RedisKeys
from db.models import LedgerEntry, Member
from domain.ledger.events import announce_recent
from domain.ledger.live import watch_entries
from domain.ledger.movements import adjust
from domain.principal import Principal, Role
from subscriptions.bus import EventBus
from tests.support.backend_calls import recording
from tests.support.ledger import pk

SETTLE = 0.5  # long enough for an event on loopback Redis to arrive


def admin(brand) -> Principal:
    return Principal(Role.ADMIN, brand.id, brand.code, "admin-1")


async def watching(runtime, member: Member, seen: list[int]) -> None:
    async for entry in watch_entries(runtime, member, None):
        seen.append(entry.version)


async def started_watchers(runtime, members: list[Member], seen: dict[int, list[int]]):
    tasks = [asyncio.create_task(watching(runtime, member, seen[member.id])) for member in members]
    await until_watched(runtime, members)
    return tasks


async def until_watched(runtime, members: list[Member]) -> None:
    channels = [f"balance:{member.id}" for member in members]
    for _ in range(200):
        if all(runtime.bus.subscriber_count(channel) for channel in channels):
            return
        await asyncio.sleep(0.05)
    pytest.fail("the watchers did not subscribe within 10 s")


async def lost_adjustment(runtime, brand, member: Member) -> None:
    """A committed movement whose event went where no watcher listens."""
    elsewhere = EventBus(runtime.redis, RedisKeys(f"nobody-{uuid.uuid4().hex[:8]}"))
    try:
        movement = await adjust(
            dataclasses.replace(runtime, bus=elsewhere),
            admin(brand),
            member.id,
            25,
            "lost event",
            uuid.uuid4().hex,
        )
        assert movement.entry is not None
    finally:
        await elsewhere.stop()


async def test_a_lost_event_reaches_its_watcher_at_the_next_sweep(
    runtime, brand, member_with_points
):
    created, _ = await member_with_points(100)
    member = await Member.get(id=pk(created["id"]))
    seen: dict[int, list[int]] = {member.id: []}
    (task,) = await started_watchers(runtime, [member], seen)
    try:
        await lost_adjustment(runtime, brand, member)
        await asyncio.sleep(SETTLE)
        assert seen[member.id] == []  # never published here

        assert await announce_recent(runtime) >= 1
        await asyncio.sleep(SETTLE)
        assert seen[member.id] == [2]  # the purchase was version 1

        await announce_recent(runtime)  # announced again: nothing twice
        await asyncio.sleep(SETTLE)
        assert seen[member.id] == [2]
    finally:
        task.cancel()


async def test_only_the_watcher_that_missed_an_event_reads_the_ledger(
    runtime, brand, member_with_points
):
    """The sweep announces every recently moved member; a watcher that has the announced
    version already sends nothing to PostgreSQL, so the sweep's cost follows the movements,
    not the number of watchers."""
    members = []
    for name in ("Ann", "Bo", "Cy", "Di", "Ed"):
        created, _ = await member_with_points(50, name=name)
        members.append(await Member.get(id=pk(created["id"])))
    seen: dict[int, list[int]] = {member.id: [] for member in members}
    async with recording() as calls:
        tasks = await started_watchers(runtime, members, seen)
        try:
            await asyncio.sleep(SETTLE)
            calls.sql.clear()  # what starting the watches sent
            calls.redis.clear()
            await asyncio.sleep(1.5)
            calls.assert_counts(sql=0, redis=0, case="idle watchers")

            await lost_adjustment(runtime, brand, members[0])
            await announce_recent(runtime)
            await asyncio.sleep(SETTLE)
            assert seen == {members[0].id: [2], **{member.id: [] for member in members[1:]}}
        finally:
            for task in tasks:
                task.cancel()
    # After the adjustment's transaction, the sweep's query and one read of the ledger: by the
    # watcher that missed the event, and by no one else.
    after_adjustment = calls.sql[calls.sql.index("COMMIT;") + 1 :]
    assert len(after_adjustment) == 2, calls.report()
    assert after_adjustment[0].startswith("SELECT member_id, max(version)"), calls.report()


async def test_the_next_entry_comes_with_its_event_and_is_not_read_back(
    runtime, brand, member_with_points
):
    """A movement's event carries its entry: the watcher delivers it as the ledger holds it,
    sending nothing to PostgreSQL."""
    created, _ = await member_with_points(100)
    member = await Member.get(id=pk(created["id"]))
    delivered: list[LedgerEntry] = []
    go = asyncio.Event()

    async def adjustment() -> None:  # started before the recording: not counted
        await go.wait()
        await adjust(runtime, admin(brand), member.id, -30, "a gift", uuid.uuid4().hex)

    async def watch() -> None:
        async for entry in watch_entries(runtime, member, None):
            delivered.append(entry)

    mover = asyncio.create_task(adjustment())
    async with recording() as calls:
        watcher = asyncio.create_task(watch())
        try:
            await until_watched(runtime, [member])
            await asyncio.sleep(SETTLE)
            calls.sql.clear()
            calls.redis.clear()
            go.set()
            await mover
            await asyncio.sleep(SETTLE)
            calls.assert_counts(sql=0, redis=0, case="the watcher, given its next entry")
        finally:
            watcher.cancel()
    (entry,) = delivered
    stored = await LedgerEntry.get(id=entry.id)
    assert {name: getattr(entry, name) for name in LedgerEntry._meta.db_fields} == {
        name: getattr(stored, name) for name in LedgerEntry._meta.db_fields
    }
