"""Watching a member's balance live: every entry once, in version order, without gaps.

Events from pub/sub may arrive late, twice or out of order (movements commit in version
order but publish from different tasks and processes), or not at all (Redis down). An event
carries its entry: when it is the next version, the watcher delivers it as it came. Otherwise
the event is only a wake-up call: the watcher reads the entries after the last version it
delivered, up to the event's, from the ledger, which is the record; and when the bus says
events may have been lost, it reads all the entries after the last delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from db.models import Balance, LedgerEntry, Member
from domain.errors import AccessDenied, DomainError, ErrorCode
from domain.ledger.events import balance_changes, entry_of, may_have_missed
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


REPLAY_CHUNK = 500


async def starting_version(member: Member, since_version: int | None) -> int:
    """Where a watch starts: after `since_version`, or after the member's current version."""
    current = (await Balance.get(member_id=member.id)).version
    if since_version is None:
        return current
    if since_version > current:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"sinceVersion {since_version} is ahead of the ledger (version {current}).",
            ["sinceVersion"],
        )
    return max(since_version, 0)


async def watch_entries(
    rt: Backends,
    member: Member,
    since_version: int | None,
    still_allowed: Callable[[], bool] = lambda: True,
) -> AsyncIterator[LedgerEntry]:
    """The member's entries after `since_version` (or from now on), then live ones, for as
    long as `still_allowed()` (the caller's token has not expired). A `since_version` must
    have passed `starting_version` (a version once behind the ledger stays behind it)."""
    async with balance_changes(rt, member.id) as events:
        # Subscribed before reading where to start: nothing committed after this read is missed.
        if since_version is None:
            last = await starting_version(member, None)
        else:
            last = max(since_version, 0)
        upto: int | None = None  # first, everything after `last`
        # Neither an entry nor an event is held in a local while waiting for the next event:
        # thousands of watchers wait, each for hours.
        while still_allowed():
            while upto is None or upto > last:  # in chunks: a long replay is never loaded whole
                chunk = await entries_between(member.id, last, upto, limit=REPLAY_CHUNK)
                full = len(chunk) == REPLAY_CHUNK
                chunk.reverse()
                while chunk:
                    last = chunk[-1].version
                    yield chunk.pop()
                if not full:
                    break
            event = await anext(events, None)
            if event is None:
                return
            upto = None if may_have_missed(event) else event["version"]
            row = event.get("entry") if upto == last + 1 else None
            del event
            if row is not None:
                # The next entry, carried by its event: no need to read it back.
                last = upto = row["version"]
                yield entry_of(row)
                row = None
