"""Data seeded with set-based SQL (seconds for what the API would take minutes to make), and
the tokens a brand's identity service would sign for it."""

from __future__ import annotations

import random

import asyncpg

from domain.ids import encode_id
from server.auth import brand_signing_secret, mint_token
from server.settings import Settings

TOKEN_TTL_SECONDS = 6 * 3600
ANALYZE_LEDGER = "ANALYZE ledger_entry; ANALYZE lot; ANALYZE balance"


def new_brand_code(prefix: str = "bench") -> str:
    """A brand code no other run uses."""
    return f"{prefix}{random.randrange(1 << 32):08x}"


# --- Members and their points ----------------------------------------------------------------

# $4: each with a phone and SMS consent (the marketing notices go to the SMS gateway).
SEED_MEMBERS = """
INSERT INTO member (brand_id, display_name, phone, referral_code, member_code, status,
                    marketing_email, marketing_sms, tier_id, joined_at)
SELECT $1, 'Bench member ' || i, CASE WHEN $4 THEN '139' || lpad(i::text, 8, '0') END,
       'R' || $3 || i, 'M' || $3 || i, 'ACTIVE', false, $4,
       (SELECT id FROM tier WHERE brand_id = $1 ORDER BY rank LIMIT 1), now()
FROM generate_series(1, $2) i
RETURNING id
"""
SEED_BALANCES = """
INSERT INTO balance (member_id, available, lifetime_earned, lifetime_redeemed, version, shortfall)
SELECT id, 0, 0, 0, 0, 0 FROM unnest($1::int[]) id
"""


async def seed_members(
    db: asyncpg.Connection, brand_id: int, count: int, *, sms: bool = False
) -> list[int]:
    """`count` active members of the brand on its base tier, each with a zero balance; with
    `sms`, each with a phone and consent to marketing by SMS."""
    rows = await db.fetch(SEED_MEMBERS, brand_id, count, f"{random.randrange(36**4):x}", sms)
    ids = [row["id"] for row in rows]
    await db.execute(SEED_BALANCES, ids)
    return ids


# One EARN entry (version 1) and its lot per member, of yesterday, expiring in two years; then
# the balance.
SEED_LOTS = """
WITH entries AS (
    INSERT INTO ledger_entry (brand_id, member_id, kind, points, balance_after, version,
                              description, created_at, expires_at, breakdown, actor, shortfall)
    SELECT $1, id, 'EARN', $3, $3, 1, 'Seeded points', now() - interval '1 day',
           now() + interval '2 years', '[]', 'bench:seed', 0
    FROM unnest($2::int[]) id
    RETURNING id, member_id, points, created_at, expires_at
)
INSERT INTO lot (member_id, entry_id, points, remaining, earned_at, expires_at)
SELECT member_id, id, points, points, created_at, expires_at FROM entries
"""
SEED_POINTS = """
UPDATE balance SET available = $2::int, lifetime_earned = $2::int, version = 1
WHERE member_id = ANY($1::int[])
"""


async def seed_points(
    db: asyncpg.Connection, brand_id: int, member_ids: list[int], points: int
) -> None:
    """Give each member, whose ledger is empty, `points` in one lot, earned a day ago: a
    redemption minutes after a large earn is flagged for review (domain/risk.py), which a
    member spending points of yesterday is not."""
    async with db.transaction():
        await db.execute(SEED_LOTS, brand_id, member_ids, points)
        await db.execute(SEED_POINTS, member_ids, points)
    await db.execute(ANALYZE_LEDGER)


async def skip_foreign_key_checks(db: asyncpg.Connection) -> None:
    """For the rest of the transaction, foreign keys are not checked, when the role may skip
    them (a superuser's session_replication_role): for rows consistent by construction, and
    audited later."""
    if await db.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        await db.execute("SET LOCAL session_replication_role = replica")


# --- Tokens, as the brand's identity service signs them -------------------------------------


def brand_token(secret: str, brand_code: str, role: str, subject: str) -> str:
    """A token of the brand's: its key is derived from the deployment's secret (the brand has
    no key of its own), as the service checks it."""
    return mint_token(
        brand_signing_secret(secret, brand_code),
        role=role,
        brand=brand_code,
        subject=subject,
        issuer=Settings().jwt_issuer,
        ttl_seconds=TOKEN_TTL_SECONDS,
    )


def member_token(secret: str, brand_code: str, member_id: int) -> str:
    """A MEMBER token: its subject is the member's global id."""
    return brand_token(secret, brand_code, "MEMBER", encode_id("Member", member_id))
