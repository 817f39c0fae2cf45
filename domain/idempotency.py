"""Idempotent movements and changes: a keyed call's first outcome is kept and returned to
every repeat.

A record is scoped to (brand, principal, operation, key), so one caller can never receive
another's result. It is inserted in the same transaction as the movement it guards: a
concurrent repeat blocks on the unique index until the first commits, then reads the stored
outcome; if the first rolls back, the repeat runs the movement itself.

Design: docs/ledger.md, "Idempotency".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.transactions import in_transaction

from db.models import IdempotencyRecord
from db.sql import Sql
from domain.errors import DomainError, ErrorCode
from domain.ids import encode_id
from domain.principal import Principal, Role
from domain.runtime import request_id_var

MAX_KEY_LENGTH = 200

CLAIM_KEY_SQL = """
INSERT INTO idempotency_record (brand_id, principal, operation, key, request_hash, created_at)
VALUES ($1, $2, $3, $4, $5, now())
ON CONFLICT (brand_id, principal, operation, key) DO NOTHING RETURNING id
"""
SET_OUTCOME_SQL = "UPDATE idempotency_record SET outcome = $2 WHERE id = $1"
# The same, and the operation in the audit trail: one statement.
AUDITED_OUTCOME_SQL = """
WITH outcome AS (UPDATE idempotency_record SET outcome = $2 WHERE id = $1)
INSERT INTO audit_entry (brand_id, actor, operation, targets, input, request_id, created_at)
VALUES ($3, $4, $5, $6, $7, $8, now())
"""
AUDITED_ROLES = frozenset({Role.STAFF, Role.ADMIN, Role.PARTNER})
# What the audit trail never keeps of an input, by the name of its field.
SECRET = re.compile(r"secret|password|token|signature|proof|jwt|key", re.IGNORECASE)
# Fields of inputs and outcomes that name a record, and the record's type.
TARGET_TYPES = {
    "member": "Member", "memberId": "Member", "member_id": "Member",
    "item": "CatalogItem", "itemId": "CatalogItem",
    "redemption": "Redemption", "redemptionId": "Redemption", "redemption_id": "Redemption",
    "sale": "FlashSale", "flashSaleId": "FlashSale",
    "partner": "Partner", "partnerId": "Partner",
    "rule": "EarningRule", "ruleId": "EarningRule",
    "entry_id": "LedgerEntry",
}  # fmt: skip

M = TypeVar("M", bound=Model)


def request_hash(payload: dict[str, Any]) -> str:
    """A stable fingerprint of a call's arguments, to tell a repeat from a different call."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> None:
    """An idempotency key is 1 to MAX_KEY_LENGTH characters; INVALID_INPUT otherwise."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters.",
            ["idempotencyKey"],
        )


async def run_once(
    principal: Principal,
    operation: str,
    key: str,
    payload: dict[str, Any],
    movement: Callable[[BaseDBAsyncClient], Awaitable[dict[str, Any]]],
    *,
    last: Callable[[Sql], Awaitable[None]] | None = None,
    target_type: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run `movement` in a transaction at most once per key: (its outcome, whether replayed).

    `movement` gets the transaction's connection and returns a JSON-serialisable outcome (ids,
    not objects). A DomainError it raises rolls everything back and is not stored, so the call
    can be repeated once the cause is fixed. The same key with another payload is a CONFLICT.
    `last`, if given, runs after the outcome is stored, with the transaction's Sql: it may send
    the COMMIT itself, with the statements it sends last (`Sql.commit_with`). An operation of
    staff, admins or partners goes into the audit trail with its outcome (`target_type`: what
    an outcome's "id" names).
    """
    check_key(key)
    fingerprint = request_hash(payload)
    async with in_transaction() as connection:
        sql = Sql(connection)
        claimed = await sql.fetchrow(
            CLAIM_KEY_SQL, principal.brand_id, principal.idempotency_scope, operation, key,
            fingerprint,
        )  # fmt: skip
        if claimed is not None:
            outcome = await movement(connection)
            stored = orjson.dumps(outcome).decode()
            if principal.role in AUDITED_ROLES:
                await sql.execute(
                    AUDITED_OUTCOME_SQL, claimed["id"], stored, principal.brand_id,
                    principal.idempotency_scope, operation,
                    orjson.dumps(targets_of(payload, outcome, target_type)).decode(),
                    json.dumps(without_secrets(payload), default=str), request_id_var.get(),
                )  # fmt: skip
            else:
                await sql.execute(SET_OUTCOME_SQL, claimed["id"], stored)
            if last is not None:
                await last(sql)
            return outcome, False
    record = await IdempotencyRecord.get(
        brand_id=principal.brand_id, principal=principal.idempotency_scope, operation=operation,
        key=key,
    )  # fmt: skip
    if record.request_hash != fingerprint:
        raise DomainError(
            ErrorCode.CONFLICT,
            "This idempotencyKey was used for a different request.",
            ["idempotencyKey"],
        )
    # The claim waited for the transaction that claimed the key first, and that one wrote
    # its outcome before it committed.
    assert record.outcome is not None
    return record.outcome, True


async def change_once(
    principal: Principal,
    operation: str,
    key: str | None,
    request: dict[str, Any],
    model: type[M],
    change: Callable[[BaseDBAsyncClient], Awaitable[M]],
    *,
    after: Callable[[M], Awaitable[None]] | None = None,
) -> M:
    """Make a change to one `model` object at most once per key, as run_once: a replay answers
    the object re-read by the id the first call stored, and changes nothing.

    `change` runs inside run_once's transaction and gets its connection; Tortoise sends every
    query made within it there too (a nested `in_transaction()` is a savepoint of it), so the
    change and the key's record commit together or not at all. `after` runs once committed,
    for the first call only (say, reloading Redis from the change). With no key (seeding,
    scripts), `change` runs in a transaction of its own.
    """
    if key is None:
        async with in_transaction() as connection:
            changed = await change(connection)
    else:
        made: list[M] = []

        async def record(connection: BaseDBAsyncClient) -> dict[str, Any]:
            made.append(await change(connection))
            return {"id": made[0].pk}

        outcome, replayed = await run_once(
            principal, operation, key, request, record, target_type=model.__name__
        )
        if replayed:
            return await model.get(pk=outcome["id"])
        changed = made[0]
    if after is not None:
        await after(changed)
    return changed


def without_secrets(value: Any) -> Any:
    """An input as the audit trail keeps it: every field named like a secret left out."""
    if isinstance(value, dict):
        return {
            name: without_secrets(item)
            for name, item in value.items()
            if not SECRET.search(str(name))
        }
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


def targets_of(
    payload: dict[str, Any], outcome: dict[str, Any], target_type: str | None
) -> list[str]:
    """The global ids of the records an operation names or made."""
    found = []
    for name, value in (*payload.items(), *outcome.items()):
        kind = target_type if name == "id" else TARGET_TYPES.get(name)
        if kind is not None and isinstance(value, int) and not isinstance(value, bool):
            found.append(encode_id(kind, value))
    return list(dict.fromkeys(found))


async def purge_expired(retention: timedelta, now: datetime | None = None) -> int:
    """Delete records older than `retention`; returns how many went."""
    cutoff = (now or datetime.now(UTC)) - retention
    return await IdempotencyRecord.filter(created_at__lt=cutoff).delete()
