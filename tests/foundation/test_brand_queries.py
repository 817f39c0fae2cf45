"""Public brand data over HTTP: brand, stores, tiers and node(id:), per caller."""

from __future__ import annotations

import base64

from domain.brands import ensure_store

BRAND_QUERY = "{ brand { id code name stores { code name brand { code } } tiers { name rank } } }"
TIERS_QUERY = "{ tiers { code rank qualifyingPoints benefits { earnMultiplier discountPercent } } }"
NODE_QUERY = """
query ($id: ID!) {
  node(id: $id) {
    id
    ... on Brand { code }
    ... on Store { code }
    ... on Tier { code rank }
  }
}
"""


async def test_a_token_reads_its_brand_with_stores_and_base_tier(gql, brand, make_token):
    await ensure_store(brand, "S1", "First store")
    body = await gql(BRAND_QUERY, token=make_token(brand, "STAFF"))
    assert "errors" not in body
    data = body["data"]["brand"]
    assert data["code"] == brand.code
    assert data["stores"] == [{"code": "S1", "name": "First store", "brand": {"code": brand.code}}]
    assert data["tiers"] == [{"name": "Member", "rank": 0}]
    assert base64.b64decode(data["id"]).decode() == f"Brand:{brand.id}"


async def test_a_visitor_names_the_brand_with_x_brand(gql, brand):
    body = await gql(TIERS_QUERY, brand=brand.code)
    assert body["data"]["tiers"] == [
        {
            "code": "BASE",
            "rank": 0,
            "qualifyingPoints": 0,
            "benefits": {"earnMultiplier": "1.00", "discountPercent": 0},
        }
    ]


async def test_no_credentials_is_unauthenticated(gql):
    body = await gql(BRAND_QUERY)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_node_resolves_ids_of_the_callers_brand_only(gql, brand, make_token, app):
    from domain.brands import create_brand

    store = await ensure_store(brand, "S9", "Store nine")
    other = await create_brand(f"o{brand.code}"[:32], "Other brand")
    other_store = await ensure_store(other, "S9", "Their store nine")
    token = make_token(brand, "ANALYST")

    def gid(kind: str, pk: int) -> str:
        return base64.b64encode(f"{kind}:{pk}".encode()).decode()

    mine = await gql(NODE_QUERY, {"id": gid("Store", store.id)}, token=token)
    assert mine["data"]["node"] == {"id": gid("Store", store.id), "code": "S9"}
    own_brand = await gql(NODE_QUERY, {"id": gid("Brand", brand.id)}, token=token)
    assert own_brand["data"]["node"]["code"] == brand.code
    for foreign in (
        gid("Store", other_store.id),
        gid("Brand", other.id),
        "not-an-id",
        gid("Nope", 1),
    ):
        body = await gql(NODE_QUERY, {"id": foreign}, token=token)
        assert body == {"data": {"node": None}}, foreign
