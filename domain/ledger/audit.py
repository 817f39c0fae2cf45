"""The audit: every ledger invariant, checked for every member (or one), in SQL.

Design: docs/ledger.md, "Invariants and the audit".
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.connection import get_connection

# One row per member whose balance disagrees with their ledger or lots. Versions must run
# 1..n without gaps, and each entry's balance_after must be the running sum of points. Pending
# points are apart: the balance's are the sum of the entries' and what remains in held lots.
AUDIT_SQL = """
WITH entries AS (
    SELECT member_id, COALESCE(SUM(points), 0) AS points, COUNT(*) AS count,
           COALESCE(SUM(pending), 0) AS pending,
           COALESCE(MAX(version), 0) AS max_version,
           COUNT(*) FILTER (WHERE balance_after <> running) AS bad_running
    FROM (
        SELECT member_id, points, pending, version, balance_after,
               SUM(points) OVER (PARTITION BY member_id ORDER BY version) AS running
        FROM ledger_entry
    ) ordered
    GROUP BY member_id
),
lots AS (
    SELECT member_id,
           COALESCE(SUM(remaining) FILTER (WHERE expired_at IS NULL AND held_until IS NULL), 0)
               AS remaining,
           COALESCE(SUM(remaining) FILTER (WHERE expired_at IS NULL AND held_until IS NOT NULL),
                    0) AS held
    FROM lot GROUP BY member_id
)
SELECT m.id AS member_id, b.available, b.version,
       COALESCE(e.points, 0) AS ledger_points, COALESCE(e.count, 0) AS entry_count,
       COALESCE(e.max_version, 0) AS max_version, COALESCE(e.bad_running, 0) AS bad_running,
       COALESCE(l.remaining, 0) AS lot_points, b.pending,
       COALESCE(e.pending, 0) AS ledger_pending, COALESCE(l.held, 0) AS held_points
FROM member m
JOIN balance b ON b.member_id = m.id
LEFT JOIN entries e ON e.member_id = m.id
LEFT JOIN lots l ON l.member_id = m.id
WHERE ($1::int IS NULL OR m.id = $1) AND ($2::int IS NULL OR m.brand_id = $2)
  AND (b.available < 0
       OR b.available <> COALESCE(e.points, 0)
       OR b.available <> COALESCE(l.remaining, 0)
       OR b.version <> COALESCE(e.count, 0)
       OR COALESCE(e.max_version, 0) <> COALESCE(e.count, 0)
       OR COALESCE(e.bad_running, 0) > 0
       OR b.pending <> COALESCE(e.pending, 0)
       OR b.pending <> COALESCE(l.held, 0))
ORDER BY m.id
"""


@dataclass(frozen=True, slots=True)
class AuditFinding:
    member_id: int
    available: int
    ledger_points: int
    lot_points: int
    version: int
    entry_count: int
    max_version: int
    bad_running: int
    pending: int
    ledger_pending: int
    held_points: int

    def describe(self, member: str | None = None) -> str:
        """One line; `member` names the member (default: by database id)."""
        return (
            f"{member or f'member {self.member_id}'}: available {self.available}, ledger sum "
            f"{self.ledger_points}, unexpired lots {self.lot_points}, version {self.version}, "
            f"{self.entry_count} entries up to version {self.max_version}, "
            f"{self.bad_running} entries whose balanceAfter is off, pending {self.pending}, "
            f"ledger pending sum {self.ledger_pending}, held lots {self.held_points}"
        )


async def audit(member_id: int | None = None, brand_id: int | None = None) -> list[AuditFinding]:
    """Members whose points break an invariant; empty when the books are right."""
    rows = await get_connection("default").execute_query_dict(AUDIT_SQL, [member_id, brand_id])
    return [
        AuditFinding(
            member_id=row["member_id"],
            available=row["available"],
            ledger_points=int(row["ledger_points"]),
            lot_points=int(row["lot_points"]),
            version=row["version"],
            entry_count=row["entry_count"],
            max_version=row["max_version"],
            bad_running=row["bad_running"],
            pending=row["pending"],
            ledger_pending=int(row["ledger_pending"]),
            held_points=int(row["held_points"]),
        )
        for row in rows
    ]
