"""Hand-written SQL on a Tortoise transaction's own connection, sent straight to asyncpg.

The hot paths (a movement's book, the earn's facts) send a dozen statements per request;
Tortoise's client adds its own work to each (logging, a lock, rows copied into dicts). Inside
a transaction the statements of one movement run one after another, so they can go to the
transaction's asyncpg connection directly. Rows are asyncpg Records (read by name), and a
broken constraint is Tortoise's IntegrityError, as through the ORM.

A row that every transaction of a kind updates (an item's stock, a sale's `sold`) is updated
last, and that statement goes with the COMMIT in one message (`commit_with`): the row is
locked while PostgreSQL runs the two, not also while the answer waits its turn in this
process's event loop. A statement that must take something calls `refuse(code)` when it took
nothing (migration 0034); the error stops the message before its COMMIT.

Design: docs/ledger.md, "Hand-written SQL".
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from db.tortoise_internals import check_outermost, mark_committed, transaction_connection

# The SQLSTATE of refuse(code).
REFUSED_SQLSTATE = "PM001"


class Refused(Exception):
    """A statement sent with the COMMIT called refuse(code): nothing was committed, and the
    transaction is to be rolled back as after any error."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Sql:
    """Statements on one transaction's connection."""

    __slots__ = ("_connection", "_transaction")

    def __init__(self, transaction: BaseDBAsyncClient) -> None:
        self._transaction = transaction
        # The connection the transaction holds (taken without its lock: one caller at a time).
        self._connection = transaction_connection(transaction)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        try:
            return await self._connection.fetch(query, *args)
        except asyncpg.IntegrityConstraintViolationError as error:
            raise IntegrityError(error) from error

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        try:
            return await self._connection.fetchrow(query, *args)
        except asyncpg.IntegrityConstraintViolationError as error:
            raise IntegrityError(error) from error

    async def execute(self, query: str, *args: Any) -> None:
        try:
            await self._connection.execute(query, *args)
        except asyncpg.IntegrityConstraintViolationError as error:
            raise IntegrityError(error) from error

    async def commit_with(self, statements: list[str]) -> None:
        """Send `statements` and the transaction's COMMIT as one message, by the simple query
        protocol: their values are written into their text (numbers only). Refused when one
        calls refuse(code); then nothing is committed. Only in a transaction of its own, not
        one inside another."""
        check_outermost(self._transaction)
        await send_with_commit(self._connection, statements)
        mark_committed(self._transaction)


async def send_with_commit(connection: asyncpg.Connection, statements: list[str]) -> None:
    """`statements` and COMMIT in one message on an asyncpg connection whose transaction began
    with BEGIN (the benchmarks' bare transactions send it this way too); Refused when one calls
    refuse(code)."""
    try:
        await connection.execute(";\n".join([*statements, "COMMIT"]))
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(error) from error
    except asyncpg.PostgresError as error:
        if error.sqlstate == REFUSED_SQLSTATE:
            raise Refused(error.message) from error
        raise
