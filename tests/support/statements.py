"""Every statement sent through asyncpg, from any task (pooled connections too): for tests that
pin how many statements a page costs at any size. tests/support/backend_calls.py counts what
one task sends instead."""

from __future__ import annotations

import functools

import asyncpg
import pytest

SENDING_METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval", "fetchmany")
# asyncpg's pool resets each connection it gets back: one housekeeping statement per checkout.
POOL_RESET = "SELECT pg_advisory_unlock_all();"


def record_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The list every statement sent from now on (until the test ends) is added to."""
    sent: list[str] = []

    def recording(method):
        @functools.wraps(method)
        async def send(connection, query, *args, **kwargs):
            sent.append(query)
            return await method(connection, query, *args, **kwargs)

        return send

    for name in SENDING_METHODS:
        monkeypatch.setattr(asyncpg.Connection, name, recording(getattr(asyncpg.Connection, name)))
    return sent


def queries(sent: list[str]) -> list[str]:
    """The statements but the pool's housekeeping."""
    return [statement for statement in sent if not statement.startswith(POOL_RESET)]
