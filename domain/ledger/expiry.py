"""The jobs that settle due lots: the expiry job writes the EXPIRE entries of every member with
lots past their expiry; the release job makes held (pending) points available once their time
has come.

Each member is settled in a transaction of their own (through a MemberBook, which locks their
balance and settles what is due as it opens), so the jobs are resumable and safe to run twice or
from two processes at once: a lot is expired or released by whichever run locks its member
first, and the other finds nothing due. Any movement of the member settles them too.

Design: docs/ledger.md, "Expiry" and "Pending points".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from db.models import Brand, LedgerKind, Lot
from domain.errors import DomainError, ErrorCode
from domain.ledger.book import MemberBook
from domain.ledger.movements import close_books, publish_books
from domain.runtime import Backends
from domain.tiers import requalify

ACTOR = "system:expiry"
RELEASE_ACTOR = "system:release"


async def members_with_due_lots(now: datetime, brand_id: int | None = None) -> list[int]:
    due = Lot.filter(expired_at=None, remaining__gt=0, expires_at__lte=now, held_until=None)
    return await _members_of(due, brand_id)


async def members_with_lots_to_release(now: datetime, brand_id: int | None = None) -> list[int]:
    due = Lot.filter(expired_at=None, remaining__gt=0, held_until__lte=now)
    return await _members_of(due, brand_id)


async def _members_of(lots: Any, brand_id: int | None) -> list[int]:
    if brand_id is not None:
        lots = lots.filter(member__brand_id=brand_id)
    return sorted(set(await lots.values_list("member_id", flat=True)))


async def settle_member(rt: Backends, member_id: int, now: datetime, actor: str) -> MemberBook:
    """Settle one member's due lots, in a transaction of their own. Released points count
    towards their tier at once, as an earn's do."""
    async with in_transaction() as connection:
        book = await MemberBook.open(connection, member_id, now, actor)
        if any(entry.pending < 0 for entry in book.entries):
            change = await requalify(
                connection, book.member, book.brand, now, may_go_down=False,
                notices=book.notices, unwritten=book.rollup.qualifying,
            )  # fmt: skip
            if change is not None:
                book.tier_changes.append(change.id)
        books = await close_books(book)
    await publish_books(rt, books)
    return book


async def expire_member(rt: Backends, member_id: int, now: datetime) -> int:
    """Expire one member's due lots; returns the points expired."""
    book = await settle_member(rt, member_id, now, ACTOR)
    return -sum(entry.points for entry in book.entries if entry.kind is LedgerKind.EXPIRE)


async def release_member(rt: Backends, member_id: int, now: datetime) -> int:
    """Release one member's held lots whose time has come; returns the points released."""
    book = await settle_member(rt, member_id, now, RELEASE_ACTOR)
    return -sum(entry.pending for entry in book.entries if entry.pending < 0)


async def run_expiry(
    rt: Backends,
    *,
    brand_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Expire every due lot (of one brand, or all); returns (members, points) expired."""
    return await _settle_all(rt, members_with_due_lots, expire_member, brand_code, progress)


async def run_release(
    rt: Backends,
    *,
    brand_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Release every held lot whose time has come (of one brand, or all); returns (members,
    points) released."""
    return await _settle_all(rt, members_with_lots_to_release, release_member, brand_code, progress)


async def _settle_all(
    rt: Backends,
    members_with: Callable[[datetime, int | None], Awaitable[list[int]]],
    settle: Callable[[Backends, int, datetime], Awaitable[int]],
    brand_code: str | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[int, int]:
    now = rt.clock.now()
    brand_id = None
    if brand_code is not None:
        brand = await Brand.get_or_none(code=brand_code)
        if brand is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"No brand {brand_code!r}.", ["brand"])
        brand_id = brand.id
    member_ids = await members_with(now, brand_id)
    points = 0
    for done, member_id in enumerate(member_ids, start=1):
        points += await settle(rt, member_id, now)
        if progress is not None:
            progress(done, len(member_ids))
    return len(member_ids), points
