"""The audit: every ledger invariant checked in SQL, by the helper and by `pointsmall audit`;
each broken invariant is found and names its member. Corruptions are made on this test's own
members and repaired before it ends, so the session's ledger stays consistent."""

from __future__ import annotations

import pytest
from tortoise.connection import get_connection

from domain.ledger.audit import audit
from tests.support.commands import pointsmall_on
from tests.support.ledger import pk

# (what is broken, the statement breaking it, the statement repairing it); $1 is the member.
CORRUPTIONS = {
    "balance above the ledger": (
        "UPDATE balance SET available = available + 7 WHERE member_id = $1",
        "UPDATE balance SET available = available - 7 WHERE member_id = $1",
    ),
    "a lot's remaining points": (
        "UPDATE lot SET remaining = remaining - 3 WHERE id = "
        "(SELECT max(id) FROM lot WHERE member_id = $1)",
        "UPDATE lot SET remaining = remaining + 3 WHERE id = "
        "(SELECT max(id) FROM lot WHERE member_id = $1)",
    ),
    "an entry's points": (
        "UPDATE ledger_entry SET points = points + 1 WHERE member_id = $1 AND version = 1",
        "UPDATE ledger_entry SET points = points - 1 WHERE member_id = $1 AND version = 1",
    ),
    "an entry's balanceAfter": (
        "UPDATE ledger_entry SET balance_after = balance_after + 1 "
        "WHERE member_id = $1 AND version = 2",
        "UPDATE ledger_entry SET balance_after = balance_after - 1 "
        "WHERE member_id = $1 AND version = 2",
    ),
    "a gap in the versions": (
        "UPDATE ledger_entry SET version = version + 10 WHERE member_id = $1 AND version = 3",
        "UPDATE ledger_entry SET version = version - 10 WHERE member_id = $1 AND version = 13",
    ),
    "the balance's version": (
        "UPDATE balance SET version = version + 1 WHERE member_id = $1",
        "UPDATE balance SET version = version - 1 WHERE member_id = $1",
    ),
}


async def execute(statement: str, member_id: str) -> None:
    await get_connection("default").execute_query(statement, [pk(member_id)])


async def busy_member(staff) -> dict:
    """A member whose ledger has every kind of movement but redemption: 3 lots, 5 entries."""
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="A-1")
    await staff.purchase(member["id"], "60.00", orderRef="A-2")
    await staff.adjust(member["id"], -120)
    await staff.reverse(member["id"], "A-2")  # 40 left of 60: owes 20
    await staff.adjust(member["id"], 50)  # pays the 20 off first
    return member


async def test_a_busy_ledger_passes_the_audit(staff, brand, settings):
    member = await busy_member(staff)
    other = await busy_member(staff)
    assert await audit(brand_id=brand.id) == []
    assert await audit(member_id=pk(member["id"])) == []
    for someone in (member, other):
        result = pointsmall_on(settings, "audit", "--member", someone["id"])
        assert result.returncode == 0, result.stderr
        assert "The ledger is consistent." in result.stdout


async def test_a_corrupted_balance_row_is_found_by_the_command_and_the_helper(
    staff, brand, settings
):
    member = await busy_member(staff)
    bystander = await busy_member(staff)
    breaking, repairing = CORRUPTIONS["balance above the ledger"]
    await execute(breaking, member["id"])
    try:
        (finding,) = await audit(brand_id=brand.id)
        assert finding.member_id == pk(member["id"])
        assert finding.available == finding.ledger_points + 7 == finding.lot_points + 7
        result = pointsmall_on(settings, "audit")
        assert result.returncode == 1
        listed = [line.split(":")[0] for line in result.stderr.splitlines() if line]
        assert member["id"] in listed  # named by global id
        assert bystander["id"] not in listed
        only_that_member = pointsmall_on(settings, "audit", "--member", member["id"])
        assert only_that_member.returncode == 1
        assert only_that_member.stderr.startswith(f"{member['id']}:")
    finally:
        await execute(repairing, member["id"])
    assert await audit(brand_id=brand.id) == []
    assert pointsmall_on(settings, "audit", "--member", member["id"]).returncode == 0


@pytest.mark.parametrize("corruption", CORRUPTIONS)
async def test_each_broken_invariant_is_found(staff, brand, corruption):
    member = await busy_member(staff)
    await busy_member(staff)
    breaking, repairing = CORRUPTIONS[corruption]
    await execute(breaking, member["id"])
    try:
        assert [finding.member_id for finding in await audit(brand_id=brand.id)] == [
            pk(member["id"])
        ]
    finally:
        await execute(repairing, member["id"])
    assert await audit(brand_id=brand.id) == []
