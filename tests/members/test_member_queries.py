"""Finding members: me, member(id), members(search:), memberByCode, node(id:), and who sees whom."""

from __future__ import annotations

import pytest

from resolvers.ids import encode_id
from tests.support.members import error_code, stored

ME = "{ me { id displayName phone email } }"

MEMBER = """
query ($id: ID!) { member(id: $id) { id displayName phone } }
"""

MEMBERS = """
query ($search: String, $first: Int, $after: String, $last: Int, $before: String) {
  members(search: $search, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { id displayName } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

MEMBER_BY_CODE = """
query ($code: String!) { memberByCode(code: $code) { id displayName memberCode } }
"""

NODE = """
query ($id: ID!) { node(id: $id) { __typename id ... on Member { displayName email } } }
"""

READERS = ["STAFF", "ADMIN", "ANALYST"]


@pytest.fixture
async def registered(staff, other_staff) -> dict[str, dict]:
    """Three members of the brand, and a namesake with the same phone in the other brand."""
    found = {
        "ada": await staff.register("Ada Lovelace", phone="13800138000", email="ada@lovelace.org"),
        "grace": await staff.register("Grace Hopper", phone="13900139000", email="grace@navy.mil"),
        "alan": await staff.register("Alan Turing"),
    }
    found["namesake"] = await other_staff.register(
        "Ada Namesake", phone="13800138000", email="namesake@lovelace.org"
    )
    return found


async def names_found(gql, token: str, search: str | None) -> list[str]:
    body = await gql(MEMBERS, {"search": search}, token=token)
    assert "errors" not in body, body
    return [edge["node"]["displayName"] for edge in body["data"]["members"]["edges"]]


async def test_a_member_reads_themself_as_me(gql, staff, member_token):
    member = await staff.register("Ada", phone="13800138000")
    body = await gql(ME, token=member_token(member))
    assert body["data"]["me"] == {
        "id": member["id"],
        "displayName": "Ada",
        "phone": "13800138000",
        "email": None,
    }


@pytest.mark.parametrize("role", READERS)
async def test_me_is_null_for_callers_who_are_not_members(gql, brand, make_token, role):
    body = await gql(ME, token=make_token(brand, role))
    assert body == {"data": {"me": None}}


async def test_me_is_null_for_a_visitor_and_needs_a_brand_at_least(gql, brand):
    assert await gql(ME, brand=brand.code) == {"data": {"me": None}}
    assert error_code(await gql(ME)) == "UNAUTHENTICATED"


async def test_a_token_of_one_brand_never_reaches_another_brands_member(
    gql, other_staff, brand, member_token
):
    stranger = await other_staff.register()
    body = await gql(ME, token=member_token(stranger, of_brand=brand))
    assert body == {"data": {"me": None}}


@pytest.mark.parametrize("role", READERS)
async def test_staff_admins_and_analysts_read_a_member_of_their_brand(
    gql, brand, make_token, registered, role
):
    ada = registered["ada"]
    body = await gql(MEMBER, {"id": ada["id"]}, token=make_token(brand, role))
    assert body["data"]["member"] == {
        "id": ada["id"],
        "displayName": "Ada Lovelace",
        "phone": "13800138000",
    }


async def test_another_brands_member_and_ids_of_no_member_read_as_null(gql, staff, registered):
    row = await stored(registered["ada"])
    for global_id in (registered["namesake"]["id"], encode_id("Tier", row.id), "not-an-id"):
        body = await gql(MEMBER, {"id": global_id}, token=staff.token)
        assert body == {"data": {"member": None}}, global_id


async def test_members_may_not_look_members_up(gql, brand, staff, member_token):
    member = await staff.register()
    token = member_token(member)
    for document, variables in (
        (MEMBER, {"id": member["id"]}),
        (MEMBERS, {}),
        (MEMBER_BY_CODE, {"code": member["memberCode"]}),
    ):
        assert error_code(await gql(document, variables, token=token)) == "FORBIDDEN"
        anonymous = await gql(document, variables, brand=brand.code)
        assert error_code(anonymous) == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ada", ["Ada Lovelace"]),
        ("  LOVELACE ", ["Ada Lovelace"]),
        ("138 0013-8000", ["Ada Lovelace"]),
        ("139001", ["Grace Hopper"]),
        ("NAVY.mil", ["Grace Hopper"]),
        ("@lovelace.org", ["Ada Lovelace"]),
        ("nobody", []),
        ("--", []),
        ("%", []),
        (None, ["Ada Lovelace", "Grace Hopper", "Alan Turing"]),
        ("   ", ["Ada Lovelace", "Grace Hopper", "Alan Turing"]),
    ],
)
async def test_search_by_name_phone_or_email_within_the_brand(
    gql, staff, registered, search, expected
):
    assert await names_found(gql, staff.token, search) == expected


async def test_search_by_referral_or_member_code(gql, staff, registered):
    grace = registered["grace"]
    assert await names_found(gql, staff.token, grace["referralCode"].lower()) == ["Grace Hopper"]
    assert await names_found(gql, staff.token, grace["memberCode"]) == ["Grace Hopper"]
    namesake = registered["namesake"]
    assert await names_found(gql, staff.token, namesake["memberCode"]) == []


async def test_members_are_paged_in_registration_order(gql, staff):
    names = [f"Member {number}" for number in range(7)]
    for name in names:
        await staff.register(name)
    seen, after = [], None
    while True:
        body = await gql(MEMBERS, {"first": 3, "after": after}, token=staff.token)
        connection = body["data"]["members"]
        assert connection["totalCount"] == 7
        seen += [edge["node"]["displayName"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == names
    last = await gql(MEMBERS, {"last": 2}, token=staff.token)
    assert [edge["node"]["displayName"] for edge in last["data"]["members"]["edges"]] == names[5:]
    assert last["data"]["members"]["pageInfo"]["hasPreviousPage"]


@pytest.mark.parametrize("role", ["STAFF", "ADMIN"])
async def test_the_cashier_finds_a_member_by_the_scanned_code(
    gql, brand, make_token, registered, role
):
    grace = registered["grace"]
    scanned = f" {grace['memberCode'].lower()} "
    body = await gql(MEMBER_BY_CODE, {"code": scanned}, token=make_token(brand, role))
    assert body["data"]["memberByCode"] == {
        "id": grace["id"],
        "displayName": "Grace Hopper",
        "memberCode": grace["memberCode"],
    }


async def test_a_code_of_another_brand_or_of_no_one_finds_nobody(gql, staff, registered):
    for code in (registered["namesake"]["memberCode"], "NOSUCH00"):
        body = await gql(MEMBER_BY_CODE, {"code": code}, token=staff.token)
        assert body == {"data": {"memberByCode": None}}


async def test_analysts_do_not_scan_codes(gql, brand, make_token, registered):
    body = await gql(
        MEMBER_BY_CODE,
        {"code": registered["ada"]["memberCode"]},
        token=make_token(brand, "ANALYST"),
    )
    assert error_code(body) == "FORBIDDEN"


async def test_node_gives_a_member_their_own_record_only(gql, registered, member_token):
    token = member_token(registered["ada"])
    own = await gql(NODE, {"id": registered["ada"]["id"]}, token=token)
    assert own["data"]["node"] == {
        "__typename": "Member",
        "id": registered["ada"]["id"],
        "displayName": "Ada Lovelace",
        "email": "ada@lovelace.org",
    }
    for other in (registered["grace"], registered["namesake"]):
        body = await gql(NODE, {"id": other["id"]}, token=token)
        assert body == {"data": {"node": None}}


@pytest.mark.parametrize("role", READERS)
async def test_node_gives_readers_their_brands_members_only(
    gql, brand, make_token, registered, role
):
    token = make_token(brand, role)
    own = await gql(NODE, {"id": registered["grace"]["id"]}, token=token)
    assert own["data"]["node"]["displayName"] == "Grace Hopper"
    other = await gql(NODE, {"id": registered["namesake"]["id"]}, token=token)
    assert other == {"data": {"node": None}}


async def test_node_gives_visitors_no_member(gql, brand, registered):
    body = await gql(NODE, {"id": registered["ada"]["id"]}, brand=brand.code)
    assert body == {"data": {"node": None}}


async def test_ids_no_table_can_hold_are_simply_not_found(gql, brand, make_token):
    import base64

    token = make_token(brand, "STAFF")
    for pk in ("99999999999", "0", "99999999999999999999999"):
        member_id = base64.b64encode(f"Member:{pk}".encode()).decode()
        body = await gql(
            "query ($id: ID!) { member(id: $id) { id } }", {"id": member_id}, token=token
        )
        assert body == {"data": {"member": None}}, pk
