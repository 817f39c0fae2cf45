"""What a benchmark checks once its writes have stopped."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from bench.backends import database
from domain.ledger.audit import audit


async def settled_count(db: asyncpg.Connection, query: str, *args: Any) -> int:
    """A `SELECT count(*)` once writes have stopped (requests still in flight when wrk ended)."""
    count = await db.fetchval(query, *args)
    while True:
        await asyncio.sleep(0.5)
        latest = await db.fetchval(query, *args)
        if latest == count:
            return count
        count = latest


async def check_books(database_url: str) -> str:
    """domain.ledger.audit over every member: 'consistent', or what is wrong."""
    async with database(database_url):
        findings = await audit()
    if findings:
        shown = "; ".join(finding.describe() for finding in findings[:3])
        return f"INCONSISTENT: {len(findings)} members, e.g. {shown}"
    return "consistent"
