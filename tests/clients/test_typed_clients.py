"""The example operations (examples/operations/*.graphql) as frontend teams use them: typed by
graphql-codegen (codegen.ts) and by relay-compiler (relay.config.json, through the sources
examples/relay-sources.mjs wraps them in) against the committed schema.graphql, without an
error, a warning or an unmapped scalar; and each runs on the live schema, as a member sends it."""

from __future__ import annotations

import json

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    parse,
    print_ast,
    visit,
)
from graphql.language import Visitor

from tests.catalog.support import create_catalog_item
from tests.flash_sales.test_flash_sales import live_sale
from tests.live import bearer, connected, receive
from tests.support.node import PROJECT, run_bin, run_node

EXAMPLES = PROJECT / "examples"
OPERATIONS = {
    "CatalogPageQuery",
    "MemberPageQuery",
    "RedeemMutation",
    "EnterFlashSaleMutation",
    "LiveBalanceSubscription",
    "FlashSaleStockSubscription",
}


def definitions() -> list[OperationDefinitionNode | FragmentDefinitionNode]:
    return [
        definition
        for path in sorted((EXAMPLES / "operations").glob("*.graphql"))
        for definition in parse(path.read_text(encoding="utf-8")).definitions
    ]


def documents() -> dict[str, str]:
    """Each operation's name, and a document of it and the fragments it spreads."""
    fragments = {d.name.value: d for d in definitions() if isinstance(d, FragmentDefinitionNode)}

    class Spreads(Visitor):
        def __init__(self) -> None:
            super().__init__()
            self.names: set[str] = set()

        def enter_fragment_spread(self, node: FragmentSpreadNode, *_) -> None:
            if node.name.value not in self.names:
                self.names.add(node.name.value)
                visit(fragments[node.name.value], self)

    found = {}
    for operation in definitions():
        if isinstance(operation, OperationDefinitionNode):
            spreads = Spreads()
            visit(operation, spreads)
            used = [fragments[name] for name in sorted(spreads.names)]
            found[operation.name.value] = print_ast(DocumentNode(definitions=[operation, *used]))
    return found


def assert_clean(run) -> None:
    """The compiler succeeded and said nothing of unknown types or anything else amiss."""
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "[WARN]" not in output and "Unknown type" not in output, output


def test_the_examples_are_the_operations_the_clients_need():
    assert set(documents()) == OPERATIONS


def test_graphql_codegen_types_every_operation(tmp_path, monkeypatch):
    generated = tmp_path / "operations.ts"
    monkeypatch.setenv("POINTSMALL_CODEGEN_OUT", str(generated))
    assert_clean(run_bin("graphql-codegen", "--config", "codegen.ts"))
    types = generated.read_text(encoding="utf-8")
    for name in OPERATIONS:
        assert f"export type {name} = " in types and f"export type {name}Variables = " in types
    assert "cashPrice: string" in types  # Decimal, by the scalar mapping strictScalars enforces


def test_relay_compiler_compiles_every_operation(tmp_path):
    sources, artifacts = tmp_path / "sources", tmp_path / "artifacts"
    artifacts.mkdir()
    wrapped = run_node(EXAMPLES / "relay-sources.mjs", str(sources))
    assert wrapped.returncode == 0, wrapped.stderr
    config = json.loads((PROJECT / "relay.config.json").read_text(encoding="utf-8"))
    config.update(
        src=str(sources), schema=str(PROJECT / "schema.graphql"), artifactDirectory=str(artifacts)
    )
    (tmp_path / "relay.config.json").write_text(json.dumps(config), encoding="utf-8")
    assert_clean(run_bin("relay-compiler", str(tmp_path / "relay.config.json")))
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
