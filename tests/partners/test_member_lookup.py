"""partnerMemberLookup: a partner with MEMBERS_LOOKUP finds a member of the brand by the code on
their card or by phone, and learns the id to earn for and the display name, nothing else; a
member of another brand, or a code or phone no member has, is NOT_FOUND."""

from __future__ import annotations

import pytest

from domain.brands import create_brand
from tests.support.factories import Staff, key, unique_code
from tests.support.partners import create_partner, issue, partner_gql

LOOKUP = """
query ($memberCode: String, $phone: String) {
  partnerMemberLookup(memberCode: $memberCode, phone: $phone) {
    match { memberId displayName }
    userErrors { code field }
  }
}
"""
MEMBER_CODE = "query ($id: ID!) { member(id: $id) { memberCode } }"
MATCH_FIELDS = '{ __type(name: "PartnerMemberMatch") { fields { name } } }'
RECORD = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { entry { points } userErrors { code } }
}
"""
PHONE = "+86 138-0013-8000"


@pytest.fixture
async def lookup_key(staff) -> str:
    """A key that may look members up and record purchases, and nothing else."""
    partner = await create_partner(staff)
    return (await issue(staff, partner["id"], ["MEMBERS_LOOKUP", "POINTS_EARN"]))["secret"]


async def look_up(client, secret: str, **by: str) -> dict:
    body = await partner_gql(client, secret, LOOKUP, by)
    assert "errors" not in body, body
    return body["data"]["partnerMemberLookup"]


async def member_code_of(staff: Staff, member_id: str) -> str:
    body = await staff.gql(MEMBER_CODE, {"id": member_id}, token=staff.token)
    return body["data"]["member"]["memberCode"]


async def test_a_partner_finds_a_member_by_card_or_phone_and_earns_for_them(
    client, staff, lookup_key
):
    member = await staff.register("Ada", phone=PHONE)
    found = {"match": {"memberId": member["id"], "displayName": "Ada"}, "userErrors": []}
    code = await member_code_of(staff, member["id"])
    assert await look_up(client, lookup_key, memberCode=f" {code.lower()} ") == found
    assert await look_up(client, lookup_key, phone="+8613800138000") == found

    order = {"memberId": found["match"]["memberId"], "orderRef": f"L-{key()[:8]}",
             "total": "30.00", "idempotencyKey": key()}  # fmt: skip
    earned = await partner_gql(client, lookup_key, RECORD, {"input": order})
    assert earned["data"]["recordPurchase"] == {"entry": {"points": 30}, "userErrors": []}


async def test_a_match_carries_the_id_and_the_display_name_only(gql, brand):
    body = await gql(MATCH_FIELDS, brand=brand.code)
    assert {field["name"] for field in body["data"]["__type"]["fields"]} == {
        "memberId",
        "displayName",
    }


async def test_no_member_of_the_brand_is_not_found(client, gql, make_token, staff, lookup_key):
    other_brand = await create_brand(unique_code(), "Other Brand", timezone="Asia/Shanghai")
    elsewhere = Staff(gql, make_token(other_brand, "ADMIN", "admin-1"))
    stranger = await elsewhere.register("Bo", phone=PHONE)
    stranger_code = await member_code_of(elsewhere, stranger["id"])

    for by, field in (({"phone": PHONE}, "phone"), ({"memberCode": stranger_code}, "memberCode"),
                      ({"phone": "+8613900000000"}, "phone"),
                      ({"memberCode": "ZZZZZZZZ"}, "memberCode")):  # fmt: skip
        refused = await look_up(client, lookup_key, **by)
        assert refused == {"match": None, "userErrors": [{"code": "NOT_FOUND", "field": [field]}]}


@pytest.mark.parametrize(
    ("by", "field"),
    [({}, "memberCode"), ({"memberCode": "ABCD2345", "phone": PHONE}, "memberCode"),
     ({"phone": "call me"}, "phone")],
    ids=["neither", "both", "not-a-phone"],
)  # fmt: skip
async def test_a_lookup_names_one_card_or_one_phone(client, lookup_key, by, field):
    refused = await look_up(client, lookup_key, **by)
    assert refused == {"match": None, "userErrors": [{"code": "INVALID_INPUT", "field": [field]}]}


async def test_staff_look_members_up_too(staff):
    member = await staff.register("Ada", phone=PHONE)
    body = await staff.gql(LOOKUP, {"phone": PHONE}, token=staff.token)
    assert body["data"]["partnerMemberLookup"]["match"]["memberId"] == member["id"]
