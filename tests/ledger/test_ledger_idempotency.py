"""Idempotent movements: a repeated key returns the first result and moves nothing again; the
same key for another request is a CONFLICT with no effect; a key is the caller's own; and 50
calls racing with one key move once and answer alike."""

from __future__ import annotations

import asyncio

import pytest

from db.models import IdempotencyRecord, LedgerEntry, Purchase
from domain.ledger.audit import audit
from tests.support.factories import RECORD_PURCHASE, key
from tests.support.ledger import entries, pk, snapshot


async def purchased(staff) -> tuple[dict, str]:
    """A member with 100 points from order ORIGINAL."""
    member = await staff.register()
    earned = await staff.purchase(member["id"], "100.00", orderRef="ORIGINAL")
    assert earned["userErrors"] == []
    return member, "ORIGINAL"


# Each movement, with its first call and a request that differs from it.
MOVEMENTS = {
    "recordPurchase": (
        lambda staff, member, k: staff.purchase(
            member["id"], "25.00", orderRef="REPEATED", idempotencyKey=k
        ),
        lambda staff, member, k: staff.purchase(
            member["id"], "26.00", orderRef="REPEATED", idempotencyKey=k
        ),
    ),
    "reversePurchase": (
        lambda staff, member, k: staff.reverse(member["id"], "ORIGINAL", "40.00", idempotencyKey=k),
        lambda staff, member, k: staff.reverse(member["id"], "ORIGINAL", "41.00", idempotencyKey=k),
    ),
    "adjustPoints(+)": (
        lambda staff, member, k: staff.adjust(member["id"], 30, idempotencyKey=k),
        lambda staff, member, k: staff.adjust(member["id"], 31, idempotencyKey=k),
    ),
    "adjustPoints(-)": (
        lambda staff, member, k: staff.adjust(member["id"], -30, idempotencyKey=k),
        lambda staff, member, k: staff.adjust(member["id"], -30, "other", idempotencyKey=k),
    ),
}


@pytest.mark.parametrize("movement", MOVEMENTS)
async def test_a_repeated_key_returns_the_first_result_and_moves_nothing(staff, brand, movement):
    first_call, _ = MOVEMENTS[movement]
    member, _ = await purchased(staff)
    the_key = key()
    first = await first_call(staff, member, the_key)
    assert first["userErrors"] == [] and first["entry"] is not None
    after_first = await snapshot(member["id"])
    again = await first_call(staff, member, the_key)
    assert again == first
    assert await snapshot(member["id"]) == after_first
    # Even after other movements, the repeat answers with the first entry and moves nothing.
    await staff.adjust(member["id"], 7)
    later = await snapshot(member["id"])
    third = await first_call(staff, member, the_key)
    assert third["entry"] == first["entry"]
    assert third["userErrors"] == []
    assert await snapshot(member["id"]) == later
    assert await audit(brand_id=brand.id) == []


@pytest.mark.parametrize("movement", MOVEMENTS)
async def test_the_same_key_for_another_request_is_a_conflict_with_no_effect(staff, movement):
    first_call, other_call = MOVEMENTS[movement]
    member, _ = await purchased(staff)
    the_key = key()
    await first_call(staff, member, the_key)
    before = await snapshot(member["id"])
    conflicting = await other_call(staff, member, the_key)
    assert [(e["code"], e["field"]) for e in conflicting["userErrors"]] == [
        ("CONFLICT", ["idempotencyKey"])
    ]
    assert conflicting["entry"] is None
    assert await snapshot(member["id"]) == before


async def test_the_same_key_for_another_member_is_a_conflict(staff):
    member, _ = await purchased(staff)
    other = await staff.register("Bea")
    the_key = key()
    await staff.adjust(member["id"], 10, idempotencyKey=the_key)
    before = await snapshot(other["id"])
    conflicting = await staff.adjust(other["id"], 10, idempotencyKey=the_key)
    assert [e["code"] for e in conflicting["userErrors"]] == ["CONFLICT"]
    assert await snapshot(other["id"]) == before


async def test_a_key_belongs_to_its_caller_and_its_operation(staff, caller, brand):
    member, _ = await purchased(staff)
    the_key = key()
    mine = await staff.adjust(member["id"], 10, idempotencyKey=the_key)
    colleague = await caller(brand, "ADMIN", "admin-2").adjust(
        member["id"], 10, idempotencyKey=the_key
    )
    assert colleague["userErrors"] == []
    assert colleague["entry"]["id"] != mine["entry"]["id"]
    # The same key names a different call of another operation.
    earned = await staff.purchase(member["id"], "5.00", idempotencyKey=the_key)
    assert earned["userErrors"] == []
    assert [e.points for e in await entries(member["id"])] == [100, 10, 10, 5]


async def test_a_refused_call_keeps_no_result_and_can_be_retried_once_fixed(staff, brand):
    member = await staff.register()
    the_key = key()
    refused = await staff.adjust(member["id"], -40, idempotencyKey=the_key)
    assert [e["code"] for e in refused["userErrors"]] == ["INSUFFICIENT_POINTS"]
    assert not await IdempotencyRecord.filter(brand_id=brand.id, key=the_key).exists()
    await staff.purchase(member["id"], "50.00")
    retried = await staff.adjust(member["id"], -40, idempotencyKey=the_key)
    assert retried["userErrors"] == []
    assert retried["member"]["points"]["available"] == 10


async def test_fifty_concurrent_purchases_with_one_key_move_once_and_answer_alike(
    staff, client, brand
):
    member = await staff.register()
    request = {
        "query": RECORD_PURCHASE,
        "variables": {
            "input": {
                "memberId": member["id"],
                "orderRef": "RACE",
                "total": "88.00",
                "idempotencyKey": key(),
            }
        },
    }
    headers = {"Authorization": f"Bearer {staff.token}"}
    responses = await asyncio.wait_for(
        asyncio.gather(
            *(client.post("/graphql", json=request, headers=headers) for _ in range(50))
        ),
        timeout=60,
    )
    assert {response.status_code for response in responses} == {200}
    answers = [response.json() for response in responses]
    assert all("errors" not in answer for answer in answers), answers[0]
    assert all(answer == answers[0] for answer in answers)
    payload = answers[0]["data"]["recordPurchase"]
    assert payload["userErrors"] == []
    assert payload["entry"]["points"] == 88
    assert payload["member"]["points"]["available"] == 88
    assert await LedgerEntry.filter(member_id=pk(member["id"])).count() == 1
    assert await Purchase.filter(brand_id=brand.id, order_ref="RACE").count() == 1
    assert await audit(brand_id=brand.id) == []


async def test_the_same_amount_written_differently_is_the_same_request(staff):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="EQ-1")
    same_key = key()
    first = await staff.reverse(member["id"], "EQ-1", "30.0", idempotencyKey=same_key)
    again = await staff.reverse(member["id"], "EQ-1", "30.00", idempotencyKey=same_key)
    assert first["userErrors"] == [] and again == first
