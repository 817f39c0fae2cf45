"""Watching a member's balance live: every entry once, in version order, without gaps.

Events from pub/sub may arrive late, twice or out of order (movements commit in version
order but publish from different tasks and processes), or not at all (Redis down). An event
carries its entry: when it is the next version, the watcher delivers it as it came. Otherwise
the event is only a wake-up call: the watcher reads the entries after the last version it
delivered, up to the event's, from the ledger, which is the record; and when the bus says
events may have been lost, it reads all the entries after the last delivered.
"""

from __future__ import annotations

from collections.abc import Callable

from db.models import Balance, LedgerEntry, Member
from domain.errors import AccessDenied, DomainError, ErrorCode
from domain.ledger.events import balance_changes, entry_of, may_have_missed
from domain.ledger.reads import entries_between
from domain.principal import Principal, Role
from domain.runtime import Backends
from subscriptions.bus import Mailbox, Subscription


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


def _always() -> bool:
    return True


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


def watch_entries(
    rt: Backends,
    member: Member,
    since_version: int | None,
    still_allowed: Callable[[], bool] = _always,
) -> EntryWatch:
    """The member's entries after `since_version` (or from now on), then live ones, for as
    long as `still_allowed()` (the caller's token has not expired). A `since_version` must
    have passed `starting_version` (a version once behind the ledger stays behind it)."""
    return EntryWatch(balance_changes(rt, member.id), member, since_version, still_allowed)


class EntryWatch:
    """`watch_entries`' iterator. A plain object, not an async generator: thousands of
    watchers wait, each for hours, and a generator would hold its frame and the event
    subscription's context manager all that time. Neither an entry nor an event is held while
    waiting for the next event.

    Each turn checks `still_allowed`, then reads the entries after the last delivered, up to
    `upto` (all of them when None), in chunks (a long replay is never loaded whole), then waits
    for an event: one carrying the next version is delivered as it came; any other sets `upto`
    for the next turn's read."""

    __slots__ = (
        "_chunk",
        "_events",
        "_last",
        "_member",
        "_reading",
        "_still_allowed",
        "_subscription",
        "_turn",
        "_upto",
    )

    def __init__(
        self,
        subscription: Subscription,
        member: Member,
        since_version: int | None,
        still_allowed: Callable[[], bool],
    ) -> None:
        self._subscription: Subscription | None = subscription
        self._member = member
        self._still_allowed = still_allowed
        self._events: Mailbox | None = None  # once subscribed
        # The last version delivered; -1: the member's current one, read once subscribed.
        self._last = -1 if since_version is None else max(since_version, 0)
        self._upto: int | None = None  # first, everything after `_last`
        self._chunk: list[LedgerEntry] | None = None  # read and not yet delivered, last first
        self._turn = True  # at a turn's start
        self._reading = False

    def __aiter__(self) -> EntryWatch:
        return self

    def idle(self) -> bool:
        """Whether the next entry waits for an event that has not come. (A turn with nothing
        to read is taken here, as `__anext__` would take it.)"""
        if self._events is None or self._chunk is not None or self._reading:
            return False
        if self._turn:
            if self._upto is None or self._upto > self._last or not self._still_allowed():
                return False
            self._turn = False
        return self._events.empty()

    def on_event(self, callback: Callable[[], None]) -> None:
        """Call `callback` once, when the next event comes (while `idle`)."""
        assert self._events is not None
        self._events.on_put(callback)

    async def __anext__(self) -> LedgerEntry:
        subscription = self._subscription
        if subscription is None:  # closed, or ended
            raise StopAsyncIteration
        try:
            if self._events is None:
                self._events = await subscription.__aenter__()
                if self._last < 0:
                    # Subscribed before reading where to start: nothing committed after this
                    # read is missed.
                    self._last = await starting_version(self._member, None)
            last = self._last
            while True:
                if self._chunk:
                    entry = self._chunk.pop()
                    if not self._chunk:
                        self._chunk = None
                    self._last = entry.version
                    return entry
                if self._turn:
                    if not self._still_allowed():
                        raise StopAsyncIteration
                    self._turn = False
                    self._reading = True
                if self._reading:
                    if self._upto is None or self._upto > last:
                        chunk = await entries_between(
                            self._member.id, last, self._upto, limit=REPLAY_CHUNK
                        )
                        self._reading = len(chunk) == REPLAY_CHUNK
                        chunk.reverse()
                        self._chunk = chunk or None
                        del chunk
                        continue
                    self._reading = False
                event = await self._events.__anext__()  # StopAsyncIteration: the bus stopped
                self._turn = True
                upto = None if may_have_missed(event) else event["version"]
                row = event.get("entry") if upto == last + 1 else None
                del event
                if row is not None:
                    # The next entry, carried by its event: no need to read it back.
                    self._last = self._upto = row["version"]
                    return entry_of(row)
                self._upto = upto
        except BaseException:
            # Ended, failed or cancelled: unsubscribed, as a generator's `async with` would be.
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop watching: the subscription to the member's events ends."""
        subscription, self._subscription = self._subscription, None
        if self._events is not None and subscription is not None:
            self._events = None
            await subscription.__aexit__(None, None, None)
