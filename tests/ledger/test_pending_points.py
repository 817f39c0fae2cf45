"""Pending points: a brand may hold a purchase's points for its return window. Held points are
shown as pending, cannot be spent and do not expire; a refund within the window cancels them
with no shortfall; once the window closes they become available, exactly once, whether the
release job or the member's next movement gets there first."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from db.models import LedgerEntry, LedgerKind, Lot
from domain.ledger.audit import audit
from domain.ledger.expiry import release_member, run_release
from tests.support.catalog import create_catalog_item, error_codes, redeem_item
from tests.support.commands import pointsmall_process
from tests.support.ledger import advance_past, entries, lots, parse, pk

PENDING_DAYS = 7

POINTS = """
query ($id: ID!) {
  member(id: $id) {
    points { available pending version lifetimeEarned expiring(withinDays: 3650) { points } }
  }
}
"""
PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    entry { id kind points pending pendingUntil balanceAfter expiresAt createdAt }
    member { points { available pending } }
    userErrors { field message code }
  }
}
"""
REVERSE = """
mutation ($input: ReversePurchaseInput!) {
  reversePurchase(input: $input) {
    entry { kind points pending shortfall balanceAfter }
    member { points { available pending } }
    userErrors { field message code }
  }
}
"""
LIABILITY = "{ insights { liability { points pending byExpiryMonth { points } } } }"
LEDGER = """
query ($id: ID!) {
  member(id: $id) {
    ledger(first: 50) {
      edges { node { kind points pending shortfall breakdown { rule points } } }
    }
  }
}
"""


SETTINGS = """
mutation ($input: UpdateBrandSettingsInput!) {
  updateBrandSettings(input: $input) { settings { pendingDays } userErrors { code } }
}
"""


@pytest.fixture
async def holding(make_brand, caller):
    """A brand whose admin holds purchases' points for a week, and that admin."""
    brand = await make_brand()
    admin = caller(brand)
    held = await admin.call(SETTINGS, {"pendingDays": PENDING_DAYS})
    assert held == {"settings": {"pendingDays": PENDING_DAYS}, "userErrors": []}
    return brand, admin


async def points_of(staff, member_id: str) -> dict:
    body = await staff.gql(POINTS, {"id": member_id}, token=staff.token)
    assert "errors" not in body, body
    return body["data"]["member"]["points"]


async def ledger_of(staff, member_id: str) -> list[tuple]:
    body = await staff.gql(LEDGER, {"id": member_id}, token=staff.token)
    nodes = [edge["node"] for edge in body["data"]["member"]["ledger"]["edges"]]
    return [(n["kind"], n["points"], n["pending"], n["shortfall"]) for n in reversed(nodes)]


async def buy(staff, member_id: str, total: str, order_ref: str) -> dict:
    payload = await staff.call(
        PURCHASE, {"memberId": member_id, "orderRef": order_ref, "total": total}
    )
    assert payload["userErrors"] == [], payload
    return payload


async def refund(staff, member_id: str, order_ref: str, amount: str | None = None) -> dict:
    payload = await staff.call(
        REVERSE, {"memberId": member_id, "orderRef": order_ref, "amount": amount}
    )
    assert payload["userErrors"] == [], payload
    return payload


async def test_a_purchases_points_are_pending_for_the_window_and_cannot_be_spent(
    holding, clock, gql, make_token
):
    brand, staff = holding
    member = await staff.register()
    await staff.adjust(member["id"], 30)
    bought = await buy(staff, member["id"], "120.00", "HELD")
    entry = bought["entry"]
    assert (entry["kind"], entry["points"], entry["pending"], entry["balanceAfter"]) == (
        "EARN",
        0,
        120,
        30,
    )
    assert parse(entry["pendingUntil"]) == parse(entry["createdAt"]) + timedelta(days=PENDING_DAYS)
    assert entry["expiresAt"] is not None  # the lot's expiry, as for any earn
    assert bought["member"]["points"] == {"available": 30, "pending": 120}
    shown = await points_of(staff, member["id"])
    assert (shown["available"], shown["pending"], shown["lifetimeEarned"]) == (30, 120, 30)
    assert sum(group["points"] for group in shown["expiring"]) == 30  # held lots never expire

    owed = await staff.gql(LIABILITY, token=staff.token)
    liability = owed["data"]["insights"]["liability"]
    assert (liability["points"], liability["pending"]) == (30, 120)
    assert sum(month["points"] for month in liability["byExpiryMonth"]) == 150

    item = await create_catalog_item(staff, pointsPrice=100)
    spent = await redeem_item(gql, make_token(brand, "MEMBER", subject=member["id"]), item["id"])
    assert error_codes(spent) == [("INSUFFICIENT_POINTS", ["itemId"])]
    taken = await staff.adjust(member["id"], -31)
    assert error_codes(taken) == [("INSUFFICIENT_POINTS", ["points"])]
    assert await audit(brand_id=brand.id) == []


async def test_once_the_window_closes_the_job_releases_them_exactly_once(holding, clock, runtime):
    brand, staff = holding
    member = await staff.register()
    bought = await buy(staff, member["id"], "80.00", "LATER")
    untouched = await staff.register("Bea")
    await buy(staff, untouched["id"], "50.00", "NOT-YET")
    advance_past(clock, parse(bought["entry"]["pendingUntil"]) - timedelta(hours=1))
    await buy(staff, untouched["id"], "10.00", "NOT-YET-2")  # held a week from now

    advance_past(clock, parse(bought["entry"]["pendingUntil"]))
    # Reads count them at once, before the job has run.
    shown = await points_of(staff, member["id"])
    assert (shown["available"], shown["pending"], shown["version"]) == (80, 0, 1)

    assert await run_release(runtime, brand_code=brand.code) == (2, 130)
    assert await ledger_of(staff, member["id"]) == [("EARN", 0, 80, 0), ("EARN", 80, -80, 0)]
    shown = await points_of(staff, member["id"])
    assert (shown["available"], shown["pending"], shown["version"]) == (80, 0, 2)
    assert shown["lifetimeEarned"] == 80
    assert (await points_of(staff, untouched["id"]))["pending"] == 10
    assert all(lot.held_until is None for lot in await lots(member["id"]))

    assert await run_release(runtime, brand_code=brand.code) == (0, 0)
    assert await release_member(runtime, pk(member["id"]), clock.now()) == 0
    assert len(await entries(member["id"])) == 2
    assert await audit(brand_id=brand.id) == []


async def test_a_refund_within_the_window_cancels_pending_points_with_no_shortfall(
    holding, clock, runtime
):
    brand, staff = holding
    member = await staff.register()
    await staff.adjust(member["id"], 40)
    bought = await buy(staff, member["id"], "100.00", "RETURNED")
    await buy(staff, member["id"], "60.00", "KEPT")

    half = await refund(staff, member["id"], "RETURNED", "50.00")
    assert (half["entry"]["kind"], half["entry"]["points"], half["entry"]["pending"]) == (
        "REVERSAL",
        0,
        -50,
    )
    assert (half["entry"]["shortfall"], half["entry"]["balanceAfter"]) == (0, 40)
    assert half["member"]["points"] == {"available": 40, "pending": 110}
    rest = await refund(staff, member["id"], "RETURNED")
    assert (rest["entry"]["points"], rest["entry"]["pending"]) == (0, -50)
    assert rest["member"]["points"] == {"available": 40, "pending": 60}
    assert await audit(brand_id=brand.id) == []

    advance_past(clock, parse(bought["entry"]["pendingUntil"]) + timedelta(hours=1))
    assert await run_release(runtime, brand_code=brand.code) == (1, 60)
    shown = await points_of(staff, member["id"])
    assert (shown["available"], shown["pending"], shown["lifetimeEarned"]) == (100, 0, 100)
    assert await audit(brand_id=brand.id) == []


async def test_a_refund_after_the_window_claws_back_available_points(holding, clock, runtime):
    brand, staff = holding
    member = await staff.register()
    bought = await buy(staff, member["id"], "100.00", "LATE-RETURN")
    advance_past(clock, parse(bought["entry"]["pendingUntil"]))
    await staff.adjust(member["id"], -70)  # releases first, then spends
    assert [kind for kind, *_ in await ledger_of(staff, member["id"])] == [
        "EARN",
        "EARN",
        "ADJUST",
    ]
    late = await refund(staff, member["id"], "LATE-RETURN")
    entry = late["entry"]
    assert (entry["points"], entry["pending"], entry["shortfall"]) == (-30, 0, 70)
    assert late["member"]["points"] == {"available": 0, "pending": 0}
    assert await audit(brand_id=brand.id) == []


async def test_released_points_pay_off_a_shortfall_first(holding, clock, runtime):
    brand, staff = holding
    member = await staff.register()
    first = await buy(staff, member["id"], "100.00", "FIRST")
    advance_past(clock, parse(first["entry"]["pendingUntil"]))
    await staff.adjust(member["id"], -100)
    owed = await refund(staff, member["id"], "FIRST")
    assert owed["entry"]["shortfall"] == 100

    second = await buy(staff, member["id"], "60.00", "SECOND")
    assert (second["entry"]["points"], second["entry"]["pending"]) == (0, 60)  # nothing paid yet
    advance_past(clock, parse(second["entry"]["pendingUntil"]))
    shown = await points_of(staff, member["id"])
    assert (shown["available"], shown["pending"]) == (0, 0)
    assert await run_release(runtime, brand_code=brand.code) == (1, 60)
    body = await staff.gql(LEDGER, {"id": member["id"]}, token=staff.token)
    released = body["data"]["member"]["ledger"]["edges"][0]["node"]
    assert (released["kind"], released["points"], released["pending"]) == ("EARN", 0, -60)
    assert released["breakdown"] == [{"rule": "shortfall", "points": -60}]
    third = await staff.adjust(member["id"], 50)
    assert third["member"]["points"]["available"] == 10  # 40 still owed, paid from these
    assert await audit(brand_id=brand.id) == []


async def test_releasing_one_member_from_many_tasks_at_once_releases_once(holding, clock, runtime):
    brand, staff = holding
    member = await staff.register()
    bought = await buy(staff, member["id"], "90.00", "RACE")
    advance_past(clock, parse(bought["entry"]["pendingUntil"]))
    now = clock.now()
    released = await asyncio.gather(
        *(release_member(runtime, pk(member["id"]), now) for _ in range(8))
    )
    assert sorted(released) == [0] * 7 + [90]
    assert await ledger_of(staff, member["id"]) == [("EARN", 0, 90, 0), ("EARN", 90, -90, 0)]
    assert await audit(brand_id=brand.id) == []


async def test_a_lot_past_its_expiry_when_released_expires_at_once(make_brand, caller, clock):
    brand = await make_brand(pending_days=40, expiry_months=1)
    staff = caller(brand)
    member = await staff.register()
    bought = await buy(staff, member["id"], "25.00", "SHORT-LIVED")
    assert parse(bought["entry"]["expiresAt"]) < parse(bought["entry"]["pendingUntil"])
    advance_past(clock, parse(bought["entry"]["expiresAt"]))
    shown = await points_of(staff, member["id"])
    assert (shown["available"], shown["pending"]) == (0, 25)  # held lots do not expire
    advance_past(clock, parse(bought["entry"]["pendingUntil"]))
    assert (await points_of(staff, member["id"]))["available"] == 0
    await staff.adjust(member["id"], 5)
    assert await ledger_of(staff, member["id"]) == [
        ("EARN", 0, 25, 0),
        ("EARN", 25, -25, 0),
        ("EXPIRE", -25, 0, 0),
        ("ADJUST", 5, 0, 0),
    ]
    assert await audit(brand_id=brand.id) == []


async def test_the_audit_finds_pending_points_that_disagree(holding):
    """A held lot's points corrupted, then repaired."""
    brand, staff = holding
    member = await staff.register()
    await buy(staff, member["id"], "30.00", "AUDITED")
    await Lot.filter(member_id=pk(member["id"])).update(remaining=29)
    (finding,) = await audit(brand_id=brand.id)
    assert (finding.pending, finding.ledger_pending, finding.held_points) == (30, 30, 29)
    assert "held lots 29" in finding.describe()
    # Repaired before the test ends: the session's other audits see every member.
    await Lot.filter(member_id=pk(member["id"])).update(remaining=30)
    assert await audit(brand_id=brand.id) == []


# The `pointsmall release-pending` command, as two processes at once.


def release_command(settings, brand_code: str) -> subprocess.Popen:
    return pointsmall_process(settings, "release-pending", "--brand", brand_code)


def released_by(process: subprocess.Popen) -> tuple[int, int]:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    found = re.search(r"Released (\d+) pending points of (\d+) members", stdout)
    assert found, stdout
    return int(found[1]), int(found[2])


async def test_the_release_command_from_two_processes_at_once_releases_each_lot_once(
    holding, settings
):
    brand, staff = holding
    members = [await staff.register(f"Member {number}") for number in range(12)]
    for member in members:
        await buy(staff, member["id"], "10.00", f"ORDER-{member['id']}")
    # The command runs on real time: the window closed a minute ago.
    past = datetime.now(UTC) - timedelta(minutes=1)
    await Lot.filter(member_id__in=[pk(m["id"]) for m in members]).update(held_until=past)

    first, second = release_command(settings, brand.code), release_command(settings, brand.code)
    outcomes = [released_by(first), released_by(second)]
    assert sum(points for points, _ in outcomes) == 12 * 10
    assert sum(count for _, count in outcomes) >= 12
    for member in members:
        assert [(e.kind, e.points, e.pending) for e in await entries(member["id"])] == [
            (LedgerKind.EARN, 0, 10),
            (LedgerKind.EARN, 10, -10),
        ]
    assert await audit(brand_id=brand.id) == []
    assert released_by(release_command(settings, brand.code)) == (0, 0)
    assert await LedgerEntry.filter(brand_id=brand.id, pending__lt=0).count() == 12
