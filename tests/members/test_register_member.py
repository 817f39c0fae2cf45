"""registerMember: validated, unique per brand, referred, generated codes, idempotent."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from db.models import Balance, IdempotencyRecord, Member
from domain import members as member_domain
from domain.members import CODE_ALPHABET
from tests.support.factories import key
from tests.support.members import error_code, stored, user_errors

REGISTER = """
mutation ($input: RegisterMemberInput!) {
  registerMember(input: $input) {
    member {
      id displayName phone email birthday referralCode memberCode status
      marketingEmail marketingSms
      tier { name }
      points { available version }
    }
    userErrors { field message code }
  }
}
"""


async def register(gql, token: str, **fields) -> dict:
    body = await gql(
        REGISTER, {"input": {"displayName": "Ada", "idempotencyKey": key(), **fields}}, token=token
    )
    assert "errors" not in body, body
    return body["data"]["registerMember"]


async def test_a_member_starts_active_on_the_base_tier_with_no_points(staff, brand):
    payload = await register(
        staff.gql,
        staff.token,
        displayName="  Ada Lovelace ",
        phone="+86 138-0013-8000",
        email=" Ada@Example.COM ",
        birthday="1990-12-10",
    )
    assert payload["userErrors"] == []
    member = payload["member"]
    assert member["displayName"] == "Ada Lovelace"
    assert member["phone"] == "+8613800138000"
    assert member["email"] == "ada@example.com"
    assert member["birthday"] == "1990-12-10"
    assert member["status"] == "ACTIVE"
    assert member["tier"] == {"name": "Member"}
    assert member["points"] == {"available": 0, "version": 0}
    assert (member["marketingEmail"], member["marketingSms"]) == (False, False)
    for code in (member["referralCode"], member["memberCode"]):
        assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)
    row = await stored(member)
    assert row.brand_id == brand.id and row.referred_by_id is None
    assert await Balance.filter(member_id=row.id).exists()


async def test_the_only_required_field_is_the_display_name(staff):
    payload = await register(staff.gql, staff.token, displayName="Bo")
    assert payload["userErrors"] == []
    assert (payload["member"]["phone"], payload["member"]["email"]) == (None, None)
    assert payload["member"]["birthday"] is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"displayName": ""}, "displayName"),
        ({"displayName": "   "}, "displayName"),
        ({"displayName": "x" * 121}, "displayName"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "call me"}, "phone"),
        ({"phone": "+1234567890123456"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "ada@example"}, "email"),
        ({"email": "ada lovelace@example.com"}, "email"),
        ({"email": "a" * 250 + "@x.io"}, "email"),
        ({"birthday": "1899-12-31"}, "birthday"),
        ({"birthday": "2999-01-01"}, "birthday"),
        ({"idempotencyKey": ""}, "idempotencyKey"),
    ],
)
async def test_each_bad_field_is_named_and_nothing_is_written(staff, brand, fields, field):
    payload = await register(staff.gql, staff.token, **fields)
    assert user_errors(payload) == [("INVALID_INPUT", [field])]
    assert payload["member"] is None
    assert not await Member.filter(brand_id=brand.id).exists()
    assert not await IdempotencyRecord.filter(brand_id=brand.id).exists()


async def test_a_birthday_after_today_is_refused(staff, brand, clock):
    # Two days on: no timezone's today yet (a birthday may be today where it is latest, UTC+14).
    later = clock.now().date() + timedelta(days=2)
    payload = await register(staff.gql, staff.token, birthday=later.isoformat())
    assert user_errors(payload) == [("INVALID_INPUT", ["birthday"])]
    today = await register(staff.gql, staff.token, birthday=clock.now().date().isoformat())
    assert today["userErrors"] == []


async def test_phone_and_email_are_unique_per_brand_as_normalised(staff, brand):
    await staff.register(phone="13800138000", email="ada@example.com")
    same_phone = await register(staff.gql, staff.token, phone="138 0013 8000")
    same_email = await register(staff.gql, staff.token, email="ADA@example.com")
    assert user_errors(same_phone) == [("DUPLICATE", ["phone"])]
    assert user_errors(same_email) == [("DUPLICATE", ["email"])]
    assert await Member.filter(brand_id=brand.id).count() == 1


async def test_the_same_phone_and_email_may_belong_to_a_member_of_another_brand(staff, other_staff):
    await staff.register(phone="13800138000", email="ada@example.com")
    elsewhere = await register(
        other_staff.gql, other_staff.token, phone="13800138000", email="ada@example.com"
    )
    assert elsewhere["userErrors"] == []


async def test_a_referral_code_names_the_referrer_who_is_stored(staff):
    referrer = await staff.register("Ada")
    payload = await register(
        staff.gql, staff.token, displayName="Bo", referralCode=referrer["referralCode"].lower()
    )
    assert payload["userErrors"] == []
    assert payload["member"]["referralCode"] != referrer["referralCode"]
    assert (await stored(payload["member"])).referred_by_id == (await stored(referrer)).id


async def test_an_unknown_referral_code_is_not_found_and_nothing_is_written(
    staff, brand, other_staff
):
    stranger = await other_staff.register()
    for code in ("NOSUCHCODE", stranger["referralCode"]):
        payload = await register(staff.gql, staff.token, referralCode=code)
        assert user_errors(payload) == [("NOT_FOUND", ["referralCode"])]
    assert not await Member.filter(brand_id=brand.id).exists()


async def test_generated_codes_are_unique(staff):
    registered = [await staff.register(f"Member {number}") for number in range(30)]
    codes = [member["referralCode"] for member in registered] + [
        member["memberCode"] for member in registered
    ]
    assert len(set(codes)) == len(codes)


async def test_a_generated_code_that_is_taken_is_drawn_again(staff, brand, monkeypatch):
    first = await staff.register("Ada")
    drawn = iter([first["referralCode"], first["memberCode"]])
    original = member_domain.new_code
    monkeypatch.setattr(
        member_domain, "new_code", lambda length: next(drawn, None) or original(length)
    )
    payload = await register(staff.gql, staff.token, displayName="Bo")
    assert payload["userErrors"] == []
    second = payload["member"]
    assert second["referralCode"] not in (first["referralCode"], first["memberCode"])
    assert second["memberCode"] not in (first["referralCode"], first["memberCode"])
    assert await Member.filter(brand_id=brand.id).count() == 2


async def test_a_repeated_key_returns_the_same_member(staff, brand):
    fields = {"displayName": "Ada", "phone": "13800138000", "idempotencyKey": key()}
    first = await register(staff.gql, staff.token, **fields)
    again = await register(staff.gql, staff.token, **fields)
    assert again["userErrors"] == []
    assert again["member"] == first["member"]
    assert await Member.filter(brand_id=brand.id).count() == 1


async def test_the_same_key_with_another_payload_is_a_conflict(staff, brand):
    idempotency_key = key()
    await register(staff.gql, staff.token, displayName="Ada", idempotencyKey=idempotency_key)
    other = await register(staff.gql, staff.token, displayName="Bo", idempotencyKey=idempotency_key)
    assert user_errors(other) == [("CONFLICT", ["idempotencyKey"])]
    assert await Member.filter(brand_id=brand.id).values_list("display_name", flat=True) == ["Ada"]


async def test_twenty_concurrent_registrations_with_one_key_make_one_member(staff, brand):
    fields = {"displayName": "Ada", "email": "ada@example.com", "idempotencyKey": key()}
    payloads = await asyncio.gather(
        *(register(staff.gql, staff.token, **fields) for _ in range(20))
    )
    assert all(payload["userErrors"] == [] for payload in payloads), payloads
    assert len({payload["member"]["id"] for payload in payloads}) == 1
    assert await Member.filter(brand_id=brand.id).count() == 1


async def test_of_concurrent_registrations_of_one_phone_exactly_one_succeeds(staff, brand):
    payloads = await asyncio.gather(
        *(
            register(staff.gql, staff.token, displayName=f"Ada {n}", phone="13800138000")
            for n in range(10)
        )
    )
    outcomes = sorted(str(user_errors(payload)) for payload in payloads)
    assert outcomes == [str([("DUPLICATE", ["phone"])])] * 9 + ["[]"]
    assert await Member.filter(brand_id=brand.id).count() == 1


@pytest.mark.parametrize("role", ["STAFF", "ADMIN"])
async def test_staff_and_admins_register(gql, brand, make_token, role):
    payload = await register(gql, make_token(brand, role, "cashier-1"))
    assert payload["userErrors"] == []


async def test_a_member_or_an_analyst_may_not_register_and_nothing_is_written(
    gql, brand, staff, make_token, member_token
):
    member = await staff.register()
    variables = {"input": {"displayName": "Eve", "idempotencyKey": key()}}
    for token in (member_token(member), make_token(brand, "ANALYST", "analyst-1")):
        body = await gql(REGISTER, variables, token=token)
        assert error_code(body) == "FORBIDDEN"
        assert body["data"] is None
    anonymous = await gql(REGISTER, variables, brand=brand.code)
    assert error_code(anonymous) == "UNAUTHENTICATED"
    assert await Member.filter(brand_id=brand.id).count() == 1


async def test_a_birthday_may_be_any_past_date(staff):
    payload = await register(staff.gql, staff.token, birthday=date(1900, 1, 1).isoformat())
    assert payload["member"]["birthday"] == "1900-01-01"
