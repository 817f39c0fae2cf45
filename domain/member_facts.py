"""What a flash sale's script needs to know of a member, cached so a refused entry never reads
PostgreSQL: their status and their tier's early access. Redis holds them for every process, and
each process keeps what it read too (saving a round trip per attempt in a stampede). A change
drops both: the Redis copy at once, and every process's own copy when the event bus tells it
(a process that may have missed such an event drops all it keeps). Stale facts cannot let a
frozen member buy: the entry's transaction checks the member's status again.

Design: docs/flash-sales.md, "What a member's facts cost".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import cast

from db.models import Member, Tier
from domain.local_copies import BusDroppedCopies
from domain.runtime import Backends

log = logging.getLogger(__name__)

FACTS_TTL_SECONDS = 30  # tier benefits an admin edits show within this + LOCAL_TTL_SECONDS
LOCAL_TTL_SECONDS = 10.0  # how long a process reuses facts it read (a change drops them)
LOCAL_MAX_ENTRIES = 100_000
CHANGED_CHANNEL = "member-facts-changed"


@dataclass(frozen=True, slots=True)
class MemberFacts:
    status: str
    early_access_minutes: int


class LocalFacts(BusDroppedCopies[int, tuple[float, MemberFacts]]):
    """This process's copy of members' facts, each until its monotonic deadline, dropped when
    the bus says they changed (domain/local_copies.py)."""

    def __init__(self, rt: Backends) -> None:
        super().__init__(rt, CHANGED_CHANNEL, "memberId", LOCAL_MAX_ENTRIES, "member-facts")

    async def get(self, member_id: int) -> MemberFacts:
        now = time.monotonic()
        kept = self.kept.get(member_id)
        if kept is not None and kept[0] > now:
            return kept[1]
        changes = self.changes
        facts = await _shared_facts(self._rt, member_id)
        self.keep(member_id, (now + LOCAL_TTL_SECONDS, facts), changes)
        return facts


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
    # The client decodes every answer (decode_responses): a string.
    cached = cast(str | None, await rt.redis.get(_key(rt, member_id)))
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
