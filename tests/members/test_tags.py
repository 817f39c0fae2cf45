"""Segments: admins tag members by ids, by a filter or by a saved filter, and rules limited to a
tag earn only for members who have it (and are shown only to them)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.factories import key

TAG = """
mutation ($input: TagMembersInput!) {
  tagMembers(input: $input) { changed userErrors { field message code } }
}
"""
SAVE_FILTER = """
mutation ($input: SaveMemberFilterInput!) {
  saveMemberFilter(input: $input) {
    memberFilter { code name tierCodes segments tags search joinedFrom joinedTo }
    userErrors { field message code }
  }
}
"""
FILTERS = "{ memberFilters { code name tags } }"
TAGS = "query ($id: ID!) { member(id: $id) { tags } }"
CREATE_RULE = """
mutation ($input: EarningRuleInput!) {
  createEarningRule(input: $input) { rule { tagCodes } userErrors { field message code } }
}
"""
PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { entry { points breakdown { rule } } userErrors { code } }
}
"""
OPPORTUNITIES = "{ me { earnOpportunities { code } } }"


def errors(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


async def tags_of(staff, member: dict) -> list[str]:
    body = await staff.gql(TAGS, {"id": member["id"]}, token=staff.token)
    return body["data"]["member"]["tags"]


async def test_an_admin_tags_members_by_ids_and_untags_them(staff):
    ada, bea = await staff.register("Ada"), await staff.register("Bea")
    tagged = await staff.call(TAG, {"tag": "vip", "memberIds": [ada["id"], bea["id"]]})
    assert (tagged["changed"], errors(tagged)) == (2, [])
    again = await staff.call(TAG, {"tag": "VIP", "memberIds": [ada["id"]]})
    assert again["changed"] == 0  # tagged already
    assert await tags_of(staff, ada) == ["VIP"]
    removed = await staff.call(TAG, {"tag": "VIP", "memberIds": [ada["id"]], "remove": True})
    assert removed["changed"] == 1
    assert (await tags_of(staff, ada), await tags_of(staff, bea)) == ([], ["VIP"])

    idem = key()
    first = await staff.call(TAG, {"tag": "LOYAL", "memberIds": [ada["id"]],
                                   "idempotencyKey": idem})  # fmt: skip
    replay = await staff.call(TAG, {"tag": "LOYAL", "memberIds": [ada["id"]],
                                    "idempotencyKey": idem})  # fmt: skip
    assert first["changed"] == replay["changed"] == 1


async def test_a_filter_or_a_saved_filter_tags_every_member_it_matches(staff, clock):
    since = clock.now() - timedelta(seconds=1)
    members = [await staff.register(f"Coffee Fan {n}") for n in range(3)]
    other = await staff.register("Tea Drinker")
    await staff.call(TAG, {"tag": "EARLY", "memberIds": [members[0]["id"], other["id"]]})

    fans = {"search": "coffee fan", "joinedFrom": since.isoformat()}
    by_search = await staff.call(TAG, {"tag": "COFFEE", "filter": fans})
    assert by_search["changed"] == 3
    saved = await staff.call(
        SAVE_FILTER,
        {"code": "early-coffee", "name": "Early coffee fans",
         "filter": {"tags": ["coffee"], "tierCodes": ["base"]}},
    )  # fmt: skip
    assert errors(saved) == []
    assert saved["memberFilter"]["code"] == "EARLY-COFFEE"
    assert (saved["memberFilter"]["tags"], saved["memberFilter"]["tierCodes"]) == (
        ["COFFEE"],
        ["BASE"],
    )
    listed = await staff.gql(FILTERS, token=staff.token)
    assert listed["data"]["memberFilters"] == [
        {"code": "EARLY-COFFEE", "name": "Early coffee fans", "tags": ["COFFEE"]}
    ]
    by_code = await staff.call(TAG, {"tag": "PROMO", "filterCode": "early-coffee"})
    assert by_code["changed"] == 3
    assert await tags_of(staff, other) == ["EARLY"]
    both = await staff.call(TAG, {"tag": "BOTH", "filter": {"tags": ["EARLY", "PROMO"]}})
    assert both["changed"] == 4  # any of the tags


@pytest.mark.parametrize(
    ("input", "expected"),
    [
        ({"tag": "no spaces", "filter": {}}, ("INVALID_INPUT", ["input", "tag"])),
        ({"tag": "X"}, ("INVALID_INPUT", ["input"])),
        ({"tag": "X", "filter": {}, "filterCode": "ANY"}, ("INVALID_INPUT", ["input"])),
        ({"tag": "X", "filterCode": "MISSING"}, ("NOT_FOUND", ["input", "filterCode"])),
        ({"tag": "X", "filter": {"tierCodes": ["NOPE"]}},
         ("NOT_FOUND", ["input", "filter", "tierCodes"])),
        ({"tag": "X", "filter": {"segments": ["WHALES"]}},
         ("INVALID_INPUT", ["input", "filter", "segments"])),
        ({"tag": "X", "memberIds": ["TWVtYmVyOjk5OTk5OTk="]},
         ("NOT_FOUND", ["input", "memberIds"])),
    ],
)  # fmt: skip
async def test_bad_tagging_is_a_clear_error(staff, input, expected):
    refused = await staff.call(TAG, input)
    assert errors(refused) == [expected]


async def test_only_admins_tag(staff, brand, gql, make_token):
    member = await staff.register()
    for role in ("STAFF", "ANALYST", "MEMBER"):
        token = make_token(brand, role, member["id"] if role == "MEMBER" else "someone")
        body = await gql(TAG, {"input": {"tag": "X", "memberIds": [member["id"]],
                                         "idempotencyKey": key()}}, token=token)  # fmt: skip
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", role
    body = await gql(TAGS, {"id": member["id"]}, token=make_token(brand, "MEMBER", member["id"]))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_rule_limited_to_a_tag_earns_only_for_members_who_have_it(
    staff, brand, gql, make_token
):
    created = await staff.call(CREATE_RULE, {"code": "VIP_BONUS", "name": "VIP bonus",
                                             "kind": "THRESHOLD_BONUS", "threshold": "1",
                                             "points": 25, "tagCodes": ["vip"]})  # fmt: skip
    assert errors(created) == [] and created["rule"]["tagCodes"] == ["VIP"]
    vip, plain = await staff.register("Vi"), await staff.register("Pl")
    await staff.call(TAG, {"tag": "VIP", "memberIds": [vip["id"]]})

    async def earned(member: dict) -> int:
        payload = await staff.call(
            PURCHASE, {"memberId": member["id"], "orderRef": key(), "total": "10.00"}
        )
        return payload["entry"]["points"]

    assert (await earned(vip), await earned(plain)) == (35, 10)

    async def shown(member: dict) -> list[str]:
        body = await gql(OPPORTUNITIES, token=make_token(brand, "MEMBER", member["id"]))
        return [o["code"] for o in body["data"]["me"]["earnOpportunities"]]

    assert "VIP_BONUS" in await shown(vip)
    assert "VIP_BONUS" not in await shown(plain)


CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id tagCodes } userErrors { field code } }
}
"""
CATALOG = "{ catalog(first: 50) { edges { node { id } } } }"
ITEM = "query ($id: ID!) { node(id: $id) { id } }"


async def test_an_item_limited_to_a_tag_is_for_its_members_only(staff, brand, gql, make_token):
    created = await staff.call(
        CREATE_ITEM,
        {"sku": f"VIP-{key()[:8]}", "name": "VIP lounge pass", "kind": "COUPON",
         "category": "perks", "pointsPrice": 10, "tagCodes": ["vip"]},
    )  # fmt: skip
    assert created["userErrors"] == [] and created["item"]["tagCodes"] == ["VIP"]
    item_id = created["item"]["id"]
    vip, plain = await staff.register("Vi"), await staff.register("Pl")
    await staff.call(TAG, {"tag": "VIP", "memberIds": [vip["id"]]})
    for member in (vip, plain):
        await staff.purchase(member["id"], "100.00")

    async def sees(token: str | None) -> tuple[bool, bool]:
        as_caller = {"token": token} if token else {"brand": brand.code}
        listed = await gql(CATALOG, **as_caller)
        in_catalog = item_id in {e["node"]["id"] for e in listed["data"]["catalog"]["edges"]}
        node = await gql(ITEM, {"id": item_id}, **as_caller)
        return in_catalog, node["data"]["node"] is not None

    vip_token = make_token(brand, "MEMBER", vip["id"])
    plain_token = make_token(brand, "MEMBER", plain["id"])
    assert await sees(vip_token) == (True, True)
    assert await sees(plain_token) == (False, False)
    assert await sees(staff.token) == (True, True)
    assert await sees(None) == (False, False)  # a visitor of the brand

    async def redeem(token: str) -> list[str]:
        body = await gql(
            "mutation ($input: RedeemInput!) { redeem(input: $input) { userErrors { code } } }",
            {"input": {"itemId": item_id, "idempotencyKey": key()}},
            token=token,
        )
        return [error["code"] for error in body["data"]["redeem"]["userErrors"]]

    assert await redeem(vip_token) == []
    assert await redeem(plain_token) == ["NOT_FOUND"]
