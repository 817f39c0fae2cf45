"""What a flash sale's script needs to know of a member, cached so a refused entry never reads
PostgreSQL: their status and their tier's early access. Redis holds them for every process,
and each process keeps what it read for a moment more (saving a round trip per attempt in a
stampede); changes drop both. Stale facts cannot let a frozen member buy: the entry's
transaction checks the member's status again."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from db.models import Member, Tier
from domain.runtime import Backends

log = logging.getLogger(__name__)

FACTS_TTL_SECONDS = 30  # tier benefits edited by an admin show within this long
LOCAL_TTL_SECONDS = 2.0  # how long a process reuses facts it read
LOCAL_MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class MemberFacts:
    status: str
    early_access_minutes: int


_local: dict[int, tuple[float, MemberFacts]] = {}


def _key(rt: Backends, member_id: int) -> str:
    return rt.keys.key("member", member_id, "facts")


async def facts_of(rt: Backends, member_id: int) -> MemberFacts:
    now = time.monotonic()
    local = _local.get(member_id)
    if local is not None and local[0] > now:
        return local[1]
    facts = await _shared_facts(rt, member_id)
    if len(_local) >= LOCAL_MAX_ENTRIES:
        _local.clear()
    _local[member_id] = (now + LOCAL_TTL_SECONDS, facts)
    return facts


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
    """After a member's status or tier changed (committed): the next read is fresh. Best
    effort: without Redis the cached facts expire within FACTS_TTL_SECONDS anyway."""
    _local.pop(member_id, None)
    try:
        await rt.redis.delete(_key(rt, member_id))
    except Exception:
        log.warning("facts of member %s not forgotten", member_id, exc_info=True)
