"""What a flash sale's script needs to know of a member, cached in Redis so a refused entry
never reads PostgreSQL: their status and their tier's early access. Changes drop the cache."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from db.models import Member, Tier
from domain.runtime import Backends

log = logging.getLogger(__name__)

FACTS_TTL_SECONDS = 30  # tier benefits edited by an admin show within this long


@dataclass(frozen=True, slots=True)
class MemberFacts:
    status: str
    early_access_minutes: int


def _key(rt: Backends, member_id: int) -> str:
    return rt.keys.key("member", member_id, "facts")


async def facts_of(rt: Backends, member_id: int) -> MemberFacts:
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
    try:
        await rt.redis.delete(_key(rt, member_id))
    except Exception:
        log.warning("facts of member %s not forgotten", member_id, exc_info=True)
