"""A document of `brand` alone is answered without GraphQL execution (schema/prechecks.py),
from the brand's copy in the process: byte for byte as execution answers it, and fresh at once
after an admin's change of the brand or its stores."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.factories import key
from tests.support.planned import Agreement, answers

DOCUMENTS = {
    "the brand's page": "{ brand { name stores { name } } }",
    "every field": """query Everything($all: Boolean) {
      brand {
        id code name earnCapPerPurchase earnCapPerDay purchaseMaxAgeDays
        stores(includeArchived: $all) { id code name archivedAt }
      }
    }""",
    "aliases, fragments and __typename": """query ($all: Boolean!) {
      mine: brand { __typename ...Named shops: stores(includeArchived: $all) { ...Store } }
    }
    fragment Named on Brand { title: name code }
    fragment Store on Store { __typename key: id code }""",
}
NOT_PLANNED = [
    "{ brand { settings { pendingDays } } }",  # ADMIN only: execution's refusal
    "{ brand { stores { brand { code } } } }",  # a field with a resolver the answer has not
    "{ brand { a: stores { code } b: stores(includeArchived: true) { code } } }",
    "{ brand { code } me { displayName } }",
]
SETTINGS = """
mutation ($input: UpdateBrandSettingsInput!) {
  updateBrandSettings(input: $input) { userErrors { code } }
}
"""
CREATE_STORE = """
mutation ($input: CreateStoreInput!) {
  createStore(input: $input) { store { id } userErrors { code } }
}
"""
ARCHIVE_STORE = """
mutation ($input: ArchiveStoreInput!) {
  archiveStore(input: $input) { userErrors { code } }
}
"""
RENAME_STORE = """
mutation ($input: UpdateStoreInput!) {
  updateStore(input: $input) { userErrors { code } }
}
"""


async def create_store(staff, code: str, name: str) -> str:
    payload = await staff.call(CREATE_STORE, {"code": code, "name": name, "idempotencyKey": key()})
    assert payload["userErrors"] == [], payload
    return payload["store"]["id"]


async def test_every_planned_brand_page_answers_as_execution_does(
    client, endpoint, brand, staff, make_token, member_with_points
):
    for text in DOCUMENTS.values():
        assert endpoint.documents.document(text).plan is not None, text
    for text in NOT_PLANNED:
        assert endpoint.documents.document(text).plan is None, text
    for code in ("SH-002", "BJ-001", "ONLINE"):
        await create_store(staff, code, f"Store {code}")
    archived = await create_store(staff, "OLD-001", "Closed")
    payload = await staff.call(ARCHIVE_STORE, {"id": archived, "idempotencyKey": key()})
    assert payload["userErrors"] == []
    assert (await staff.call(SETTINGS, {"earnCapPerDay": 500}))["userErrors"] == []
    _, member = await member_with_points(0, "Shopper")
    callers = {
        "visitor": {"X-Brand": brand.code},
        "member": {"Authorization": f"Bearer {member}"},
        "staff": {"Authorization": f"Bearer {staff.token}"},
        "nobody": {},
        "an unknown brand": {"X-Brand": "no-such-brand"},
    }
    agreement = Agreement(client, endpoint, "brand")

    @settings(
        max_examples=20 * len(DOCUMENTS),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        name=st.sampled_from(list(DOCUMENTS)),
        everything=st.sampled_from([None, True, False]),
        caller=st.sampled_from(list(callers)),
        execution_first=st.booleans(),
    )
    def agree(name, everything, caller, execution_first):
        variables = {} if everything is None else {"all": everything}
        body = {"query": DOCUMENTS[name], "variables": variables}
        agreement.check(body, callers[caller], execution_first)

    await asyncio.to_thread(agree)
    agreement.assert_both_answered()


async def test_the_brand_page_shows_an_admin_change_at_once(client, brand, staff):
    page = {"query": DOCUMENTS["every field"], "variables": {"all": True}}
    headers = {"X-Brand": brand.code}

    async def read() -> dict:
        return (await client.post("/graphql", json=page, headers=headers)).json()["data"]["brand"]

    before = await answers(client, "brand")
    assert (await read())["stores"] == []
    store = await create_store(staff, "SZ-001", "Shenzhen")
    assert [s["name"] for s in (await read())["stores"]] == ["Shenzhen"]
    renamed = {"id": store, "name": "Shenzhen Bay", "idempotencyKey": key()}
    assert (await staff.call(RENAME_STORE, renamed))["userErrors"] == []
    assert [s["name"] for s in (await read())["stores"]] == ["Shenzhen Bay"]
    assert (await staff.call(ARCHIVE_STORE, {"id": store, "idempotencyKey": key()}))[
        "userErrors"
    ] == []
    assert (await read())["stores"][0]["archivedAt"] is not None
    assert (await staff.call(SETTINGS, {"earnCapPerDay": 700}))["userErrors"] == []
    assert (await read())["earnCapPerDay"] == 700
    assert await answers(client, "brand") - before == 5
