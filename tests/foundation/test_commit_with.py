"""A transaction's last statements sent with its COMMIT in one message (db/sql.py,
`Sql.commit_with`): what they do is committed and nothing else is sent (no COMMIT of Tortoise's,
no ROLLBACK of asyncpg's pool), and a statement that calls refuse(code) leaves nothing."""

from __future__ import annotations

import pytest
from tortoise.transactions import in_transaction

from db.models import Brand
from db.sql import Refused, Sql
from tests.support.backend_calls import recording

RENAME = "UPDATE brand SET name = '{name}' WHERE id = {brand_id}"


async def test_the_last_statements_and_the_commit_are_one_message(app, brand):
    async with recording() as calls:
        async with in_transaction() as connection:
            await Sql(connection).commit_with([RENAME.format(name="Renamed", brand_id=brand.id)])
    assert calls.sql == [
        "BEGIN;",
        f"UPDATE brand SET name = 'Renamed' WHERE id = {brand.id}; COMMIT",  # as recorded
    ]
    assert (await Brand.get(id=brand.id)).name == "Renamed"


async def test_a_statement_that_refuses_leaves_nothing(app, brand):
    before = (await Brand.get(id=brand.id)).name
    with pytest.raises(Refused) as refused:
        async with in_transaction() as connection:
            sql = Sql(connection)
            await sql.execute(RENAME.format(name="Never", brand_id=brand.id))
            await sql.commit_with(
                [
                    RENAME.format(name="Never either", brand_id=brand.id),
                    "SELECT refuse('NOTHING_LEFT') WHERE true",
                ]
            )
    assert refused.value.code == "NOTHING_LEFT"
    assert (await Brand.get(id=brand.id)).name == before


async def test_a_transaction_inside_another_may_not_send_its_commit(app, brand):
    """Its COMMIT would end the outer transaction too: refused before anything is sent."""
    before = (await Brand.get(id=brand.id)).name
    with pytest.raises(RuntimeError):
        async with in_transaction() as outer:
            await Sql(outer).execute(RENAME.format(name="Outer", brand_id=brand.id))
            async with in_transaction() as inner:
                with pytest.raises(TypeError):
                    await Sql(inner).commit_with([RENAME.format(name="Inner", brand_id=brand.id)])
            raise RuntimeError("the outer transaction rolls back")
    assert (await Brand.get(id=brand.id)).name == before
