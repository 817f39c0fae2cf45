"""Concurrency: many movements of one member at once (earns, spends, refunds, corrections and
the expiry job) are serialised by the member's balance lock, keep every invariant and never
deadlock."""

from __future__ import annotations

import asyncio
import random

from db.models import Balance, LedgerEntry, LedgerKind, Lot, Purchase
from domain.ledger.audit import audit
from domain.ledger.expiry import expire_member
from tests.support.factories import ADJUST, RECORD_PURCHASE, REVERSE_PURCHASE, key
from tests.support.ledger import pk

DEADLINE = 60  # seconds: a deadlock fails the test instead of hanging the run


async def post(client, token: str, document: str, input: dict) -> dict:
    response = await client.post(
        "/graphql",
        json={"query": document, "variables": {"input": input}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    return payload


async def versions_and_points(member_id: str) -> tuple[list[int], list[int]]:
    rows = await LedgerEntry.filter(member_id=pk(member_id)).order_by("version")
    return [row.version for row in rows], [row.balance_after for row in rows]


async def test_many_movements_of_one_member_at_once_keep_every_invariant(
    staff, client, brand, clock, runtime
):
    member = await staff.register()
    orders = [f"BASE-{n}" for n in range(4)]
    for order_ref in orders:
        await staff.purchase(member["id"], "100.00", orderRef=order_ref)
    due = await staff.purchase(member["id"], "50.00", orderRef="DUE")
    # One lot due now: whichever movement locks the member first must expire it, once.
    await Lot.filter(entry_id=pk(due["entry"]["id"])).update(expires_at=clock.now())

    randomly = random.Random(20261124)
    calls = []
    for n in range(12):
        calls.append(
            post(
                client,
                staff.token,
                RECORD_PURCHASE,
                {
                    "memberId": member["id"],
                    "orderRef": f"NEW-{n}",
                    "total": f"{randomly.randint(1, 80)}.{randomly.randint(0, 99):02}",
                    "idempotencyKey": key(),
                },
            )
        )
    for n in range(12):
        calls.append(
            post(
                client,
                staff.token,
                ADJUST,
                {
                    "memberId": member["id"],
                    "points": randomly.choice([-90, -60, -25, 15, 40]),
                    "reason": f"correction {n}",
                    "idempotencyKey": key(),
                },
            )
        )
    for order_ref in orders:
        for amount in ("20.00", "30.00", None):
            calls.append(
                post(
                    client,
                    staff.token,
                    REVERSE_PURCHASE,
                    {
                        "memberId": member["id"],
                        "orderRef": order_ref,
                        "amount": amount,
                        "idempotencyKey": key(),
                    },
                )
            )
    calls += [expire_member(runtime, pk(member["id"]), clock.now()) for _ in range(4)]
    randomly.shuffle(calls)
    outcomes = await asyncio.wait_for(asyncio.gather(*calls), timeout=DEADLINE)

    payloads = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    refused = {error["code"] for p in payloads for error in p["userErrors"]}
    assert refused <= {"INSUFFICIENT_POINTS", "INVALID_INPUT"}, refused
    expired = [outcome for outcome in outcomes if isinstance(outcome, int)]
    assert sum(expired) <= 50  # the expiry job expires the due lot at most once

    versions, _ = await versions_and_points(member["id"])
    assert versions == list(range(1, len(versions) + 1))
    kinds = await LedgerEntry.filter(member_id=pk(member["id"])).values_list("kind", flat=True)
    assert kinds.count(LedgerKind.EXPIRE) == 1
    balance = await Balance.get(member_id=pk(member["id"]))
    assert balance.available >= 0
    assert balance.version == len(versions)
    for order_ref in orders:
        refunded = await Purchase.get(brand_id=brand.id, order_ref=order_ref)
        assert refunded.points_reversed <= refunded.points_earned
    assert await audit(brand_id=brand.id) == []
    # What the API reports is what the ledger says.
    shown = await staff.balance(member["id"])
    assert (shown["available"], shown["version"]) == (balance.available, balance.version)


async def test_concurrent_partial_refunds_never_claw_more_than_was_earned(staff, client, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "99.99", orderRef="SPLIT")  # 99 points
    refunds = [
        post(
            client,
            staff.token,
            REVERSE_PURCHASE,
            {
                "memberId": member["id"],
                "orderRef": "SPLIT",
                "amount": "10.00",
                "idempotencyKey": key(),
            },
        )
        for _ in range(12)
    ]
    outcomes = await asyncio.wait_for(asyncio.gather(*refunds), timeout=DEADLINE)
    accepted = [p for p in outcomes if not p["userErrors"]]
    refused = [p["userErrors"][0]["code"] for p in outcomes if p["userErrors"]]
    assert (len(accepted), refused) == (9, ["INVALID_INPUT"] * 3)  # 9 x 10.00 fit in 99.99
    clawed = -sum(p["entry"]["points"] for p in accepted if p["entry"])
    refunded = await Purchase.get(brand_id=brand.id, order_ref="SPLIT")
    assert str(refunded.refunded_amount) == "90.00"
    assert clawed == refunded.points_reversed == 89  # floor(99 x 90 / 99.99)
    rest = await staff.reverse(member["id"], "SPLIT")
    assert -rest["entry"]["points"] + clawed == 99
    assert await audit(brand_id=brand.id) == []


async def test_movements_of_different_members_do_not_wait_for_each_other_forever(
    staff, client, brand
):
    members = [await staff.register(f"M{n}") for n in range(6)]
    calls = []
    for member in members:
        for n in range(5):
            calls.append(
                post(
                    client,
                    staff.token,
                    RECORD_PURCHASE,
                    {
                        "memberId": member["id"],
                        "orderRef": f"{member['id']}-{n}",
                        "total": "10.00",
                        "idempotencyKey": key(),
                    },
                )
            )
            calls.append(
                post(
                    client,
                    staff.token,
                    ADJUST,
                    {
                        "memberId": member["id"],
                        "points": -5,
                        "reason": "spend",
                        "idempotencyKey": key(),
                    },
                )
            )
    outcomes = await asyncio.wait_for(asyncio.gather(*calls), timeout=DEADLINE)
    assert {e["code"] for p in outcomes for e in p["userErrors"]} <= {"INSUFFICIENT_POINTS"}
    for member in members:
        versions, _ = await versions_and_points(member["id"])
        assert versions == list(range(1, len(versions) + 1))
    assert await audit(brand_id=brand.id) == []
