"""The expiry job: writes the EXPIRE entries of every member with due lots.

Each member is expired in a transaction of their own (through a MemberBook, which locks their
balance), so the job is resumable and safe to run twice or from two processes at once: a lot
is expired by whichever run locks its member first, and the other finds nothing due.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tortoise.transactions import in_transaction

from db.models import Brand, Lot
from domain.errors import DomainError, ErrorCode
from domain.ledger.book import MemberBook
from domain.ledger.movements import close_books, publish_books
from domain.runtime import Backends

ACTOR = "system:expiry"


async def members_with_due_lots(now: datetime, brand_id: int | None = None) -> list[int]:
    due = Lot.filter(expired_at=None, remaining__gt=0, expires_at__lte=now)
    if brand_id is not None:
        due = due.filter(member__brand_id=brand_id)
    return sorted(set(await due.values_list("member_id", flat=True)))


async def expire_member(rt: Backends, member_id: int, now: datetime) -> int:
    """Expire one member's due lots; returns the points expired."""
    async with in_transaction() as connection:
        book = await MemberBook.open(connection, member_id, now, ACTOR)
        books = await close_books(book)
    await publish_books(rt, books)
    return -sum(entry.points for entry in book.entries)


async def run_expiry(
    rt: Backends,
    *,
    brand_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Expire every due lot (of one brand, or all); returns (members, points) expired."""
    now = rt.clock.now()
    brand_id = None
    if brand_code is not None:
        brand = await Brand.get_or_none(code=brand_code)
        if brand is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"No brand {brand_code!r}.", ["brand"])
        brand_id = brand.id
    member_ids = await members_with_due_lots(now, brand_id)
    points = 0
    for done, member_id in enumerate(member_ids, start=1):
        points += await expire_member(rt, member_id, now)
        if progress is not None:
            progress(done, len(member_ids))
    return len(member_ids), points
