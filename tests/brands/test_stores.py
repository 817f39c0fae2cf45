"""createStore, updateStore, archiveStore: an admin's stores take purchases at once; an archived
one takes none made since, leaves `brand { stores }` but keeps its history."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from domain.brands import create_brand, ensure_store
from resolvers.ids import encode_id
from tests.support.factories import key, unique_code

STORE_FIELDS = "fragment StoreFields on Store { id code name archivedAt }"
CREATE = (
    """
mutation ($input: CreateStoreInput!) {
  createStore(input: $input) { store { ...StoreFields } userErrors { field message code } }
}
"""
    + STORE_FIELDS
)
UPDATE = (
    """
mutation ($input: UpdateStoreInput!) {
  updateStore(input: $input) { store { ...StoreFields } userErrors { field message code } }
}
"""
    + STORE_FIELDS
)
ARCHIVE = (
    """
mutation ($input: ArchiveStoreInput!) {
  archiveStore(input: $input) { store { ...StoreFields } userErrors { field message code } }
}
"""
    + STORE_FIELDS
)
STORES = """
query ($all: Boolean!) { brand { stores(includeArchived: $all) { code name archivedAt } } }
"""
DEFAULT_STORES = "{ brand { stores { code } } }"
PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    entry { id points store { code archivedAt } }
    userErrors { field message code }
  }
}
"""
PREVIEW = """
query ($input: PreviewEarnInput!) {
  previewEarn(input: $input) { preview { points } userErrors { field message code } }
}
"""
NODE = "query ($id: ID!) { node(id: $id) { ... on Store { code archivedAt } } }"
TRAIL = """
query ($operation: String) {
  auditTrail(operation: $operation, first: 20) { edges { node { actor targets input } } }
}
"""


async def create(staff, code: str, name: str = "A store") -> dict:
    payload = await staff.call(CREATE, {"code": code, "name": name})
    assert payload["userErrors"] == [], payload
    return payload["store"]


async def stores(gql, token: str, *, every: bool = False) -> list[dict]:
    body = await gql(STORES, {"all": every}, token=token)
    assert "errors" not in body, body
    return body["data"]["brand"]["stores"]


async def purchase(staff, member_id: str, store_code: str, **fields) -> dict:
    return await staff.call(
        PURCHASE,
        {"memberId": member_id, "storeCode": store_code, "orderRef": key(), "total": "10.00",
         **fields},
    )  # fmt: skip


async def test_a_new_store_takes_purchases_at_once(gql, staff):
    store = await create(staff, "SH-002", "Shanghai Xintiandi")
    assert store["code"] == "SH-002" and store["archivedAt"] is None
    assert await stores(gql, staff.token) == [
        {"code": "SH-002", "name": "Shanghai Xintiandi", "archivedAt": None}
    ]
    member = await staff.register()
    payload = await purchase(staff, member["id"], "SH-002")
    assert payload["userErrors"] == [], payload
    assert payload["entry"]["store"] == {"code": "SH-002", "archivedAt": None}


@pytest.mark.parametrize(
    ("code", "name", "field"),
    [("sh-002", "Lower case", "code"), ("", "Empty", "code"), ("-X", "Dash first", "code"),
     ("A" * 33, "Too long", "code"), ("OK", "  ", "name")],
)  # fmt: skip
async def test_a_bad_code_or_name_is_refused(staff, code, name, field):
    payload = await staff.call(CREATE, {"code": code, "name": name})
    assert payload["store"] is None
    assert [(error["code"], error["field"]) for error in payload["userErrors"]] == [
        ("INVALID_INPUT", ["input", field])
    ]


async def test_a_code_is_the_brands_for_good(staff, brand):
    store = await create(staff, "BJ-1")
    again = await staff.call(CREATE, {"code": "BJ-1", "name": "Again"})
    assert [error["code"] for error in again["userErrors"]] == ["DUPLICATE"]
    archived = await staff.call(ARCHIVE, {"id": store["id"]})
    assert archived["userErrors"] == []
    after_archive = await staff.call(CREATE, {"code": "BJ-1", "name": "Again"})
    assert [error["code"] for error in after_archive["userErrors"]] == ["DUPLICATE"]
    # Another brand's codes are its own.
    other = await create_brand(unique_code(), "Other")
    assert (await ensure_store(other, "BJ-1", "Theirs")).brand_id == other.id


async def test_a_rename_keeps_the_code(gql, staff):
    store = await create(staff, "GZ-1", "Old name")
    payload = await staff.call(UPDATE, {"id": store["id"], "name": "  New name "})
    assert payload["userErrors"] == []
    assert payload["store"] == {**store, "name": "New name"}
    assert await stores(gql, staff.token) == [
        {"code": "GZ-1", "name": "New name", "archivedAt": None}
    ]


async def test_an_archived_store_takes_no_new_purchases_and_keeps_its_history(gql, staff, clock):
    store = await create(staff, "CLOSING")
    await create(staff, "OPEN")
    member = await staff.register()
    earlier = await purchase(staff, member["id"], "CLOSING")
    assert earlier["userErrors"] == []

    before = clock.now()
    archived = (await staff.call(ARCHIVE, {"id": store["id"]}))["store"]
    archived_at = datetime.fromisoformat(archived["archivedAt"])
    assert before <= archived_at <= clock.now()  # the service's clock
    assert await stores(gql, staff.token) == [{"code": "OPEN", "name": "A store",
                                               "archivedAt": None}]  # fmt: skip
    assert [found["code"] for found in await stores(gql, staff.token, every=True)] == [
        "CLOSING",
        "OPEN",
    ]

    refused = await purchase(staff, member["id"], "CLOSING")
    assert refused["entry"] is None
    assert refused["userErrors"] == [{
        "field": ["storeCode"], "code": "INVALID_INPUT",
        "message": "Store CLOSING is archived: it takes no purchases made since.",
    }]  # fmt: skip
    preview = await staff.call(
        PREVIEW, {"memberId": member["id"], "storeCode": "CLOSING", "total": "10.00"}
    )
    assert [error["code"] for error in preview["userErrors"]] == ["INVALID_INPUT"]

    # One made while it was open, uploaded late, is recorded.
    late = await purchase(
        staff, member["id"], "CLOSING", occurredAt=(archived_at - timedelta(hours=1)).isoformat()
    )
    assert late["userErrors"] == [], late
    assert late["entry"]["store"] == {"code": "CLOSING", "archivedAt": archived["archivedAt"]}

    # Its history still names it.
    body = await gql(NODE, {"id": store["id"]}, token=staff.token)
    assert body["data"]["node"] == {"code": "CLOSING", "archivedAt": archived["archivedAt"]}
    entry = await gql(
        "query ($id: ID!) { node(id: $id) { ... on LedgerEntry { store { code } } } }",
        {"id": earlier["entry"]["id"]},
        token=staff.token,
    )
    assert entry["data"]["node"] == {"store": {"code": "CLOSING"}}
    assert (await purchase(staff, member["id"], "OPEN"))["userErrors"] == []

    # Archived once: again changes nothing.
    again = await staff.call(ARCHIVE, {"id": store["id"]})
    assert again["userErrors"] == [] and again["store"]["archivedAt"] == archived["archivedAt"]


async def test_stores_of_another_brand_are_not_found(staff):
    other = await create_brand(unique_code(), "Other")
    theirs = encode_id("Store", (await ensure_store(other, "THEIRS", "Theirs")).id)
    for document, extra in ((UPDATE, {"name": "Mine now"}), (ARCHIVE, {})):
        payload = await staff.call(document, {"id": theirs, **extra})
        assert payload["userErrors"] == [
            {"field": ["input", "id"], "message": "No such store.", "code": "NOT_FOUND"}
        ]
    payload = await staff.call(ARCHIVE, {"id": encode_id("Tier", 1)})
    assert [error["code"] for error in payload["userErrors"]] == ["INVALID_INPUT"]


async def test_store_changes_are_audited_once_per_key(gql, staff):
    call = {"code": "AUDITED", "name": "Audited", "idempotencyKey": key()}
    first = await staff.call(CREATE, call)
    assert await staff.call(CREATE, call) == first  # the repeat answers the same
    await staff.call(UPDATE, {"id": first["store"]["id"], "name": "Renamed"})
    await staff.call(ARCHIVE, {"id": first["store"]["id"]})
    for operation, given in (
        ("createStore", {"code": "AUDITED", "name": "Audited"}),
        ("updateStore", {"name": "Renamed"}),
        ("archiveStore", {}),
    ):
        body = await gql(TRAIL, {"operation": operation}, token=staff.token)
        (entry,) = [edge["node"] for edge in body["data"]["auditTrail"]["edges"]]
        assert entry["actor"] == "ADMIN:admin-1"
        assert entry["targets"] == [first["store"]["id"]]
        assert given.items() <= json.loads(entry["input"]).items()


@pytest.mark.parametrize("role", ["MEMBER", "STAFF", "ANALYST"])
async def test_only_admins_manage_stores(gql, brand, make_token, staff, role):
    store = await create(staff, "GUARDED")
    member = await staff.register()
    token = make_token(brand, role, member["id"] if role == "MEMBER" else "someone")
    for document, given in (
        (CREATE, {"code": "NOPE", "name": "Nope"}),
        (UPDATE, {"id": store["id"], "name": "Nope"}),
        (ARCHIVE, {"id": store["id"]}),
    ):
        body = await gql(document, {"input": {**given, "idempotencyKey": key()}}, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (role, document)
    body = await gql(DEFAULT_STORES, token=token)
    assert body["data"]["brand"]["stores"] == [{"code": "GUARDED"}]
