"""Reading points: balances in O(1), what expires when, the ledger page by page.

A read never counts a lot past its expiry, even before the expiry job has written the EXPIRE
entry: what is due is left out of the balance shown. Likewise held points whose release time
has come are shown available (less any shortfall they will pay off), not pending.

Design: docs/ledger.md, "Pending points"; docs/architecture.md, "Planned documents".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

from tortoise.connection import get_connection

from db.models import LedgerEntry, LedgerKind, Member
from db.rows import ColumnArrays, Columns, columns_but, model_of
from domain.pagination import (
    Page,
    PageRequest,
    backwards,
    check_request,
    decode_cursor,
    page_size,
    paginate,
    window_page,
)
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
WHERE member_id = ANY($1::int[]) AND expired_at IS NULL AND remaining > 0
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
    rows = await get_connection("default").execute_query_dict(
        EXPIRING_SQL, [[member_id], now, horizon_of(now, within_days)]
    )
    return [ExpiringPoints(int(row["points"]), row["expires_at"]) for row in rows]


def horizon_of(now: datetime, within_days: int) -> datetime:
    try:
        return now + timedelta(days=max(within_days, 0))
    except OverflowError:  # more days than a datetime spans: every lot is within them
        return datetime.max.replace(tzinfo=UTC)


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


# ---------------------------------------------------------------- a member's own page

LEDGER_ORDER = ("version",)
# An entry's columns as a page shows them: all but the breakdown, which only its own field reads.
PAGE_ENTRIES = ColumnArrays(LedgerEntry, columns_but(LedgerEntry, "breakdown"), "entry")
_version = attrgetter("version")


@dataclass(frozen=True, slots=True)
class LedgerRequest:
    """A page of a member's ledger, as `ledger_page` reads it."""

    request: PageRequest
    kind: LedgerKind | None = None
    # The entries' attributes the page reads (besides their id and version); None: any.
    reads: frozenset[str] | None = None


def page_entries(reads: frozenset[str] | None) -> ColumnArrays:
    """The columns of a page's entries that hold what it reads: its id and version (the
    cursor's) and the columns named; all of them (PAGE_ENTRIES) if it reads anything else."""
    if reads is None or not reads <= ENTRY_ATTRIBUTES:
        return PAGE_ENTRIES
    names = frozenset({"id", "version"} | reads) - {"pk"}
    arrays = _page_entries.get(names)
    if arrays is None:
        if len(_page_entries) >= MAX_ENTRY_PROJECTIONS:
            return PAGE_ENTRIES
        arrays = _page_entries[names] = ColumnArrays(LedgerEntry, sorted(names), "entry")
    return arrays


ENTRY_ATTRIBUTES = frozenset({"pk", *PAGE_ENTRIES.names})
MAX_ENTRY_PROJECTIONS = 64  # sets of columns kept (each has its row type); then all columns
_page_entries: dict[frozenset[str], ColumnArrays] = {}


@dataclass(frozen=True, slots=True)
class MemberPage:
    """A member with what their own page shows, read in one statement (`member_page`)."""

    member: Member
    earning_version: int  # the brand's, to judge its tiers' copy by
    balance: BalanceView
    expiring: list[ExpiringPoints] | None  # asked for: within `expiring_within` days
    ledger: Page[Columns] | None  # asked for: LedgerEntry's columns (PAGE_ENTRIES)


def _member_page_statement(
    brand_id: int, member_id: int, now: datetime, expiring_within: int | None,
    ledger: LedgerRequest | None, entries: ColumnArrays,
) -> tuple[str, list[Any]]:  # fmt: skip
    """The statement reading the page's parts (the ledger's `entries` columns), and its
    arguments."""
    arguments: list[Any] = [[member_id], now, brand_id]

    def argument(value: Any) -> str:
        arguments.append(value)
        return f"${len(arguments)}"

    expiring_part = count_part = "NULL"
    entries_columns = entries_join = ""
    if expiring_within is not None:
        expiring = EXPIRING_SQL.replace("$3", argument(horizon_of(now, expiring_within)))
        expiring_part = f"ARRAY(SELECT ROW(x.expires_at, x.points) FROM ({expiring}) x)"
    if ledger is not None:
        check_request(ledger.request)
        of_kind = f"e.kind = {argument(ledger.kind.value)}" if ledger.kind is not None else None
        conditions = ["e.member_id = m.id", *([of_kind] if of_kind else [])]
        for cursor, name, beyond in ((ledger.request.after, "after", "<"),
                                     (ledger.request.before, "before", ">")):  # fmt: skip
            if cursor is not None:
                (version,) = decode_cursor(cursor, LEDGER_ORDER, name, LedgerEntry)
                conditions.append(f"e.version {beyond} {argument(version)}")
        direction = "ASC" if backwards(ledger.request) else "DESC"
        entries_columns = ", entries.*"
        entries_join = (
            f"CROSS JOIN LATERAL (SELECT {entries.aggregates('e')} FROM ("
            f"SELECT * FROM ledger_entry e WHERE {' AND '.join(conditions)} "
            f"ORDER BY e.version {direction} LIMIT {argument(page_size(ledger.request) + 1)}"
            ") e) entries"
        )
        # An unfiltered ledger's entries are versioned 1, 2, 3, … without gaps.
        count_part = (
            f"(SELECT count(*) FROM ledger_entry e WHERE e.member_id = m.id AND {of_kind})"
            if of_kind
            else "b.version"
        )
    statement = f"""
SELECT m AS member, br.earning_version, b.version, b.lifetime_earned, b.lifetime_redeemed,
       b.available, b.pending, {expiring_part} AS expiring,
       {count_part} AS entry_count{entries_columns}
FROM member m
JOIN brand br ON br.id = m.brand_id
JOIN ({BALANCES_SQL}) b ON b.member_id = m.id
{entries_join}
WHERE m.id = ($1::int[])[1] AND m.brand_id = $3
"""
    return statement, arguments


async def member_page(
    brand_id: int,
    member_id: int,
    now: datetime,
    expiring_within: int | None = None,
    ledger: LedgerRequest | None = None,
) -> MemberPage | None:
    """The brand's member with their balance, and what of their points expire within
    `expiring_within` days and a page of their ledger (as `expiring` and `ledger_page` read
    them for the member themselves) when asked for; None if the brand has no such member."""
    entries = page_entries(ledger.reads) if ledger is not None else PAGE_ENTRIES
    statement, arguments = _member_page_statement(
        brand_id, member_id, now, expiring_within, ledger, entries
    )
    # Straight to asyncpg: Tortoise's execute_query_dict would copy the row into a dict.
    async with get_connection("default").acquire_connection() as connection:
        row = await connection.fetchrow(statement, *arguments)
    if row is None:
        return None
    return MemberPage(
        model_of(Member, row["member"]),
        row["earning_version"],
        balance_view(
            member_id,
            int(row["available"]),
            row["version"],
            row["lifetime_earned"],
            row["lifetime_redeemed"],
            int(row["pending"]),
        ),
        None
        if row["expiring"] is None
        else [ExpiringPoints(int(points), expires_at) for expires_at, points in row["expiring"]],
        None
        if ledger is None
        else window_page(
            # In the statement's order: the arrays keep whichever order the rows were fed in.
            sorted(
                entries.read(row),
                key=_version,
                reverse=not backwards(ledger.request),
            ),
            ledger.request,
            LEDGER_ORDER,
            row["entry_count"],
        ),
    )
