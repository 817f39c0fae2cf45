"""Reading points: balances in O(1), what expires when, the ledger page by page.

A read never counts a lot past its expiry, even before the expiry job has written the EXPIRE
entry: what is due is left out of the balance shown. Likewise held points whose release time
has come are shown available (less any shortfall they will pay off), not pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.connection import get_connection

from db.models import LedgerEntry, LedgerKind
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal, Role

BALANCES_SQL = """
SELECT b.member_id, b.version, b.lifetime_earned, b.lifetime_redeemed,
       b.available - COALESCE(due.expiring, 0)
           + GREATEST(COALESCE(due.released, 0) - b.shortfall, 0) AS available,
       b.pending - COALESCE(due.releasing, 0) AS pending
FROM balance b
LEFT JOIN (
    SELECT member_id,
           SUM(remaining) FILTER (WHERE held_until IS NULL AND expires_at <= $2) AS expiring,
           SUM(remaining) FILTER (WHERE held_until <= $2) AS releasing,
           SUM(remaining) FILTER (WHERE held_until <= $2 AND expires_at > $2) AS released
    FROM (  -- each half by its own partial index, as the book's DUE_LOTS_SQL
        SELECT id, member_id, remaining, expires_at, held_until FROM lot
        WHERE member_id = ANY($1::int[]) AND expired_at IS NULL AND remaining > 0
          AND expires_at <= $2
        UNION
        SELECT id, member_id, remaining, expires_at, held_until FROM lot
        WHERE member_id = ANY($1::int[]) AND held_until <= $2 AND expired_at IS NULL
          AND remaining > 0
    ) lot
    GROUP BY member_id
) due USING (member_id)
WHERE b.member_id = ANY($1::int[])
"""

EXPIRING_SQL = """
SELECT expires_at, SUM(remaining) AS points FROM lot
WHERE member_id = $1 AND expired_at IS NULL AND remaining > 0
  AND expires_at > $2 AND expires_at <= $3 AND (held_until IS NULL OR held_until <= $2)
GROUP BY expires_at ORDER BY expires_at
"""


# Lifetime totals are 64-bit in the database; the API's Int shows at most this.
GRAPHQL_INT_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class BalanceView:
    member_id: int
    available: int
    version: int
    lifetime_earned: int
    lifetime_redeemed: int
    pending: int


@dataclass(frozen=True, slots=True)
class ExpiringPoints:
    points: int
    expires_at: datetime


def balance_view(
    member_id: int,
    available: int,
    version: int,
    lifetime_earned: int,
    lifetime_redeemed: int,
    pending: int,
) -> BalanceView:
    """A balance as the API shows it (lifetime totals capped at what its Int holds)."""
    return BalanceView(
        member_id,
        available,
        version,
        min(lifetime_earned, GRAPHQL_INT_MAX),
        min(lifetime_redeemed, GRAPHQL_INT_MAX),
        pending,
    )


async def balances(member_ids: list[int], now: datetime) -> dict[int, BalanceView]:
    """The balances of many members in one query, due lots left out."""
    rows = await get_connection("default").execute_query_dict(BALANCES_SQL, [member_ids, now])
    return {
        row["member_id"]: balance_view(
            row["member_id"],
            int(row["available"]),
            row["version"],
            row["lifetime_earned"],
            row["lifetime_redeemed"],
            int(row["pending"]),
        )
        for row in rows
    }


async def expiring(member_id: int, now: datetime, within_days: int) -> list[ExpiringPoints]:
    """Points that expire within `within_days`, grouped by moment, soonest first."""
    try:
        horizon = now + timedelta(days=max(within_days, 0))
    except OverflowError:  # more days than a datetime spans: every lot is within them
        horizon = datetime.max.replace(tzinfo=UTC)
    rows = await get_connection("default").execute_query_dict(
        EXPIRING_SQL, [member_id, now, horizon]
    )
    return [ExpiringPoints(int(row["points"]), row["expires_at"]) for row in rows]


async def ledger_page(
    principal: Principal, member_id: int, kind: LedgerKind | None, request: PageRequest
) -> Page[LedgerEntry]:
    """A page of the member's ledger, newest first, of one kind or all; for a partner, only
    the entries it made (another partner's purchases are none of its business)."""
    entries = LedgerEntry.filter(member_id=member_id)
    if principal.role is Role.PARTNER:
        entries = entries.filter(partner_id=principal.partner_id)
    if kind:
        entries = entries.filter(kind=kind)
    return await paginate(entries, request, ("version",), descending=True)


async def entries_between(
    member_id: int, after_version: int, upto_version: int | None = None, limit: int | None = None
) -> list[LedgerEntry]:
    """The member's entries after one version (up to another), in version order."""
    entries = LedgerEntry.filter(member_id=member_id, version__gt=after_version)
    if upto_version is not None:
        entries = entries.filter(version__lte=upto_version)
    entries = entries.order_by("version")
    return await (entries.limit(limit) if limit is not None else entries)


async def visible_entry(principal: Principal, entry_id: int) -> LedgerEntry | None:
    """An entry the caller may see: their own as a member, or any of their brand's as staff."""
    entry = await LedgerEntry.get_or_none(id=entry_id, brand_id=principal.brand_id)
    if entry is None or not (principal.reads_members or principal.member_id == entry.member_id):
        return None
    return entry
