"""GraphQL over HTTP: the spec's media types and status codes, GET for queries, clean errors."""

from __future__ import annotations

import json

BRAND_QUERY = "{ brand { code } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"


async def test_get_answers_queries(client, brand):
    response = await client.get(
        "/graphql", params={"query": BRAND_QUERY}, headers={"X-Brand": brand.code}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"brand": {"code": brand.code}}}


async def test_get_refuses_mutations(client, brand):
    response = await client.get(
        "/graphql",
        params={"query": "mutation { __typename }"},
        headers={"X-Brand": brand.code},
    )
    assert response.status_code in (400, 405)
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_malformed_json_is_a_400_with_a_json_body(client):
    response = await client.post(
        "/graphql", content=b'{"query": "{ brand', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_body_without_a_query_is_a_400(client):
    response = await client.post("/graphql", json={"variables": {}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_graphql_response_json_gets_400_for_a_validation_error(client, brand):
    response = await client.post(
        "/graphql",
        json={"query": "{ brand { nope } }"},
        headers={"X-Brand": brand.code, "Accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_plain_json_gets_200_for_a_validation_error(client, brand):
    response = await client.post(
        "/graphql",
        json={"query": "{ brand { nope } }"},
        headers={"X-Brand": brand.code, "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_graphql_response_json_answers_200_with_data(client, brand):
    response = await client.post(
        "/graphql",
        json={"query": BRAND_QUERY},
        headers={"X-Brand": brand.code, "Accept": f"{GRAPHQL_RESPONSE}, application/json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert response.json() == {"data": {"brand": {"code": brand.code}}}


async def test_a_parse_error_is_bad_request(client, brand):
    response = await client.post(
        "/graphql", json={"query": "{ brand { "}, headers={"X-Brand": brand.code}
    )
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "Syntax Error" in body["errors"][0]["message"]


async def test_every_response_carries_a_request_id(client, brand):
    response = await client.post(
        "/graphql",
        json={"query": BRAND_QUERY},
        headers={"X-Brand": brand.code, "X-Request-Id": "trace-123"},
    )
    assert response.headers["x-request-id"] == "trace-123"
    generated = await client.post("/graphql", json={"query": BRAND_QUERY})
    assert len(generated.headers["x-request-id"]) == 32


async def test_batched_operations_are_capped(client, brand, settings):
    one = {"query": BRAND_QUERY}
    allowed = await client.post(
        "/graphql", json=[one] * settings.max_batch_operations, headers={"X-Brand": brand.code}
    )
    assert allowed.status_code == 200
    assert [item["data"]["brand"]["code"] for item in allowed.json()] == [
        brand.code
    ] * settings.max_batch_operations
    refused = await client.post(
        "/graphql",
        content=json.dumps([one] * (settings.max_batch_operations + 1)),
        headers={"X-Brand": brand.code, "content-type": "application/json"},
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
