"""The example operations (examples/operations/*.graphql) as frontend teams use them: typed by
graphql-codegen (codegen.ts) and by relay-compiler (relay.config.json, through the sources
examples/relay-sources.mjs wraps them in) against the committed schema.graphql, without an
error, a warning or an unmapped scalar; and each runs on the live schema, as a member sends it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from tests.support.catalog import create_catalog_item
from tests.support.clients import EXAMPLES, assert_clean, documents, operation_names, run_codegen
from tests.support.flash_sales import live_sale
from tests.support.live import bearer, connected, receive, start_live_server, stop_live_server
from tests.support.node import PROJECT, run_bin, run_node

OPERATIONS = {
    "CatalogPageQuery",
    "MemberPageQuery",
    "RedeemMutation",
    "EnterFlashSaleMutation",
    "LiveBalanceSubscription",
    "FlashSaleStockSubscription",
}


def test_the_examples_are_the_operations_the_clients_need():
    assert set(documents()) == OPERATIONS


def run_relay(tmp_path) -> Path:
    """relay-compiler with relay.config.json, writing into `tmp_path`: the artifacts, and the
    persistConfig's manifest."""
    sources, artifacts = tmp_path / "sources", tmp_path / "artifacts"
    artifacts.mkdir(parents=True)
    wrapped = run_node(EXAMPLES / "relay-sources.mjs", str(sources))
    assert wrapped.returncode == 0, wrapped.stderr
    config = json.loads((PROJECT / "relay.config.json").read_text(encoding="utf-8"))
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text("{}")  # relay-compiler adds to the file, which must exist
    config.update(
        src=str(sources),
        schema=str(PROJECT / "schema.graphql"),
        artifactDirectory=str(artifacts),
        persistConfig={**config["persistConfig"], "file": str(manifest)},
    )
    (tmp_path / "relay.config.json").write_text(json.dumps(config), encoding="utf-8")
    assert_clean(run_bin("relay-compiler", str(tmp_path / "relay.config.json")))
    return tmp_path


def test_graphql_codegen_types_every_operation(tmp_path, monkeypatch):
    generated = run_codegen(tmp_path, monkeypatch) / "operations.ts"
    types = generated.read_text(encoding="utf-8")
    for name in OPERATIONS:
        assert f"export type {name} = " in types and f"export type {name}Variables = " in types
    assert "cashPrice: string" in types  # Decimal, by the scalar mapping strictScalars enforces


def test_relay_compiler_compiles_every_operation(tmp_path):
    artifacts = run_relay(tmp_path) / "artifacts"
    compiled = {path.name.removesuffix(".graphql.ts") for path in artifacts.iterdir()}
    assert compiled >= OPERATIONS, compiled


async def run_ok(gql, document: str, variables: dict, token: str) -> dict:
    """The data of a document that ran without an error or a user error."""
    body = await gql(document, variables, token=token)
    assert "errors" not in body, body
    for field in body["data"].values():
        assert field is not None, body
        assert field.get("userErrors", []) == [], body
    return body["data"]


async def subscribe_once(server, token: str, document: str, variables: dict) -> dict:
    async with connected(server, bearer(token)) as socket:
        message = {"query": document, "variables": variables}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": message}))
        received = await receive(socket)
    assert received["type"] == "next" and "errors" not in received["payload"], received
    return received["payload"]["data"]


async def test_every_operation_runs_as_the_member_sends_it(
    gql, staff, clock, member_with_points, live_server
):
    member, token = await member_with_points(1000)
    item = await create_catalog_item(staff, pointsPrice=100)
    sale = await live_sale(staff, clock)
    by_name = documents()

    catalog = await run_ok(gql, by_name["CatalogPageQuery"], {"first": 50}, token)
    assert item["id"] in {edge["node"]["id"] for edge in catalog["catalog"]["edges"]}
    me = (await run_ok(gql, by_name["MemberPageQuery"], {}, token))["me"]
    assert me["id"] == member["id"] and me["ledger"]["edges"]
    redeem = {"input": {"itemId": item["id"], "idempotencyKey": f"redeem-{item['id']}"}}
    redeemed = await run_ok(gql, by_name["RedeemMutation"], redeem, token)
    assert redeemed["redeem"]["redemption"]["status"] == "CONFIRMED"
    enter = {"input": {"flashSaleId": sale["id"], "idempotencyKey": f"enter-{sale['id']}"}}
    entered = await run_ok(gql, by_name["EnterFlashSaleMutation"], enter, token)
    assert entered["enterFlashSale"]["redemption"]["flashSale"]["id"] == sale["id"]

    live = by_name["LiveBalanceSubscription"]
    balance = await subscribe_once(live_server, token, live, {"sinceVersion": 0})
    assert balance["balanceChanged"]["version"] == 1
    stock = by_name["FlashSaleStockSubscription"]
    stocked = await subscribe_once(live_server, token, stock, {"flashSaleId": sale["id"]})
    assert stocked["flashSaleStock"]["flashSale"]["id"] == sale["id"]


async def test_both_compilers_manifests_run_by_document_id_in_trusted_mode(
    tmp_path, monkeypatch, settings, staff, clock, member_with_points, running_app, client
):
    """The manifests relay-compiler's persistConfig and codegen's persistedDocuments write, as a
    trusted-mode server loads them; each operation sent as {documentId, variables}. (The flash
    sale is entered on the tests' own server, whose clock the sale was opened by, with the
    manifests loaded there too.)"""
    codegen = run_codegen(tmp_path / "codegen", monkeypatch) / "client" / "persisted-documents.json"
    relay = run_relay(tmp_path / "relay") / "persisted-documents.json"
    manifests = {"codegen": operation_names(codegen), "relay": operation_names(relay)}
    assert all(set(names) == OPERATIONS for names in manifests.values()), manifests
    _, token = await member_with_points(1000)
    item = await create_catalog_item(staff, pointsPrice=100)
    sale = await live_sale(staff, clock, perMemberLimit=2)  # an entry by each manifest
    env = {"POINTSMALL_DOCUMENTS": "trusted", "POINTSMALL_TRUSTED_DOCUMENTS": f"{codegen},{relay}"}
    server = await asyncio.to_thread(start_live_server, settings, env=env)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            for compiler, ids in manifests.items():
                requests = {
                    "CatalogPageQuery": {"first": 50},
                    "MemberPageQuery": {},
                    "RedeemMutation": {
                        "input": {"itemId": item["id"], "idempotencyKey": f"redeem-{compiler}"}
                    },
                }
                for name, variables in requests.items():
                    response = await http.post(
                        "/graphql",
                        json={"documentId": f"sha256:{ids[name]}", "variables": variables},
                        headers=bearer(token),
                    )
                    body = response.json()
                    assert response.status_code == 200 and "errors" not in body, (compiler, body)
                    for field in body["data"].values():
                        assert field is not None and field.get("userErrors", []) == [], body
                refused = await http.post(
                    "/graphql", json={"query": "{ __typename }"}, headers=bearer(token)
                )
                assert refused.json()["errors"][0]["extensions"]["code"] == (
                    "TRUSTED_DOCUMENT_REQUIRED"
                )
                for name, variables in (
                    ("LiveBalanceSubscription", {"sinceVersion": 0}),
                    ("FlashSaleStockSubscription", {"flashSaleId": sale["id"]}),
                ):
                    async with connected(server, bearer(token)) as socket:
                        payload = {"documentId": ids[name], "variables": variables}
                        await socket.send(
                            json.dumps({"id": "1", "type": "subscribe", "payload": payload})
                        )
                        received = await receive(socket)
                    assert received["type"] == "next", (compiler, name, received)
                    assert "errors" not in received["payload"], received
    finally:
        await asyncio.to_thread(stop_live_server, server)
    documents = running_app[0].state.graphql.documents
    for compiler, manifest in (("codegen", codegen), ("relay", relay)):
        documents.load_manifest(manifest)
        entry = {"flashSaleId": sale["id"], "idempotencyKey": f"enter-{compiler}"}
        body = {
            "documentId": manifests[compiler]["EnterFlashSaleMutation"],
            "variables": {"input": entry},
        }
        entered = (await client.post("/graphql", json=body, headers=bearer(token))).json()
        assert entered["data"]["enterFlashSale"]["userErrors"] == [], entered
        assert entered["data"]["enterFlashSale"]["redemption"]["status"] == "CONFIRMED"
