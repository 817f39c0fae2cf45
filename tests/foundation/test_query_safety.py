"""Query limits and error hygiene: hostile queries get clean errors; internals stay hidden."""

from __future__ import annotations

import logging

import pytest

from schema.build import build_schema
from schema.documents import DOCUMENT_CACHE_BYTES, DocumentRegistry, build_documents
from schema.safety import GuardedSchema, build_extensions
from tests.support.schemas import FaultyQuery


def nested_query(depth: int) -> str:
    """`{ brand { stores { brand { stores ... } } } }` nested to `depth` fields."""
    fields = ["brand", "stores"] * depth
    return "{ " + " { ".join(fields[:depth]) + " { code }" + " }" * depth


async def error_codes(client, query: str, brand_code: str) -> list[str]:
    response = await client.post("/graphql", json={"query": query}, headers={"X-Brand": brand_code})
    assert response.status_code == 200, response.text
    return [error["extensions"]["code"] for error in response.json().get("errors", [])]


async def test_a_query_of_depth_50_is_refused(client, brand):
    assert await error_codes(client, nested_query(4), brand.code) == []
    response = await client.post(
        "/graphql", json={"query": nested_query(50)}, headers={"X-Brand": brand.code}
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "exceeds maximum operation depth" in error["message"]


async def test_a_thousand_aliases_are_refused(client, brand):
    few = "{ " + " ".join(f"a{i}: brand {{ code }}" for i in range(5)) + " }"
    assert await error_codes(client, few, brand.code) == []
    many = "{ " + " ".join(f"a{i}: tiers {{ code }}" for i in range(1000)) + " }"
    response = await client.post("/graphql", json={"query": many}, headers={"X-Brand": brand.code})
    body = response.json()
    assert "data" not in body or body["data"] is None
    assert {error["extensions"]["code"] for error in body["errors"]} == {"BAD_REQUEST"}


async def test_the_alias_limit_holds_below_the_token_limit(client, brand, settings):
    count = settings.max_aliases + 1
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"
    response = await client.post("/graphql", json={"query": query}, headers={"X-Brand": brand.code})
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "aliases" in error["message"]


async def test_too_many_tokens_are_refused_before_validation(client, brand, settings):
    padding = " ".join("__typename" for _ in range(settings.max_query_tokens))
    codes = await error_codes(client, "{ " + padding + " }", brand.code)
    assert codes == ["BAD_REQUEST"]


async def test_a_repeated_query_is_parsed_and_validated_once():
    schema = build_schema()
    for _ in range(4):
        result = await schema.execute("query CacheProbe { __typename }")
        assert result.errors is None and result.data == {"__typename": "Query"}
    documents = schema.documents
    assert (documents.misses, documents.hits, documents.validations) == (1, 3, 1)


async def test_an_invalid_query_is_refused_every_time():
    schema = build_schema()
    for _ in range(2):
        result = await schema.execute("{ __typename nope }")
        (error,) = result.errors
        assert error.extensions["code"] == "BAD_REQUEST" and "nope" in error.message
    assert (schema.documents.misses, schema.documents.validations) == (1, 2)


async def test_the_registry_keeps_the_latest_query_texts_only_up_to_its_bytes():
    text_bytes = len("{ a: __typename }")
    schema = GuardedSchema(
        query=FaultyQuery,
        extensions=build_extensions(documents := small_documents(max_bytes=2 * text_bytes)),
    )
    for query in (
        "{ a: __typename }",
        "{ b: __typename }",
        "{ a: __typename }",
        "{ c: __typename }",
    ):
        await schema.execute(query)
    assert (documents.misses, documents.hits) == (3, 1)
    assert documents.bytes == 2 * text_bytes
    await schema.execute("{ b: __typename }")  # dropped for c, a having been used since
    assert (documents.misses, documents.hits) == (4, 1)


async def test_a_text_larger_than_the_registry_runs_and_is_not_kept():
    schema = GuardedSchema(
        query=FaultyQuery, extensions=build_extensions(documents := small_documents(max_bytes=8))
    )
    for _ in range(2):
        result = await schema.execute("{ a: __typename }")
        assert result.errors is None and result.data == {"a": "FaultyQuery"}
    assert (documents.misses, documents.hits, documents.bytes) == (2, 0, 0)


def small_documents(max_bytes: int = DOCUMENT_CACHE_BYTES) -> DocumentRegistry:
    return build_documents(
        max_depth=5, max_aliases=5, max_tokens=100, max_cost=100, max_bytes=max_bytes
    )


def faulty_schema(mask: bool) -> GuardedSchema:
    return GuardedSchema(
        query=FaultyQuery, extensions=build_extensions(small_documents()), mask_internal=mask
    )


class RequestContext:
    request_id = "req-42"


@pytest.mark.parametrize("mask", [True, False])
async def test_internal_errors_are_coded_logged_and_masked_in_production(mask, caplog):
    with caplog.at_level(logging.ERROR, logger="pointsmall.graphql"):
        result = await faulty_schema(mask).execute("{ broken }", context_value=RequestContext())
    (error,) = result.errors
    assert error.extensions["code"] == "INTERNAL"
    assert error.extensions["requestId"] == "req-42"
    assert ("hunter2" in error.message) is not mask
    logged = [record for record in caplog.records if record.name == "pointsmall.graphql"]
    assert logged and logged[0].request_id == "req-42"
    assert "hunter2" in str(logged[0].exc_info[1])


async def test_user_facing_errors_survive_masking():
    result = await faulty_schema(True).execute("{ broken nope }", context_value=RequestContext())
    (error,) = result.errors
    assert error.extensions["code"] == "BAD_REQUEST"
    assert "nope" in error.message


NESTED_PAGES = """
query %s {
  members(first: 100) { edges { node { ledger(first: %s) { totalCount edges { node { id } } } } } }
}
"""


async def test_a_query_asking_for_too_many_objects_is_refused(gql, brand, make_token, settings):
    token = make_token(brand, "STAFF")
    small = await gql(NESTED_PAGES % ("", "5"), token=token)
    assert "errors" not in small, small
    # A variable counts as the largest page it may be, whatever value it is given.
    for declared, size in (("", "100"), ("($size: Int)", "$size")):
        body = await gql(NESTED_PAGES % (declared, size), {"size": 1}, token=token)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert f"maximum of {settings.max_query_cost}" in error["message"]
