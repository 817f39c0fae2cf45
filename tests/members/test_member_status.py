"""setMemberStatus: admins freeze, reopen and close members, with reasons kept; a frozen or
closed member neither earns nor spends."""

from __future__ import annotations

import pytest

from db.models import IdempotencyRecord, LedgerEntry, MemberStatus, MemberStatusChange, Purchase
from resolvers.ids import encode_id
from tests.support.factories import key
from tests.support.members import error_code, stored, user_errors

SET_STATUS = """
mutation ($input: SetMemberStatusInput!) {
  setMemberStatus(input: $input) {
    member { id status }
    userErrors { field message code }
  }
}
"""


async def set_status(staff, member: dict, status: str, reason: str = "fraud check") -> dict:
    return await staff.call(
        SET_STATUS, {"memberId": member["id"], "status": status, "reason": reason}
    )


async def changes_of(member: dict) -> list[tuple[str, str, str, str]]:
    rows = await MemberStatusChange.filter(member_id=(await stored(member)).id).order_by("id")
    return [(row.previous.value, row.current.value, row.reason, row.actor) for row in rows]


async def test_an_admin_freezes_and_reopens_a_member_with_the_reasons_kept(staff):
    member = await staff.register()
    frozen = await set_status(staff, member, "FROZEN", "  card reported stolen ")
    assert frozen == {"member": {"id": member["id"], "status": "FROZEN"}, "userErrors": []}
    reopened = await set_status(staff, member, "ACTIVE", "card found")
    assert reopened["member"]["status"] == "ACTIVE"
    assert await changes_of(member) == [
        ("ACTIVE", "FROZEN", "card reported stolen", "ADMIN:admin-1"),
        ("FROZEN", "ACTIVE", "card found", "ADMIN:admin-1"),
    ]


async def test_setting_the_status_a_member_has_records_no_change(staff):
    member = await staff.register()
    payload = await set_status(staff, member, "ACTIVE")
    assert payload["member"]["status"] == "ACTIVE"
    assert await changes_of(member) == []


async def test_a_frozen_member_earns_and_spends_nothing(staff, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00")
    before = await staff.balance(member["id"])
    await set_status(staff, member, "FROZEN")
    refusals = [
        await staff.purchase(member["id"], "50.00"),
        await staff.adjust(member["id"], 10),
        await staff.adjust(member["id"], -10),
    ]
    for refused in refusals:
        assert user_errors(refused) == [("MEMBER_FROZEN", ["memberId"])]
        assert refused["entry"] is None
    assert await staff.balance(member["id"]) == before
    row = await stored(member)
    assert await LedgerEntry.filter(member_id=row.id).count() == 1
    assert await Purchase.filter(member_id=row.id).count() == 1
    assert not await IdempotencyRecord.filter(brand_id=brand.id, operation="adjustPoints").exists()


async def test_a_reopened_member_earns_again(staff):
    member = await staff.register()
    await set_status(staff, member, "FROZEN")
    await set_status(staff, member, "ACTIVE", "checked")
    earned = await staff.purchase(member["id"], "20.00")
    assert earned["userErrors"] == []
    assert earned["member"]["points"]["available"] == 20


async def test_a_closed_member_stays_closed_and_moves_no_points(staff):
    member = await staff.register()
    await staff.purchase(member["id"], "30.00")
    closed = await set_status(staff, member, "CLOSED", "asked to leave")
    assert closed["member"]["status"] == "CLOSED"
    for status in ("ACTIVE", "FROZEN"):
        refused = await set_status(staff, member, status, "changed their mind")
        assert user_errors(refused) == [("INVALID_INPUT", ["status"])]
        assert refused["member"] is None
    assert (await stored(member)).status is MemberStatus.CLOSED
    assert await changes_of(member) == [("ACTIVE", "CLOSED", "asked to leave", "ADMIN:admin-1")]
    refused = await staff.adjust(member["id"], -30)
    assert user_errors(refused) == [("MEMBER_FROZEN", ["memberId"])]
    assert (await staff.balance(member["id"]))["available"] == 30


@pytest.mark.parametrize("reason", ["", "   "])
async def test_a_status_change_needs_a_reason(staff, reason):
    member = await staff.register()
    payload = await set_status(staff, member, "FROZEN", reason)
    assert user_errors(payload) == [("INVALID_INPUT", ["reason"])]
    assert (await stored(member)).status is MemberStatus.ACTIVE
    assert await changes_of(member) == []


async def test_another_brands_member_is_not_found_and_left_alone(staff, other_staff):
    stranger = await other_staff.register()
    payload = await set_status(staff, stranger, "FROZEN")
    assert user_errors(payload) == [("NOT_FOUND", ["memberId"])]
    assert (await stored(stranger)).status is MemberStatus.ACTIVE


async def test_an_id_of_no_member_is_invalid_input(staff, brand):
    for member_id in ("not-an-id", encode_id("Tier", 1)):
        payload = await set_status(staff, {"id": member_id}, "FROZEN")
        assert user_errors(payload) == [("INVALID_INPUT", ["memberId"])]


async def test_only_admins_change_a_status(gql, brand, staff, make_token, member_token):
    member = await staff.register()
    frozen = {"memberId": member["id"], "status": "FROZEN", "reason": "why not"}
    variables = {"input": {**frozen, "idempotencyKey": key()}}
    for token in (
        make_token(brand, "STAFF", "cashier-1"),
        make_token(brand, "ANALYST", "analyst-1"),
        member_token(member),
    ):
        assert error_code(await gql(SET_STATUS, variables, token=token)) == "FORBIDDEN"
    anonymous = await gql(SET_STATUS, variables, brand=brand.code)
    assert error_code(anonymous) == "UNAUTHENTICATED"
    assert (await stored(member)).status is MemberStatus.ACTIVE
    assert await changes_of(member) == []


async def test_a_freeze_waits_for_a_movement_in_flight(staff, settings):
    """A movement holds the member's balance row; the freeze commits only after it."""
    import asyncio

    import asyncpg

    member = await staff.register()
    member_pk = (await stored(member)).id
    in_flight = await asyncpg.connect(settings.database_url)
    try:
        transaction = in_flight.transaction()
        await transaction.start()
        await in_flight.execute("SELECT 1 FROM balance WHERE member_id = $1 FOR UPDATE", member_pk)
        freeze = asyncio.create_task(set_status(staff, member, "FROZEN"))
        await asyncio.sleep(0.5)
        assert not freeze.done()
        await transaction.commit()
        assert (await asyncio.wait_for(freeze, 10))["member"]["status"] == "FROZEN"
    finally:
        await in_flight.close()
