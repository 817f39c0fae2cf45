"""A document of `me` alone is answered without GraphQL execution (schema/prechecks.py, an
answering pre-check that reads the member's page in one statement): rendered from its plan,
byte for byte as execution renders it."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.tiers import TierSpec, ensure_tier
from resolvers.ids import encode_id
from tests.support.planned import Agreement, answers

LEDGER_ARGUMENTS = "(first: $first, after: $after, last: $last, before: $before, kind: $kind)"
VARIABLES = (
    "($first: Int, $after: String, $last: Int, $before: String, $kind: LedgerEntryKind, "
    "$within: Int)"
)
DOCUMENTS = {
    "the member's page": """query MemberPage {
      me {
        displayName
        points { available expiring(withinDays: 30) { points expiresAt } }
        tier { name }
        ledger(first: 20) {
          edges { node { id kind points description createdAt } }
          pageInfo { hasNextPage endCursor }
        }
      }
    }""",
    "every field": f"""query Everything{VARIABLES} {{
      me {{
        id displayName
        points {{
          available version lifetimeEarned lifetimeRedeemed pending
          expiring(withinDays: $within) {{ points expiresAt }}
        }}
        tier {{ id code name rank qualifyingPoints }}
        ledger{LEDGER_ARGUMENTS} {{
          totalCount
          pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
          edges {{
            cursor
            node {{
              id kind points balanceAfter version description createdAt expiresAt pending
              pendingUntil
            }}
          }}
        }}
      }}
    }}""",
    "aliases, fragments and __typename": f"""query {VARIABLES} {{
      mine: me {{
        __typename
        ...Balance
        entries: ledger{LEDGER_ARGUMENTS} {{ totalCount edges {{ node {{ ...Entry }} }} }}
        level: tier {{ __typename name }}
      }}
    }}
    fragment Balance on Member {{
      points {{ __typename now: available soon: expiring(withinDays: $within) {{ points }} }}
    }}
    fragment Entry on LedgerEntry {{ __typename key: id kind points }}""",
    "literal @include and @skip": f"""query {VARIABLES} {{
      me {{
        displayName @skip(if: true)
        points @include(if: true) {{
          available pending @skip(if: false) expiring(withinDays: $within) @skip(if: true) {{
            points
          }}
        }}
        ledger{LEDGER_ARGUMENTS} @include(if: false) {{ totalCount }}
      }}
    }}""",
}
# Documents with `me` that are not planned: execution answers them.
NOT_PLANNED = [
    "{ me { tierProgress { qualifying } } }",  # a field whose value the answer does not hold
    "{ me { phone } }",  # null, not refused, for a partner: execution's
    "{ me { displayName } brand { code } }",
    "{ me { a: ledger(first: 1) { totalCount } b: ledger(first: 2) { totalCount } } }",
    "{ me { ledger(first: 2) { edges { node { store { code } } } } } }",
]
SETTINGS = """
mutation ($input: UpdateBrandSettingsInput!) {
  updateBrandSettings(input: $input) { userErrors { code } }
}
"""


async def test_every_planned_member_page_answers_as_execution_does(
    client, endpoint, brand, staff, make_token, member_with_points
):
    for text in DOCUMENTS.values():
        assert endpoint.documents.document(text).plan is not None, text
    for text in NOT_PLANNED:
        assert endpoint.documents.document(text).plan is None, text
    await ensure_tier(brand, TierSpec("GOLD", "Gold", rank=1, qualifying_points=300))
    member, busy = await member_with_points(400, "Busy")
    for number in range(7):
        order = f"PAGE-{number}"
        await staff.purchase(member["id"], f"{10 + number}.00", orderRef=order)
        if number % 3 == 0:
            await staff.reverse(member["id"], order)
        if number % 2:
            await staff.adjust(member["id"], (-1) ** number * 5)
    assert (await staff.call(SETTINGS, {"pendingDays": 3}))["userErrors"] == []
    await staff.purchase(member["id"], "50.00")  # held: pending points
    _, newcomer = await member_with_points(0, "New")
    cursors = [
        edge["cursor"]
        for edge in (await client.post(
            "/graphql",
            json={"query": "{ me { ledger(first: 50) { edges { cursor } } } }"},
            headers={"Authorization": f"Bearer {busy}"},
        )).json()["data"]["me"]["ledger"]["edges"]
    ]  # fmt: skip
    assert len(cursors) >= 12
    nobody = encode_id("Member", 2**31 - 1)
    callers = {
        "member": {"Authorization": f"Bearer {busy}"},
        "new member": {"Authorization": f"Bearer {newcomer}"},
        "staff": {"Authorization": f"Bearer {staff.token}"},
        "visitor": {"X-Brand": brand.code},
        "a member the brand has not": {
            "Authorization": f"Bearer {make_token(brand, 'MEMBER', nobody)}"
        },
        "nobody": {},
    }
    agreement = Agreement(client, endpoint, "me")
    sizes = st.sampled_from([None, None, 0, 1, 3, 20, 101, -1])
    cursor = st.one_of(st.none(), st.sampled_from([*cursors, "not-a-cursor"]))

    @settings(
        max_examples=25 * len(DOCUMENTS),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        name=st.sampled_from(list(DOCUMENTS)),
        first=sizes,
        last=st.sampled_from([None, None, None, 2, 20]),
        after=cursor,
        before=cursor,
        kind=st.sampled_from([None, "EARN", "ADJUST", "REFUND", "NOT_A_KIND"]),
        within=st.sampled_from([None, 0, 30, 400, -5, 10**9]),
        caller=st.sampled_from(list(callers)),
        execution_first=st.booleans(),
    )
    def agree(name, first, last, after, before, kind, within, caller, execution_first):
        variables = {"first": first, "last": last, "after": after, "before": before,
                     "kind": kind, "within": within}  # fmt: skip
        variables = {name: value for name, value in variables.items() if value is not None}
        body = {"query": DOCUMENTS[name], "variables": variables}
        agreement.check(body, callers[caller], execution_first)

    await asyncio.to_thread(agree)
    agreement.assert_both_answered()


async def test_every_planned_member_page_is_answered_by_its_plan(client, staff, member_with_points):
    """Not only answered alike: answered by the plan, which reads only the columns each shows
    (a column it missed would make the plan fail, and execution answer instead)."""
    member, token = await member_with_points(100, "Planned")
    await staff.purchase(member["id"], "25.00")
    headers = {"Authorization": f"Bearer {token}"}
    for name, text in DOCUMENTS.items():
        before = await answers(client, "me")
        body = {"query": text, "variables": {"first": 5, "within": 30}}
        response = (await client.post("/graphql", json=body, headers=headers)).json()
        assert "errors" not in response, (name, response)
        assert await answers(client, "me") - before == 1, name


async def test_the_member_page_answered_by_its_plan_shows_a_purchase_at_once(
    client, staff, member_with_points
):
    member, token = await member_with_points(100, "Fresh")
    page = {"query": DOCUMENTS["the member's page"]}
    headers = {"Authorization": f"Bearer {token}"}
    before = await answers(client, "me")
    first = (await client.post("/graphql", json=page, headers=headers)).json()
    assert first["data"]["me"]["points"]["available"] == 100
    await staff.purchase(member["id"], "25.00")
    second = (await client.post("/graphql", json=page, headers=headers)).json()
    assert second["data"]["me"]["points"]["available"] == 125
    assert len(second["data"]["me"]["ledger"]["edges"]) == 2
    assert await answers(client, "me") - before == 2
