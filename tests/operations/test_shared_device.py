"""Risk rule SHARED_DEVICE: the third member registered within a day on one device (the app's
`deviceId`) is flagged, never refused; the device id is kept for the brand's review only."""

from __future__ import annotations

import json
from datetime import timedelta

from db.models import Member
from domain.brands import create_brand
from resolvers.ids import parse_id
from tests.support.factories import REGISTER, Staff, key

FLAGS = """
{ riskFlags(status: OPEN, first: 20) { edges { node {
    reason details member { id } entry { id } } } } }
"""
ME_DEVICE = "{ me { id deviceId } }"


async def flags(gql, staff, reason: str) -> list[dict]:
    body = await gql(FLAGS, token=staff.token)
    assert "errors" not in body, body
    found = [edge["node"] for edge in body["data"]["riskFlags"]["edges"]]
    return [flag for flag in found if flag["reason"] == reason]


async def test_the_third_member_on_a_device_within_a_day_is_flagged(staff, gql, clock):
    device = f"ios-{key()}"
    members = [await staff.register(f"M{n}", deviceId=device) for n in range(2)]
    await staff.register("Elsewhere", deviceId=f"ios-{key()}")
    await staff.register("No device")
    assert await flags(gql, staff, "SHARED_DEVICE") == []  # two on one device: a couple, say

    members.append(await staff.register("M2", deviceId=f"  {device} "))  # as sent, trimmed
    (flag,) = await flags(gql, staff, "SHARED_DEVICE")
    assert flag["member"]["id"] == members[-1]["id"] and flag["entry"] is None
    assert json.loads(flag["details"]) == {"deviceId": device, "members": 3}
    stored = await Member.filter(id__in=[parse_id(m["id"])[1] for m in members]).values_list(
        "device_id", flat=True
    )
    assert set(stored) == {device}

    await staff.register("M3", deviceId=device)  # the fourth is flagged too
    assert len(await flags(gql, staff, "SHARED_DEVICE")) == 2
    clock.advance(timedelta(days=1, minutes=1))
    await staff.register("Later", deviceId=device)  # the others a day ago
    await staff.register("Later still", deviceId=device)
    assert len(await flags(gql, staff, "SHARED_DEVICE")) == 2


async def test_a_device_and_a_phone_prefix_flag_one_registration_both(staff, gql, clock):
    device = f"android-{key()}"
    prefix = f"138{clock.now().microsecond % 10_000:04d}"
    for n in range(5):
        await staff.register(f"P{n}", phone=f"{prefix}{n:04d}", deviceId=device)
    assert len(await flags(gql, staff, "SHARED_DEVICE")) == 3  # the third, fourth and fifth
    (by_prefix,) = await flags(gql, staff, "SHARED_PHONE_PREFIX")  # the fifth
    assert json.loads(by_prefix["details"]) == {"phonePrefix": prefix, "members": 5}


async def test_another_brands_members_on_the_device_do_not_count(staff, gql, make_token):
    device = f"web-{key()}"
    other = await create_brand(f"o{key()[:12]}", "Other Brand")
    other_staff = Staff(gql, make_token(other, "ADMIN", "admin-1"))
    for n in range(2):
        await other_staff.register(f"O{n}", deviceId=device)
    await staff.register("Mine", deviceId=device)
    assert await flags(gql, staff, "SHARED_DEVICE") == []
    assert await flags(gql, other_staff, "SHARED_DEVICE") == []


async def test_a_replayed_registration_flags_once(staff, gql):
    device = f"ios-{key()}"
    for n in range(2):
        await staff.register(f"R{n}", deviceId=device)
    input = {"displayName": "R2", "deviceId": device, "idempotencyKey": key()}
    first = await staff.call(REGISTER, input)
    again = await staff.call(REGISTER, input)
    assert first == again and first["userErrors"] == []
    assert len(await flags(gql, staff, "SHARED_DEVICE")) == 1
    changed = await staff.call(REGISTER, {**input, "deviceId": f"ios-{key()}"})
    assert [e["code"] for e in changed["userErrors"]] == ["CONFLICT"]


async def test_a_device_id_is_up_to_128_printable_characters(staff):
    for bad in ("x" * 129, "ios\n1"):
        payload = await staff.call(REGISTER, {"displayName": "Bad", "deviceId": bad})
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_INPUT", ["deviceId"])
        ]
    longest = await staff.register("Long", deviceId="x" * 128)
    blank = await staff.register("Blank", deviceId="   ")
    stored = dict(
        await Member.filter(id__in=[parse_id(m["id"])[1] for m in (longest, blank)]).values_list(
            "display_name", "device_id"
        )
    )
    assert stored == {"Long": "x" * 128, "Blank": None}


async def test_members_cannot_read_a_device_id(staff, gql, brand, make_token):
    member = await staff.register("Fi", deviceId=f"ios-{key()}")
    body = await gql(ME_DEVICE, token=make_token(brand, "MEMBER", member["id"]))
    assert "deviceId" in body["errors"][0]["message"] and body.get("data") is None
