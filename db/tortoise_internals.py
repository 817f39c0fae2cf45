"""Every use of Tortoise ORM's private internals, in one place, for the versions below.

The hot paths send their own SQL on a transaction's connection and build models from its rows,
as the ORM does inside; lookups check a value against its column first; startup asks which
migrations are missing; a COMMIT sent with the statements before it is recorded on Tortoise's
transaction and on asyncpg's under it (asyncpg is held below 0.33 in pyproject). Tortoise offers
no public way to do these, so each reaches one internal here. `server/dependencies.py` refuses to
start on a Tortoise outside WRITTEN_FOR, and its test proves each internal still answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import tzinfo
from enum import Enum
from typing import Any, TypeVar

import asyncpg
from tortoise import Tortoise
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import Field
from tortoise.fields.data import CharEnumFieldInstance, IntEnumFieldInstance
from tortoise.migrations.executor import MigrationExecutor
from tortoise.models import Model
from tortoise.timezone import get_default_timezone, get_use_tz

WRITTEN_FOR = "tortoise-orm>=1.1.9,<1.2"

M = TypeVar("M", bound=Model)


def model_from_row(model: type[M], row: Mapping[str, Any] | asyncpg.Record) -> M:
    """The instance the ORM itself builds from a row of the model's table."""
    return model._init_from_db(**row)


def python_value_of(model: type[Model], name: str) -> Callable[[Any], Any] | None:
    """How the ORM turns the column's value from the driver into the field's, as
    `_init_from_db` does; None where it takes the driver's value as it is."""
    meta = model._meta
    if any(key == name for key, _, _ in meta.db_native_fields):
        return None
    for key, _, field in meta.db_default_fields:
        if key == name:
            convert = field.field_type
            return lambda value: None if value is None else convert(value)
    return meta.fields_map[name].to_python_value


def enum_of(field: Field[Any]) -> type[Enum] | None:
    """The enum whose members an enum field gives back (by value), or None."""
    if isinstance(field, CharEnumFieldInstance | IntEnumFieldInstance):
        return field.enum_type
    return None


def aware_zone() -> tzinfo | None:
    """The zone the ORM moves the datetimes it reads into, when it keeps them aware."""
    return get_default_timezone() if get_use_tz() else None


def primary_key_name(model: type[Model]) -> str:
    return model._meta.pk_attr


def column_names(model: Model | type[Model]) -> set[str]:
    """The model's columns (its database fields), by name."""
    return model._meta.db_fields


def field_of(model: type[Model], name: str) -> Field[Any]:
    """The model's field of that name."""
    return model._meta.fields_map[name]


def transaction_connection(transaction: BaseDBAsyncClient) -> asyncpg.Connection:
    """The asyncpg connection a transaction holds (taken without its lock)."""
    connection = transaction.acquire_connection().connection
    if not isinstance(connection, asyncpg.Connection):
        raise TypeError("a transaction's connection only (in_transaction())")
    return connection


def check_outermost(transaction: BaseDBAsyncClient) -> None:
    """TypeError unless `transaction` is a transaction of its own: a COMMIT sent in one
    inside another (a savepoint) would commit the outer one too."""
    if not isinstance(transaction, TransactionWrapper) or transaction.transaction is None:
        raise TypeError("a transaction begun by in_transaction() only")
    xact: Any = transaction.transaction  # asyncpg's Transaction
    if xact._nested:
        raise TypeError("a transaction inside another cannot send its own COMMIT")


def mark_committed(transaction: BaseDBAsyncClient) -> None:
    """A transaction whose COMMIT went in a message of our own (db/sql.py, `commit_with`):
    Tortoise's wrapper is finished, so leaving `in_transaction()` sends no COMMIT, and the
    connection has no transaction of asyncpg's open, so the pool sends no ROLLBACK when it
    takes the connection back. For a transaction check_outermost admitted."""
    wrapper: Any = transaction  # Tortoise's TransactionWrapper
    proxy: Any = transaction_connection(transaction)  # the pool's proxy of the connection
    if proxy._con._top_xact is wrapper.transaction:  # asyncpg's Transaction
        proxy._con._top_xact = None
    wrapper._finalized = True


async def migrations_to_apply(connection: BaseDBAsyncClient, apps: dict[str, Any]) -> list[str]:
    """`app.migration` names of the migrations the connection's database has not applied."""
    plan = await MigrationExecutor(connection, apps).plan()
    return [
        f"{step.migration.app_label}.{step.migration.name}" for step in plan if not step.backward
    ]


async def init_with_global_fallback(config: dict[str, Any]) -> None:
    """Tortoise.init, its connections usable from every task (the lifespan opens them in its
    own task; requests run in others)."""
    await Tortoise.init(config=config, _enable_global_fallback=True)
