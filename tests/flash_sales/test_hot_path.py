"""The endpoint's short way for refused flash-sale entries (server/hot_path.py): it answers as
GraphQL execution does, asks the entry script once per attempt, and stands aside for anything
that is not exactly a member's enterFlashSale."""

from __future__ import annotations

import asyncio
import re

import pytest

from db.flash_sales import SaleKeys
from tests.conftest import start_live_server, stop_live_server, unique_code
from tests.factories import key
from tests.flash_sales.test_flash_sales import SET_STATUS, live_sale, scheduled_sale
from tests.ledger.records import pk
from tests.live import admin_of

SHORT_WAY = "pointsmall_flash_sale_refusals_short_way_total"

# Documents the short way takes, each as a client might write it.
DOCUMENTS = [
    """
    mutation ($input: EnterFlashSaleInput!) {
      enterFlashSale(input: $input) {
        redemption { id status }
        member { points { available } }
        userErrors { field message code }
      }
    }
    """,
    """
    mutation Buy($entry: EnterFlashSaleInput!) {
      buy: enterFlashSale(input: $entry) {
        __typename
        problems: userErrors { __typename what: code message field }
        bought: redemption { id }
      }
    }
    """,
    "mutation ($i: EnterFlashSaleInput!) { enterFlashSale(input: $i) { userErrors { code } } }",
]


async def short_way_count(client) -> float:
    text = (await client.get("/metrics")).text
    match = re.search(rf"^{SHORT_WAY} (\S+)$", text, re.MULTILINE)
    assert match, f"{SHORT_WAY} is not in /metrics"
    return float(match.group(1))


async def post(client, document: str, variables: dict, token: str | None, **extra) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": document, "variables": variables, **extra}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def entry(sale_id: str, quantity=1, idem: str | None = None, name: str = "input") -> dict:
    return {name: {"flashSaleId": sale_id, "quantity": quantity, "idempotencyKey": idem or key()}}


async def sold_out_sale(client, staff, clock, member_with_points) -> dict:
    """A live sale of one unit, bought by another member (through DOCUMENTS[0], which is
    then a document the schema has executed)."""
    sale = await live_sale(staff, clock, totalStock=1)
    _, token = await member_with_points(500, "Buyer")
    bought = await post(client, DOCUMENTS[0], entry(sale["id"]), token)
    assert bought["data"]["enterFlashSale"]["userErrors"] == [], bought
    return sale


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_a_refusal_by_the_short_way_reads_as_execution_writes_it(
    client, staff, clock, member_with_points, document
):
    sale = await sold_out_sale(client, staff, clock, member_with_points)
    _, token = await member_with_points(500)
    variable = "input" if "$input" in document else ("entry" if "$entry" in document else "i")
    document = document + f"\n# {unique_code()}"  # a document no request has used yet
    before = await short_way_count(client)
    executed = await post(client, document, entry(sale["id"], name=variable), token)
    assert await short_way_count(client) == before  # the first one is executed
    short = await post(client, document, entry(sale["id"], name=variable), token)
    assert await short_way_count(client) == before + 1
    assert short == executed
    (payload,) = short["data"].values()
    codes = [error.get("code", error.get("what")) for error in next(
        value for name, value in payload.items() if name in ("userErrors", "problems")
    )]  # fmt: skip
    assert codes == ["SOLD_OUT"]


async def test_every_refusal_the_script_gives_reads_alike(client, staff, clock, member_with_points):
    """Not started, the limit, a bad quantity, a bad id, a replayed refusal, a key reused for
    another request: the short way's answers equal execution's for the same situation."""
    document = DOCUMENTS[1] + f"\n# {unique_code()}"
    _, token = await member_with_points(1000)
    later = await scheduled_sale(staff, clock)
    sale = await live_sale(staff, clock, totalStock=5, perMemberLimit=1)
    bought = await post(client, document, entry(sale["id"], name="entry"), token)
    assert bought["data"]["buy"]["bought"] is not None, bought  # executed: now a known document
    replayed_key = key()
    cases = [
        entry(later["id"], name="entry"),
        entry(sale["id"], name="entry"),  # the member's limit
        entry(sale["id"], quantity=0, name="entry"),
        entry(sale["id"], quantity=-1, name="entry"),
        entry("not-an-id", name="entry"),
        entry(sale["id"], idem=replayed_key, name="entry"),
        entry(sale["id"], idem=replayed_key, name="entry"),  # the refusal, replayed
        entry(sale["id"], quantity=2, idem=replayed_key, name="entry"),  # another request
    ]
    before = await short_way_count(client)
    answers = [await post(client, document, variables, token) for variables in cases]
    assert await short_way_count(client) == before + len(cases)
    codes = [[e["what"] for e in answer["data"]["buy"]["problems"]] for answer in answers]
    assert codes == [
        ["NOT_STARTED"],
        ["LIMIT_REACHED"],
        ["INVALID_INPUT"],
        ["INVALID_INPUT"],
        ["INVALID_INPUT"],
        ["LIMIT_REACHED"],
        ["LIMIT_REACHED"],
        ["CONFLICT"],
    ]
    # The same situations through execution (a document of its own, first seen each time).
    for variables, answer in zip(cases[:5], answers[:5], strict=True):
        fresh = DOCUMENTS[1] + f"\n# {unique_code()}"
        assert await post(client, fresh, variables, token) == answer


async def test_a_winning_entry_asks_the_script_once(
    client, staff, clock, member_with_points, runtime
):
    sale = await sold_out_sale(client, staff, clock, member_with_points)  # DOCUMENTS[0] known
    another = await live_sale(staff, clock, totalStock=3)
    member, token = await member_with_points(1000)
    before = await short_way_count(client)
    idem = key()
    won = await post(client, DOCUMENTS[0], entry(another["id"], idem=idem), token)
    payload = won["data"]["enterFlashSale"]
    assert payload["userErrors"] == [] and payload["redemption"]["status"] == "CONFIRMED", won
    assert payload["member"]["points"]["available"] == 1000 - 100
    assert await short_way_count(client) == before  # a hold goes on through execution
    keys = SaleKeys.of(runtime.keys, pk(another["id"]))
    assert int(await runtime.redis.get(keys.attempts(pk(member["id"])))) == 1
    again = await post(client, DOCUMENTS[0], entry(another["id"], idem=idem), token)
    assert again["data"]["enterFlashSale"]["redemption"] == payload["redemption"]
    assert again["data"]["enterFlashSale"]["member"]["points"]["available"] == 900
    refused = await post(client, DOCUMENTS[0], entry(sale["id"]), token)
    assert refused["data"]["enterFlashSale"]["userErrors"][0]["code"] == "SOLD_OUT"
    assert await short_way_count(client) == before + 1


SALE = "@sale@"  # stands for the sale's id in the variables below

OTHER_SHAPES = [
    {"input": {"flashSaleId": SALE, "quantity": "1", "idempotencyKey": "k"}},
    {"input": {"flashSaleId": SALE, "quantity": 2**31, "idempotencyKey": "k"}},
    {"input": {"flashSaleId": SALE, "quantity": True, "idempotencyKey": "k"}},
    {"input": {"flashSaleId": SALE, "quantity": 1, "idempotencyKey": "k", "more": 1}},
    {"input": {"flashSaleId": SALE, "quantity": 1}},
    {"input": {"flashSaleId": 7, "quantity": 1, "idempotencyKey": "k"}},
    {"input": {"flashSaleId": SALE, "quantity": 1, "idempotencyKey": "k"}, "extra": 1},
    {},
]


@pytest.mark.parametrize("variables", OTHER_SHAPES)
async def test_variables_of_another_shape_go_through_execution(
    client, staff, clock, member_with_points, variables
):
    sale = await sold_out_sale(client, staff, clock, member_with_points)
    _, token = await member_with_points(0)
    given = {
        name: {field: sale["id"] if value == SALE else value for field, value in value.items()}
        if isinstance(value, dict)
        else value
        for name, value in variables.items()
    }
    before = await short_way_count(client)
    answer = await post(client, DOCUMENTS[0], given, token)
    assert await short_way_count(client) == before
    assert answer.get("errors") or answer["data"]["enterFlashSale"]["userErrors"], answer


async def test_an_omitted_quantity_is_the_default_one(client, staff, clock, member_with_points):
    sale = await sold_out_sale(client, staff, clock, member_with_points)
    _, token = await member_with_points(0)
    before = await short_way_count(client)
    variables = {"input": {"flashSaleId": sale["id"], "idempotencyKey": key()}}
    answer = await post(client, DOCUMENTS[0], variables, token)
    assert await short_way_count(client) == before + 1
    assert [e["code"] for e in answer["data"]["enterFlashSale"]["userErrors"]] == ["SOLD_OUT"]


async def test_callers_who_are_not_members_go_through_execution(
    client, staff, clock, member_with_points
):
    sale = await sold_out_sale(client, staff, clock, member_with_points)
    before = await short_way_count(client)
    as_staff = await post(client, DOCUMENTS[0], entry(sale["id"]), staff.token)
    assert as_staff["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await post(client, DOCUMENTS[0], entry(sale["id"]), None)
    assert anonymous["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
    assert await short_way_count(client) == before


async def test_documents_it_does_not_take(client, staff, clock, member_with_points):
    """Fragments, directives, a second root field, batches: execution answers them all."""
    sale = await sold_out_sale(client, staff, clock, member_with_points)
    _, token = await member_with_points(0)
    documents = [
        """mutation ($input: EnterFlashSaleInput!) { enterFlashSale(input: $input) {
             ...Answer } }
           fragment Answer on EnterFlashSalePayload { userErrors { code } }""",
        """mutation ($input: EnterFlashSaleInput!, $show: Boolean!) {
             enterFlashSale(input: $input) { userErrors @include(if: $show) { code } } }""",
        """mutation ($input: EnterFlashSaleInput!) {
             enterFlashSale(input: $input) { userErrors { code } } __typename }""",
    ]
    before = await short_way_count(client)
    for document in documents:
        for _ in range(2):
            variables = {**entry(sale["id"]), "show": True}
            if "$show" not in document:
                variables.pop("show")
            body = await post(client, document, variables, token)
            (payload,) = [v for k, v in body["data"].items() if k != "__typename"]
            assert payload["userErrors"] == [{"code": "SOLD_OUT"}], body
    batch = await client.post(
        "/graphql",
        json=[{"query": DOCUMENTS[2], "variables": entry(sale["id"], name="i")}] * 2,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert [answer["data"]["enterFlashSale"]["userErrors"] for answer in batch.json()] == [
        [{"code": "SOLD_OUT"}]
    ] * 2
    assert await short_way_count(client) == before


async def test_a_member_frozen_on_another_process_is_refused_here_at_once(
    client, staff, clock, member_with_points, settings, brand, make_token
):
    """This process keeps members' facts for the script; a change made through another
    process reaches it over the event bus before the next attempt."""
    sale = await sold_out_sale(client, staff, clock, member_with_points)
    member, token = await member_with_points(0)
    first = await post(client, DOCUMENTS[0], entry(sale["id"]), token)
    assert [e["code"] for e in first["data"]["enterFlashSale"]["userErrors"]] == ["SOLD_OUT"]
    server = await asyncio.to_thread(start_live_server, settings)
    try:
        async with admin_of(server, brand, make_token) as remote:
            frozen = await remote.call(
                SET_STATUS, {"memberId": member["id"], "status": "FROZEN", "reason": "fraud"}
            )
            assert frozen == {"member": {"status": "FROZEN"}, "userErrors": []}
    finally:
        await asyncio.to_thread(stop_live_server, server)
    then = await post(client, DOCUMENTS[0], entry(sale["id"]), token)
    assert [e["code"] for e in then["data"]["enterFlashSale"]["userErrors"]] == ["MEMBER_FROZEN"]


async def test_the_short_way_answers_in_the_media_type_asked_for(
    client, staff, clock, member_with_points
):
    sale = await sold_out_sale(client, staff, clock, member_with_points)
    _, token = await member_with_points(0)
    document = DOCUMENTS[2] + f"\n# {unique_code()}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/graphql-response+json"}
    before = await short_way_count(client)
    answers = [
        await client.post(
            "/graphql",
            json={"query": document, "variables": entry(sale["id"], name="i")},
            headers=headers,
        )
        for _ in range(2)
    ]
    assert await short_way_count(client) == before + 1  # the second one
    executed, short = answers
    assert short.status_code == executed.status_code == 200
    assert short.headers["content-type"] == executed.headers["content-type"]
    assert executed.headers["content-type"].startswith("application/graphql-response+json")
    assert short.json() == executed.json()
