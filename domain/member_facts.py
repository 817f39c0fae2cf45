"""What a flash sale's script needs to know of a member, cached so a refused entry never reads
PostgreSQL: their status and their tier's early access. Redis holds them for every process, and
each process keeps what it read too (saving a round trip per attempt in a stampede). A change
drops both: the Redis copy at once, and every process's own copy when the event bus tells it
(a process that may have missed such an event drops all it keeps). Stale facts cannot let a
frozen member buy: the entry's transaction checks the member's status again."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from db.models import Member, Tier
from db.redis import cancel_and_wait
from domain.runtime import Backends
from subscriptions.bus import RESUBSCRIBED

log = logging.getLogger(__name__)

FACTS_TTL_SECONDS = 30  # tier benefits an admin edits show within this + LOCAL_TTL_SECONDS
LOCAL_TTL_SECONDS = 10.0  # how long a process reuses facts it read (a change drops them)
LOCAL_MAX_ENTRIES = 100_000
CHANGED_CHANNEL = "member-facts-changed"


@dataclass(frozen=True, slots=True)
class MemberFacts:
    status: str
    early_access_minutes: int


class LocalFacts:
    """This process's copy of members' facts, dropped when the bus says they changed.

    Nothing is kept until the process listens on the bus; a read that a change overtook (its
    event came while Redis answered) is not kept either.
    """

    def __init__(self, rt: Backends) -> None:
        self._rt = rt
        self._kept: dict[int, tuple[float, MemberFacts]] = {}
        self._changes = 0  # events heard so far
        self._listening = False  # only what an event can drop is kept
        self._listener = asyncio.create_task(self._listen(), name="member-facts")

    async def get(self, member_id: int) -> MemberFacts:
        now = time.monotonic()
        kept = self._kept.get(member_id)
        if kept is not None and kept[0] > now:
            return kept[1]
        changes = self._changes
        facts = await _shared_facts(self._rt, member_id)
        if self._listening and changes == self._changes:
            if len(self._kept) >= LOCAL_MAX_ENTRIES:
                self._kept.clear()
            self._kept[member_id] = (now + LOCAL_TTL_SECONDS, facts)
        return facts

    def forget(self, member_id: int) -> None:
        self._changes += 1
        self._kept.pop(member_id, None)

    async def stop(self) -> None:
        await cancel_and_wait(self._listener)

    async def _listen(self) -> None:
        subscription = self._rt.bus.subscribe(CHANGED_CHANNEL, hear_resubscriptions=True)
        try:
            async with subscription as events:
                self._listening = True
                async for event in events:
                    self._changes += 1
                    if event is RESUBSCRIBED:
                        self._kept.clear()  # events may have been lost meanwhile
                    else:
                        self._kept.pop(event["memberId"], None)
        finally:  # the bus stopped: keep nothing more that no event could drop
            self._listening = False
            self._kept.clear()


def local_facts(rt: Backends) -> LocalFacts:
    kept = rt.helpers.get("member_facts")
    if kept is None:
        kept = rt.helpers["member_facts"] = LocalFacts(rt)
    return kept


def _key(rt: Backends, member_id: int) -> str:
    return rt.keys.key("member", member_id, "facts")


async def facts_of(rt: Backends, member_id: int) -> MemberFacts:
    return await local_facts(rt).get(member_id)


async def _shared_facts(rt: Backends, member_id: int) -> MemberFacts:
    cached = await rt.redis.get(_key(rt, member_id))
    if cached is not None:
        status, minutes = cached.split("|")
        return MemberFacts(status, int(minutes))
    member = await Member.get(id=member_id)
    tier = await Tier.get(id=member.tier_id)
    facts = MemberFacts(member.status.value, tier.flash_sale_early_access_minutes)
    await rt.redis.set(
        _key(rt, member_id), f"{facts.status}|{facts.early_access_minutes}", ex=FACTS_TTL_SECONDS
    )
    return facts


async def forget_facts(rt: Backends, member_id: int) -> None:
    """After a member's status or tier changed (committed): the next read is fresh, in every
    process. Best effort: without Redis the cached facts expire within FACTS_TTL_SECONDS."""
    local_facts(rt).forget(member_id)
    try:
        await rt.redis.delete(_key(rt, member_id))
        await rt.bus.publish(CHANGED_CHANNEL, {"memberId": member_id})
    except Exception:
        log.warning("facts of member %s not forgotten", member_id, exc_info=True)
