"""Resolvers for tiers: a member's progress, and their tier changes live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from domain import records, tiers
from domain.ledger import live
from resolvers.context import Info, now_of, principal_of
from resolvers.ids import decode_id
from resolvers.loaders import Loaders


@dataclass(frozen=True, slots=True)
class TierChangeView:
    member: records.Member
    previous: records.Tier | None
    current: records.Tier | None
    changed_at: datetime


async def progress_of(info: Info, member: records.Member) -> tiers.TierProgress:
    return await tiers.progress(member, now_of(info))


def qualifying_of(progress: tiers.TierProgress) -> int:
    return progress.qualifying


def to_next_of(progress: tiers.TierProgress) -> int | None:
    return progress.to_next


async def tier_changed(info: Info, member_id: str | None) -> AsyncIterator[TierChangeView]:
    """Check access first (a refusal is the subscription's error), then stream the changes."""
    context = info.context
    principal = principal_of(info)
    wanted = decode_id(member_id, "Member", "memberId") if member_id is not None else None
    member = await live.watched_member(principal, wanted)

    async def changes() -> AsyncIterator[TierChangeView]:
        async for change in tiers.watch_tier_changes(context.backends, member):
            if not principal.still_valid():
                return
            context.loaders = Loaders(context.backends)
            previous = (
                await context.loaders.tier_by_id.load(change.previous_id)
                if change.previous_id
                else None
            )
            current = await context.loaders.tier_by_id.load(change.current_id)
            yield TierChangeView(member, previous, current, change.changed_at)

    return changes()
