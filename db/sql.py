"""Hand-written SQL on a Tortoise transaction's own connection, sent straight to asyncpg.

The hot paths (a movement's book, the earn's facts) send a dozen statements per request;
Tortoise's client adds its own work to each (logging, a lock, rows copied into dicts). Inside
a transaction the statements of one movement run one after another, so they can go to the
transaction's asyncpg connection directly. Rows are asyncpg Records (read by name), and a
broken constraint is Tortoise's IntegrityError, as through the ORM.

Design: docs/ledger.md, "Hand-written SQL".
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from db.tortoise_internals import transaction_connection


class Sql:
    """Statements on one transaction's connection."""

    __slots__ = ("_connection",)

    def __init__(self, transaction: BaseDBAsyncClient) -> None:
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
