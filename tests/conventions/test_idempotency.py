"""Idempotency records: one movement per (brand, principal, operation, key), even under fire."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from db.models import IdempotencyRecord, Store
from domain.errors import DomainError, ErrorCode
from domain.idempotency import change_once, purge_expired, run_once
from domain.principal import Principal, Role


def principal_of(brand, role: Role = Role.STAFF, subject: str = "cashier-1") -> Principal:
    return Principal(role, brand.id, brand.code, subject)


def store_creation(brand, code: str):
    async def movement(connection):
        await asyncio.sleep(0.01)  # widen the window in which concurrent repeats arrive
        store = await Store.create(brand_id=brand.id, code=code, name=code, using_db=connection)
        return {"store_id": store.id}

    return movement


async def test_fifty_concurrent_calls_with_one_key_move_once_and_answer_alike(brand):
    caller = principal_of(brand)
    results = await asyncio.gather(
        *(
            run_once(caller, "createStore", "key-1", {"code": "S1"}, store_creation(brand, "S1"))
            for _ in range(50)
        )
    )
    assert await Store.filter(brand_id=brand.id).count() == 1
    assert len({outcome["store_id"] for outcome, _ in results}) == 1
    assert sorted(replayed for _, replayed in results) == [False] + [True] * 49


async def test_the_same_key_with_another_payload_is_a_conflict_with_no_effect(brand):
    caller = principal_of(brand)
    await run_once(caller, "createStore", "key-2", {"code": "S2"}, store_creation(brand, "S2"))
    with pytest.raises(DomainError) as raised:
        await run_once(caller, "createStore", "key-2", {"code": "S3"}, store_creation(brand, "S3"))
    assert raised.value.code is ErrorCode.CONFLICT
    assert await Store.filter(brand_id=brand.id).values_list("code", flat=True) == ["S2"]


async def test_keys_are_scoped_to_the_caller_and_the_operation(brand):
    payload = {"code": "X"}
    first, _ = await run_once(
        principal_of(brand), "createStore", "shared", payload, store_creation(brand, "A")
    )
    other_caller, _ = await run_once(
        principal_of(brand, subject="cashier-2"),
        "createStore",
        "shared",
        payload,
        store_creation(brand, "B"),
    )
    other_operation, _ = await run_once(
        principal_of(brand), "renameStore", "shared", payload, store_creation(brand, "C")
    )
    assert len({first["store_id"], other_caller["store_id"], other_operation["store_id"]}) == 3


async def test_a_failed_movement_leaves_no_record_and_can_be_retried(brand):
    caller = principal_of(brand)

    async def refused(connection):
        await Store.create(brand_id=brand.id, code="HALF", name="half", using_db=connection)
        raise DomainError(ErrorCode.INSUFFICIENT_POINTS, "Not enough points.")

    with pytest.raises(DomainError):
        await run_once(caller, "createStore", "key-3", {"code": "S4"}, refused)
    assert not await Store.filter(brand_id=brand.id).exists()
    outcome, _ = await run_once(
        caller, "createStore", "key-3", {"code": "S4"}, store_creation(brand, "S4")
    )
    assert await Store.get(id=outcome["store_id"])


async def test_a_change_writing_through_its_own_transaction_rolls_back_with_the_key(brand):
    """Writes a change makes without the connection it is given, or in a nested transaction,
    join the key's transaction: a refusal after them leaves neither a store nor a record."""
    caller = principal_of(brand)

    async def refused(connection):
        await Store.create(brand_id=brand.id, code="PLAIN", name="plain")
        async with in_transaction():
            await Store.create(brand_id=brand.id, code="NESTED", name="nested")
        raise DomainError(ErrorCode.CONFLICT, "Refused after writing.")

    with pytest.raises(DomainError):
        await change_once(caller, "createStore", "key-4", {"code": "S5"}, Store, refused)
    assert not await Store.filter(brand_id=brand.id).exists()
    assert not await IdempotencyRecord.filter(brand_id=brand.id, key="key-4").exists()


@pytest.mark.parametrize("key", ["", "k" * 201])
async def test_keys_must_be_of_sensible_length(brand, key):
    with pytest.raises(DomainError) as raised:
        await run_once(principal_of(brand), "op", key, {}, store_creation(brand, "Z"))
    assert raised.value.code is ErrorCode.INVALID_INPUT


async def test_old_records_are_purged_after_the_retention(brand):
    await run_once(principal_of(brand), "op", "old", {}, store_creation(brand, "OLD"))
    record = await IdempotencyRecord.get(brand_id=brand.id, key="old")
    await IdempotencyRecord.filter(id=record.id).update(
        created_at=record.created_at - timedelta(days=31)
    )
    assert await purge_expired(timedelta(days=30)) >= 1
    assert not await IdempotencyRecord.filter(id=record.id).exists()
