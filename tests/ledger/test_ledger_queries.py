"""Reading the ledger: Member.ledger newest first, page by page without shifting, filtered by
kind; and what a member sees of their own entries (staff-only fields are null for them)."""

from __future__ import annotations

import pytest

LEDGER = """
query ($id: ID!, $first: Int, $after: String, $last: Int, $before: String,
       $kind: LedgerEntryKind) {
  member(id: $id) {
    ledger(first: $first, after: $after, last: $last, before: $before, kind: $kind) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id kind points balanceAfter version } }
    }
  }
}
"""

ENTRY_FIELDS = """
  id kind points balanceAfter version description createdAt expiresAt
  store { code } breakdown { rule description points }
  actor reason orderRef shortfall
"""

MY_LEDGER = f"""
query {{
  me {{
    points {{ available version lifetimeEarned expiring(withinDays: 1000) {{ points }} }}
    ledger(first: 10) {{ totalCount edges {{ node {{ {ENTRY_FIELDS} }} }} }}
  }}
}}
"""

STAFF_LEDGER = f"""
query ($id: ID!) {{
  member(id: $id) {{ ledger(first: 10) {{ edges {{ node {{ {ENTRY_FIELDS} }} }} }} }}
}}
"""

NODE = """
query ($id: ID!) { node(id: $id) { id ... on LedgerEntry { points actor } } }
"""


async def ledger_page(staff, member_id: str, **arguments) -> dict:
    body = await staff.gql(LEDGER, {"id": member_id, **arguments}, token=staff.token)
    assert "errors" not in body, body
    return body["data"]["member"]["ledger"]


def versions(page: dict) -> list[int]:
    return [edge["node"]["version"] for edge in page["edges"]]


async def member_with_entries(staff) -> dict:
    """A member with seven entries: EARN, EARN, ADJUST, REVERSAL, EARN, ADJUST, EARN."""
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="Q-1")
    await staff.purchase(member["id"], "50.00", orderRef="Q-2")
    await staff.adjust(member["id"], 20, reason="welcome")
    await staff.reverse(member["id"], "Q-2", "10.00")
    await staff.purchase(member["id"], "30.00", orderRef="Q-3")
    await staff.adjust(member["id"], -40, reason="mistake")
    await staff.purchase(member["id"], "5.00", orderRef="Q-4")
    return member


async def test_the_ledger_pages_newest_first(staff):
    member = await member_with_entries(staff)
    seen, after = [], None
    while True:
        page = await ledger_page(staff, member["id"], first=3, after=after)
        assert page["totalCount"] == 7
        seen.append(versions(page))
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [[7, 6, 5], [4, 3, 2], [1]]
    everything = await ledger_page(staff, member["id"])
    balances = [edge["node"]["balanceAfter"] for edge in everything["edges"]]
    assert balances == [155, 150, 190, 160, 170, 150, 100]


async def test_the_last_entries_page_backwards(staff):
    member = await member_with_entries(staff)
    oldest = await ledger_page(staff, member["id"], last=3)
    assert versions(oldest) == [3, 2, 1]
    assert (oldest["pageInfo"]["hasPreviousPage"], oldest["pageInfo"]["hasNextPage"]) == (
        True,
        False,
    )
    newer = await ledger_page(staff, member["id"], last=3, before=oldest["pageInfo"]["startCursor"])
    assert versions(newer) == [6, 5, 4]


async def test_pages_do_not_shift_as_new_entries_arrive(staff):
    member = await member_with_entries(staff)
    first = await ledger_page(staff, member["id"], first=3)
    await staff.adjust(member["id"], 1)
    await staff.adjust(member["id"], 1)
    second = await ledger_page(staff, member["id"], first=3, after=first["pageInfo"]["endCursor"])
    assert versions(second) == [4, 3, 2]
    assert second["totalCount"] == 9
    assert versions(await ledger_page(staff, member["id"], first=2)) == [9, 8]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("EARN", [7, 5, 2, 1]), ("ADJUST", [6, 3]), ("REVERSAL", [4]), ("EXPIRE", [])],
)
async def test_the_ledger_filters_by_kind(staff, kind, expected):
    member = await member_with_entries(staff)
    page = await ledger_page(staff, member["id"], kind=kind)
    assert versions(page) == expected
    assert page["totalCount"] == len(expected)
    assert {edge["node"]["kind"] for edge in page["edges"]} <= {kind}
    if len(expected) > 1:
        first = await ledger_page(staff, member["id"], kind=kind, first=1)
        rest = await ledger_page(
            staff, member["id"], kind=kind, first=10, after=first["pageInfo"]["endCursor"]
        )
        assert versions(first) + versions(rest) == expected


@pytest.mark.parametrize(
    "arguments",
    [{"first": 101}, {"first": -1}, {"after": "not-a-cursor"}, {"first": 1, "last": 1}],
)
async def test_a_bad_page_request_is_refused(staff, arguments):
    member = await member_with_entries(staff)
    body = await staff.gql(LEDGER, {"id": member["id"], **arguments}, token=staff.token)
    assert body["data"]["member"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["BAD_REQUEST"]


async def test_a_member_sees_their_entries_but_not_the_staff_only_fields(
    staff, gql, make_token, brand
):
    member = await member_with_entries(staff)
    body = await gql(MY_LEDGER, token=make_token(brand, "MEMBER", member["id"]))
    assert "errors" not in body, body
    me = body["data"]["me"]
    assert me["points"]["available"] == 155
    assert me["points"]["version"] == 7
    assert me["ledger"]["totalCount"] == 7
    nodes = [edge["node"] for edge in me["ledger"]["edges"]]
    assert [node["version"] for node in nodes] == [7, 6, 5, 4, 3, 2, 1]
    for node in nodes:
        assert (node["actor"], node["reason"], node["orderRef"], node["shortfall"]) == (
            None,
            None,
            None,
            None,
        )
    earn = nodes[-1]
    assert [(c["rule"], c["points"]) for c in earn["breakdown"]] == [("BASE", 100)]
    assert earn["expiresAt"] is not None

    staff_view = await staff.gql(STAFF_LEDGER, {"id": member["id"]}, token=staff.token)
    staff_nodes = [edge["node"] for edge in staff_view["data"]["member"]["ledger"]["edges"]]
    assert staff_nodes[-1]["orderRef"] == "Q-1"
    assert staff_nodes[-1]["actor"] == "ADMIN:admin-1"
    assert staff_nodes[1]["reason"] == "mistake"
    assert staff_nodes[3]["shortfall"] == 0
    # Apart from the staff-only fields, a member sees what staff see.
    hidden = ("actor", "reason", "orderRef", "shortfall")
    assert [{k: v for k, v in n.items() if k not in hidden} for n in staff_nodes] == [
        {k: v for k, v in n.items() if k not in hidden} for n in nodes
    ]


async def test_a_member_cannot_read_another_members_ledger(staff, gql, make_token, brand):
    member = await member_with_entries(staff)
    other = await staff.register("Bea")
    token = make_token(brand, "MEMBER", other["id"])
    body = await gql(LEDGER, {"id": member["id"]}, token=token)
    assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]
    assert body["data"] == {"member": None}
    first_entry = (await ledger_page(staff, member["id"], last=1))["edges"][0]["node"]["id"]
    assert await gql(NODE, {"id": first_entry}, token=token) == {"data": {"node": None}}


async def test_node_resolves_a_ledger_entry_for_staff_and_its_member(staff, gql, make_token, brand):
    member = await member_with_entries(staff)
    first_entry = (await ledger_page(staff, member["id"], last=1))["edges"][0]["node"]["id"]
    seen_by_staff = await gql(NODE, {"id": first_entry}, token=staff.token)
    assert seen_by_staff == {
        "data": {"node": {"id": first_entry, "points": 100, "actor": "ADMIN:admin-1"}}
    }
    seen_by_member = await gql(
        NODE, {"id": first_entry}, token=make_token(brand, "MEMBER", member["id"])
    )
    assert seen_by_member == {"data": {"node": {"id": first_entry, "points": 100, "actor": None}}}


async def test_staff_of_another_brand_do_not_see_the_ledger(staff, make_brand, caller):
    member = await member_with_entries(staff)
    outsider = caller(await make_brand())
    body = await outsider.gql(LEDGER, {"id": member["id"]}, token=outsider.token)
    assert body["data"]["member"] is None


async def test_lifetime_totals_past_a_graphql_int_show_as_its_largest_value(staff):
    from db.models import Balance
    from resolvers.ids import parse_id

    member = await staff.register()
    member_pk = parse_id(member["id"])[1]
    await Balance.filter(member_id=member_pk).update(lifetime_earned=3_000_000_000)
    try:
        assert (await staff.balance(member["id"]))["lifetimeEarned"] == 2**31 - 1
    finally:
        await Balance.filter(member_id=member_pk).update(lifetime_earned=0)
