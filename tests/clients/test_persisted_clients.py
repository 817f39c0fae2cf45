"""Persisted and trusted documents as the npm clients our users use send them: Apollo Client's
persisted-queries link (Automatic Persisted Queries over GET and POST; ids from the manifest
GraphQL Codegen writes), graphql-ws subscribing to a trusted document by its id, and a codegen
client-preset app sending its documents' hashes with fetch (the scripts beside this file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schema.build import SchemaLimits, build_schema
from tests.support.catalog import create_catalog_item
from tests.support.clients import (
    documents,
    entries_in,
    entry_of,
    node_client,
    operation_names,
    run_codegen,
)
from tests.support.live import bearer, start_live_server, stop_live_server
from tests.support.node import run_node

APOLLO = Path(__file__).with_name("apollo_persisted.mjs")
CODEGEN_FETCH = Path(__file__).with_name("codegen_fetch.mjs")
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


@pytest.fixture(scope="module")
def codegen_client(tmp_path_factory) -> Path:
    """The client preset's output folder, with its persisted-documents.json."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return run_codegen(tmp_path_factory.mktemp("codegen"), monkeypatch) / "client"


@pytest.fixture(scope="module")
def codegen_manifest(codegen_client) -> Path:
    return codegen_client / "persisted-documents.json"


@pytest.fixture(scope="module")
def codegen_ids(codegen_manifest) -> dict[str, str]:
    """Each operation's name, and its id in codegen's manifest."""
    return operation_names(codegen_manifest)


@pytest.fixture(scope="module")
def trusted_server(settings, codegen_manifest):
    """A server in trusted mode with codegen's manifest."""
    env = {
        "POINTSMALL_DOCUMENTS": "trusted",
        "POINTSMALL_TRUSTED_DOCUMENTS": str(codegen_manifest),
    }
    server = start_live_server(settings, env=env)
    yield server
    stop_live_server(server)


@pytest.fixture
def persisted_server(settings):
    """A server in persisted mode, knowing no document yet: a bare text is refused there, so
    whatever runs was sent by hash."""
    server = start_live_server(settings, env={"POINTSMALL_DOCUMENTS": "persisted"})
    yield server
    stop_live_server(server)


def test_codegens_manifest_keeps_the_flash_sale_entry_planned(codegen_manifest, codegen_ids):
    """codegen.ts adds `__typename` for normalized caches, but not beside the operation's root
    field: EnterFlashSaleMutation still selects enterFlashSale alone, and its pre-check plan
    answers refused entries before execution (schema/prechecks.py)."""
    schema = build_schema(SchemaLimits(trusted_documents=(codegen_manifest,)))
    entry = schema.documents.trusted[codegen_ids["EnterFlashSaleMutation"]]
    assert "__typename" in entry.text and entry.plan is not None, entry.text


def run_apollo(server, token: str, operations: list[dict], **options: Any) -> list[dict]:
    """What Apollo Client got for each operation, and the requests it made for it."""
    request = {
        "url": f"{server.url}/graphql",
        "headers": bearer(token),
        "operations": operations,
        **options,
    }
    run = run_node(APOLLO, input=request)
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(results) == len(operations), run.stdout + run.stderr
    for result in results:
        assert "error" not in result, result
    return results


def wire(result: dict) -> list[tuple[str, bool, int, list[str]]]:
    """Each request an operation took: its method, whether it carried the text, its status
    and its errors' codes; all sent with the same hash."""
    assert len({request["hash"] for request in result["requests"]}) == 1, result
    return [
        (request["method"], request["withQuery"], request["status"], request["codes"])
        for request in result["requests"]
    ]


def redeem(item: dict, key: str) -> dict:
    return {
        "document": documents()["RedeemMutation"],
        "variables": {"input": {"itemId": item["id"], "idempotencyKey": key}},
    }


async def test_apollo_sends_hashes_and_the_text_only_when_the_server_asks(
    persisted_server, staff, member_with_points
):
    """Apollo's persisted-queries link with useGETForHashedQueries: a query goes by GET with
    its hash alone, is answered PERSISTED_QUERY_NOT_FOUND (HTTP 200) the first time, sent again
    by POST with its text, and from then on by hash alone; mutations the same way by POST. A
    second Apollo client, starting afresh, runs both by hash at the first try."""
    _, token = await member_with_points(1000)
    item = await create_catalog_item(staff, pointsPrice=100)
    catalog = {"document": documents()["CatalogPageQuery"], "variables": {"first": 50}}
    options = {"useGETForHashedQueries": True}

    first = run_apollo(
        persisted_server,
        token,
        [catalog, catalog, redeem(item, "apollo-1"), redeem(item, "apollo-2")],
        **options,
    )
    assert wire(first[0]) == [("GET", False, 200, [NOT_FOUND]), ("POST", True, 200, [])]
    assert wire(first[1]) == [("GET", False, 200, [])]
    assert wire(first[2]) == [("POST", False, 200, [NOT_FOUND]), ("POST", True, 200, [])]
    assert wire(first[3]) == [("POST", False, 200, [])]
    for result in (first[0], first[1]):
        listed = {edge["node"]["id"] for edge in result["data"]["catalog"]["edges"]}
        assert item["id"] in listed, result
    for result in (first[2], first[3]):
        assert result["data"]["redeem"]["redemption"]["status"] == "CONFIRMED", result

    second = run_apollo(persisted_server, token, [catalog, redeem(item, "apollo-3")], **options)
    assert [wire(result) for result in second] == [
        [("GET", False, 200, [])],
        [("POST", False, 200, [])],
    ]
    assert second[0]["data"] == first[1]["data"]
    assert second[1]["data"]["redeem"]["redemption"]["status"] == "CONFIRMED", second


async def test_apollo_sends_the_ids_of_codegens_manifest_to_a_trusted_server(
    trusted_server, codegen_manifest, codegen_ids, staff, member_with_points
):
    """Apollo's persisted query lists (generatePersistedQueryIdsFromManifest) read the
    manifest codegen wrote: each operation goes once, by its id alone, and runs."""
    member, token = await member_with_points(1000)
    item = await create_catalog_item(staff, pointsPrice=100)
    operations = [
        {"document": documents()["CatalogPageQuery"], "variables": {"first": 50}},
        {"document": documents()["MemberPageQuery"], "variables": {}},
        redeem(item, "apollo-manifest"),
    ]

    results = run_apollo(trusted_server, token, operations, manifest=str(codegen_manifest))
    names = ["CatalogPageQuery", "MemberPageQuery", "RedeemMutation"]
    for name, result in zip(names, results, strict=True):
        assert wire(result) == [("POST", False, 200, [])], (name, result)
        assert result["requests"][0]["hash"] == codegen_ids[name]
    catalog, me, redeemed = (result["data"] for result in results)
    assert item["id"] in {edge["node"]["id"] for edge in catalog["catalog"]["edges"]}
    assert me["me"]["id"] == member["id"]
    assert redeemed["redeem"]["redemption"]["status"] == "CONFIRMED"


@pytest.mark.parametrize("named_by", ["documentId", "persistedQuery"])
async def test_graphql_ws_subscribes_to_a_trusted_document_by_its_id(
    named_by, trusted_server, codegen_ids, staff, member_with_points
):
    """The npm graphql-ws client, whose `query` must be a string, sends it empty beside the
    document's id (GraphQL-over-HTTP's `documentId`, or APQ's `extensions.persistedQuery`): the
    trusted server runs LiveBalanceSubscription and each movement the staff makes arrives."""
    member, token = await member_with_points(1000)
    digest = codegen_ids["LiveBalanceSubscription"]
    named = (
        {"documentId": f"sha256:{digest}"}
        if named_by == "documentId"
        else {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    )
    loaded = (await staff.balance(member["id"]))["version"]
    payload = {**named, "variables": {"sinceVersion": loaded}}

    async with node_client(trusted_server, token, None, count=2, payload=payload) as client:
        made = [
            entry_of(await staff.adjust(member["id"], 5)),
            entry_of(await staff.adjust(member["id"], -3)),
        ]
        seen = [
            {key: entry[key] for key in ("kind", "points", "balanceAfter", "version")}
            for entry in entries_in(await client.results(2))
        ]
        await client.ended()
    assert seen == made


@pytest.mark.parametrize("send", ["documentId", "persistedQuery"])
async def test_a_codegen_app_sends_its_documents_hashes_with_fetch(
    send, trusted_server, codegen_client, codegen_ids, staff, member_with_points
):
    """The client preset's typed documents carry their hash (`__meta__.hash`); fetch sends it
    as codegen's docs do (extensions.persistedQuery) or as `documentId`, and each runs."""
    member, token = await member_with_points(1000)
    item = await create_catalog_item(staff, pointsPrice=100)
    redeem_input = {"itemId": item["id"], "idempotencyKey": f"codegen-{send}"}
    operations = {
        "CatalogPageQuery": {"first": 50},
        "MemberPageQuery": {},
        "RedeemMutation": {"input": redeem_input},
    }
    request = {
        "url": f"{trusted_server.url}/graphql",
        "headers": bearer(token),
        "client": str(codegen_client),
        "send": send,
        "operations": [{"name": name, "variables": v} for name, v in operations.items()],
    }

    run = run_node(CODEGEN_FETCH, input=request)
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert [result["hash"] for result in results] == [codegen_ids[name] for name in operations]
    for result in results:
        assert result["status"] == 200 and "errors" not in result["body"], result
    catalog, me, redeemed = (result["body"]["data"] for result in results)
    assert item["id"] in {edge["node"]["id"] for edge in catalog["catalog"]["edges"]}
    assert me["me"]["id"] == member["id"]
    assert redeemed["redeem"]["redemption"]["status"] == "CONFIRMED"
