"""Every use of Tortoise ORM's private internals, in one place, for the versions below.

The hot paths send their own SQL on a transaction's connection and build models from its rows,
as the ORM does inside; lookups check a value against its column first; startup asks which
migrations are missing. Tortoise offers no public way to do these, so each reaches one internal
here. `server/dependencies.py` refuses to
start on a Tortoise outside WRITTEN_FOR, and its test proves each internal still answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import Field
from tortoise.migrations.executor import MigrationExecutor
from tortoise.models import Model

WRITTEN_FOR = "tortoise-orm>=1.1.9,<1.2"

M = TypeVar("M", bound=Model)


def model_from_row(model: type[M], row: Mapping[str, Any]) -> M:
    """The instance the ORM itself builds from a row of the model's table."""
    return model._init_from_db(**row)


def column_names(model: Model | type[Model]) -> set[str]:
    """The model's columns (its database fields), by name."""
    return model._meta.db_fields


def field_of(model: type[Model], name: str) -> Field:
    """The model's field of that name."""
    return model._meta.fields_map[name]


def transaction_connection(transaction: BaseDBAsyncClient) -> Any:
    """The driver's connection a transaction holds (taken without its lock)."""
    return transaction.acquire_connection().connection


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
