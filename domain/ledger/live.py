"""Watching a member's balance live: every entry once, in version order, without gaps.

Events from pub/sub may arrive late, twice or out of order (movements commit in version
order but publish from different tasks and processes), or not at all (Redis down). So an event
is only a wake-up call: the watcher reads the entries after the last version it delivered, up
to the event's, from the ledger, which is the record; and when the bus says events may have
been lost, it reads all the entries after the last delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from db.models import Balance, LedgerEntry, Member
from domain.errors import AccessDenied
from domain.ledger.events import balance_changes, may_have_missed
from domain.ledger.reads import entries_between
from domain.principal import Principal, Role
from domain.runtime import Backends


async def watched_member(principal: Principal, member_id: int | None) -> Member:
    """Whose balance the caller may watch: a member their own, staff and admins any of theirs."""
    if principal.role is Role.MEMBER:
        if member_id is not None and member_id != principal.member_id:
            raise AccessDenied("A member watches only their own balance.")
        member_id = principal.member_id
    elif principal.role in (Role.STAFF, Role.ADMIN):
        if member_id is None:
            raise AccessDenied("Name the member to watch with memberId.")
    else:
        raise AccessDenied("Only members, staff and admins watch balances.")
    member = await Member.get_or_none(id=member_id, brand_id=principal.brand_id)
    if member is None:
        raise AccessDenied("No such member in your brand.")
    return member


async def watch_entries(
    rt: Backends, member: Member, since_version: int | None
) -> AsyncIterator[LedgerEntry]:
    """The member's entries after `since_version` (or from now on), then live ones."""
    async with balance_changes(rt, member.id) as events:
        # Subscribed before reading where to start: nothing committed after this read is missed.
        if since_version is None:
            last = (await Balance.get(member_id=member.id)).version
        else:
            last = max(since_version, 0)
        for entry in await entries_between(member.id, last):
            yield entry
            last = entry.version
        async for event in events:
            upto = None if may_have_missed(event) else event["version"]
            if upto is not None and upto <= last:
                continue
            for entry in await entries_between(member.id, last, upto):
                yield entry
                last = entry.version
