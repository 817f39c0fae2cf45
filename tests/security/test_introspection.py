"""Introspection is paid for like any field, once per operation, and off in production."""

from __future__ import annotations

import httpx
import pytest
from graphql import get_introspection_query, parse, validate

from schema.build import build_schema
from schema.cost import build_cost_rule
from tests.support.live import start_live_server, stop_live_server

FULL_INTROSPECTION = get_introspection_query(descriptions=True)
SCHEMA_PROBE = "{ __schema { queryType { name } } }"


def aliased_schemas(count: int) -> str:
    """One operation asking for the whole schema `count` times, under aliases, through one
    fragment (so it stays under the token limit)."""
    selection = FULL_INTROSPECTION[FULL_INTROSPECTION.index("__schema") + len("__schema") :]
    selection, fragments = selection.split("fragment FullType", 1)
    selection = selection.strip().removesuffix("}").strip()  # the operation's closing brace
    fields = " ".join(f"s{number}: __schema {{ ...Everything }}" for number in range(count))
    return (
        f"query {{ {fields} }}\nfragment Everything on __Schema {selection}\n"
        f"fragment FullType{fragments}"
    )


@pytest.mark.development_only  # production refuses introspection
async def test_a_batch_of_aliased_full_introspections_is_refused_unexecuted(client, brand):
    """The attack: ten operations of thirty aliased full introspections each returned 45 MB
    and held a worker for seconds."""
    document = aliased_schemas(30)
    response = await client.post(
        "/graphql", json=[{"query": document}] * 10, headers={"X-Brand": brand.code}
    )
    assert response.status_code == 200
    assert len(response.content) < 20_000  # errors only: nothing of the schema
    for result in response.json():
        assert "data" not in result or result["data"] is None
        assert result["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.development_only  # production refuses introspection
async def test_the_schema_is_introspected_once_per_operation(client, brand):
    twice = "{ a: __schema { queryType { name } } b: __schema { queryType { name } } }"
    response = await client.post("/graphql", json={"query": twice}, headers={"X-Brand": brand.code})
    (error,) = response.json()["errors"]
    assert "once" in error["message"]
    through_fragments = (
        "query { ...A ...B } fragment A on Query { a: __schema { queryType { name } } } "
        "fragment B on Query { b: __schema { queryType { name } } }"
    )
    response = await client.post(
        "/graphql", json={"query": through_fragments}, headers={"X-Brand": brand.code}
    )
    assert "once" in response.json()["errors"][0]["message"]


@pytest.mark.development_only  # production refuses introspection
async def test_one_full_introspection_answers_in_development(client, brand):
    """GraphiQL and the typed-client generators introspect the whole schema."""
    response = await client.post(
        "/graphql", json={"query": FULL_INTROSPECTION}, headers={"X-Brand": brand.code}
    )
    body = response.json()
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_introspection_fields_count_in_the_cost():
    schema = build_schema()._schema
    rule = build_cost_rule(4)
    cheap = '{ __type(name: "Query") { name } }'
    assert validate(schema, parse(cheap), [rule]) == []
    aliased = '{ a: __type(name: "Query") { name } b: __type(name: "Member") { name kind } }'
    (error,) = validate(schema, parse(aliased), [rule])
    assert "cost 5 exceeds" in error.message
    (error,) = validate(schema, parse(FULL_INTROSPECTION), [build_cost_rule(100)])
    assert "exceeds the maximum of 100" in error.message


async def test_production_refuses_introspection(production_client, brand):
    for query in (SCHEMA_PROBE, '{ __type(name: "Member") { name } }'):
        response = await production_client.post(
            "/graphql", json={"query": query}, headers={"X-Brand": brand.code}
        )
        body = response.json()
        assert "data" not in body
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "introspection has been disabled" in error["message"]
    response = await production_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Brand": brand.code}
    )
    assert response.json() == {"data": {"__typename": "Query"}}


def test_production_may_allow_introspection(settings, brand):
    server = start_live_server(
        settings, env={"POINTSMALL_ENV": "production", "POINTSMALL_INTROSPECTION": "true"}
    )
    try:
        response = httpx.post(
            f"{server.url}/graphql", json={"query": SCHEMA_PROBE}, headers={"X-Brand": brand.code}
        )
    finally:
        stop_live_server(server)
    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
