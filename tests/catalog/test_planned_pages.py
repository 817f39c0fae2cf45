"""A document of `catalog` alone is answered without GraphQL execution (schema/prechecks.py, an
answering pre-check): rendered from its plan, byte for byte as execution renders it."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.tiers import TierSpec, ensure_tier
from resolvers.ids import encode_id
from tests.support.catalog import create_catalog_item
from tests.support.factories import key
from tests.support.planned import Agreement, answers

ARGUMENTS = """($first: Int, $after: String, $last: Int, $before: String, $category: String,
  $kind: CatalogItemKind, $affordableOnly: Boolean)"""
PASSED = """(first: $first, after: $after, last: $last, before: $before, category: $category,
  kind: $kind, affordableOnly: $affordableOnly)"""
DOCUMENTS = {
    "the storefront's page": """query CatalogPage {
      catalog(first: 20) {
        edges { node { id name pointsPrice memberPrice available category } }
        pageInfo { hasNextPage endCursor }
      }
    }""",
    "every field": f"""query Everything{ARGUMENTS} {{
      catalog{PASSED} {{
        totalCount
        pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
        edges {{
          cursor
          node {{
            id sku name description kind status category pointsPrice cashPrice stock
            perMemberLimit imageUrls availableFrom availableUntil couponValue couponValidDays
            rejectionReason minTier {{ id code name rank qualifyingPoints }} available
            memberPrice
          }}
        }}
      }}
    }}""",
    "aliases, fragments and __typename": f"""query {ARGUMENTS} {{
      shop: catalog{PASSED} {{
        __typename
        items: edges {{ node {{ ...Item ... on CatalogItem {{ price: memberPrice }} }} }}
        totalCount
      }}
    }}
    fragment Item on CatalogItem {{
      __typename key: id name available tier: minTier {{ __typename name }}
    }}""",
    "literal @include and @skip": f"""query {ARGUMENTS} {{
      catalog{PASSED} {{
        edges @include(if: true) {{
          node {{ sku available @skip(if: false) stock @skip(if: true) }}
        }}
        pageInfo @skip(if: true) {{ endCursor }}
      }}
    }}""",
}
# Documents with `catalog` that are not planned: execution answers them.
NOT_PLANNED = [
    # A field with a resolver that the answer does not work out.
    "{ catalog(first: 5) { edges { node { minTier { benefits { discountPercent } } } } } }",
    "{ catalog(first: 5) { totalCount } brand { code } }",
    """query ($show: Boolean!) {
         catalog(first: 5) { edges @include(if: $show) { node { sku } } } }""",
]


async def test_every_planned_page_answers_as_execution_does(
    client, endpoint, brand, staff, make_token, member_with_points, clock
):
    for text in DOCUMENTS.values():
        assert endpoint.documents.document(text).plan is not None, text
    for text in NOT_PLANNED:
        assert endpoint.documents.document(text).plan is None, text
    gold = await ensure_tier(
        brand, TierSpec("GOLD", "Gold", rank=1, qualifying_points=300, discount_percent=15)
    )
    now = clock.now()
    for number in range(9):
        await create_catalog_item(
            staff,
            sku=f"PLAN-{number}",
            name=f"Item {number}",
            kind=("COUPON", "PHYSICAL", "CASH_VOUCHER")[number % 3],
            category=("coffee", "bakery")[number % 2],
            pointsPrice=50 + 60 * number,
            stock=None if number % 3 else number,
            minTierId=encode_id("Tier", gold.id) if number % 4 == 1 else None,
            availableFrom=(now.replace(year=now.year + 1)).isoformat() if number == 7 else None,
            imageUrls=["https://example.com/a.png"] if number == 2 else [],
        )
    _, plain_member = await member_with_points(100, "Pat")
    _, gold_member = await member_with_points(400, "Goldie")
    ids = [
        edge["node"]["id"]
        for edge in (await client.post(
            "/graphql",
            json={"query": "{ catalog(first: 20) { edges { node { id } } } }"},
            headers={"X-Brand": brand.code},
        )).json()["data"]["catalog"]["edges"]
    ]  # fmt: skip
    cursors = [
        edge["cursor"]
        for edge in (await client.post(
            "/graphql",
            json={"query": "{ catalog(first: 20) { edges { cursor } } }"},
            headers={"X-Brand": brand.code},
        )).json()["data"]["catalog"]["edges"]
    ]  # fmt: skip
    assert len(ids) == len(cursors) == 9
    callers = {
        "visitor": {"X-Brand": brand.code},
        "member": {"Authorization": f"Bearer {plain_member}"},
        "gold member": {"Authorization": f"Bearer {gold_member}"},
        "staff": {"Authorization": f"Bearer {staff.token}"},
        "another brand's member": {
            "Authorization": f"Bearer {make_token(brand, 'MEMBER', encode_id('Member', 2**31 - 1))}"
        },
        "nobody": {},
    }
    agreement = Agreement(client, endpoint, "catalog")

    sizes = st.sampled_from([None, None, 0, 1, 3, 20, 101, -1])
    cursor = st.one_of(st.none(), st.sampled_from([*cursors, "not-a-cursor", ids[0]]))

    @settings(
        max_examples=40 * len(DOCUMENTS),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        name=st.sampled_from(list(DOCUMENTS)),
        first=sizes,
        last=st.sampled_from([None, None, None, 2, 20]),
        after=cursor,
        before=cursor,
        category=st.sampled_from([None, "coffee", " bakery", "tea"]),
        kind=st.sampled_from([None, "COUPON", "PHYSICAL", "NOT_A_KIND"]),
        affordable=st.sampled_from([None, True, False]),
        caller=st.sampled_from(list(callers)),
        execution_first=st.booleans(),
    )
    def agree(
        name, first, last, after, before, category, kind, affordable, caller, execution_first
    ):
        variables = {"first": first, "last": last, "after": after, "before": before,
                     "category": category, "kind": kind, "affordableOnly": affordable}  # fmt: skip
        variables = {name: value for name, value in variables.items() if value is not None}
        body = {"query": DOCUMENTS[name], "variables": variables}
        agreement.check(body, callers[caller], execution_first)

    await asyncio.to_thread(agree)
    agreement.assert_both_answered()


async def test_a_page_answered_by_its_plan_is_fresh_as_execution_is(client, brand, staff):
    """The storefront's page, answered without execution, sees an admin's change at once."""
    item = await create_catalog_item(staff, sku="LATTE", pointsPrice=100)
    page = {"query": DOCUMENTS["the storefront's page"]}
    headers = {"X-Brand": brand.code}
    before = await answers(client, "catalog")
    first = (await client.post("/graphql", json=page, headers=headers)).json()
    assert first["data"]["catalog"]["edges"][0]["node"]["pointsPrice"] == 100
    changed = {"id": item["id"], "sku": "LATTE", "name": "Latte", "kind": "COUPON",
               "category": "general", "pointsPrice": 90, "idempotencyKey": key()}  # fmt: skip
    updated = await staff.call(
        "mutation ($input: UpdateCatalogItemInput!) { updateCatalogItem(input: $input) "
        "{ userErrors { code } } }",
        changed,
    )
    assert updated["userErrors"] == []
    second = (await client.post("/graphql", json=page, headers=headers)).json()
    assert second["data"]["catalog"]["edges"][0]["node"]["pointsPrice"] == 90
    assert await answers(client, "catalog") - before == 2
