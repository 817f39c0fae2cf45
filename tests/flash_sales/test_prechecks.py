"""enterFlashSale's pre-check (schema/prechecks.py, server/prechecks.py): every planned document
answers byte for byte as strawberry's execution of the same request does with pre-checks off,
whatever its variables and caller; the script is asked once per attempt and the caller
authenticated once; documents it does not plan, and anything in doubt, go through execution."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter

import pytest
import strawberry
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import domain.flash_sales.entry as entry_module
from db.flash_sales import SaleKeys
from schema.documents import sha256_of
from schema.permissions import HasBrand, IsMember
from schema.prechecks import PRECHECK, Precheck, check_declarations
from tests.support.factories import SET_STATUS, key
from tests.support.flash_sales import EXAMPLE, live_sale, points_of, scheduled_sale, sold
from tests.support.ledger import pk
from tests.support.live import admin_of, start_live_server, stop_live_server
from tests.support.planned import prechecks_off, raw
from tests.support.schemas import FaultyQuery

ANSWERS = re.compile(r'^pointsmall_precheck_answers_total\{field="enterFlashSale"\} (\S+)$', re.M)
FAILURES = re.compile(r"^pointsmall_precheck_failures_total (\S+)$", re.M)

# A test manifest: documents as clients write them. Each names how its variables carry the
# entry: one input variable (its name), or the input's fields as variables of their own.
DOCUMENTS = {
    "the example operation": (EXAMPLE, "input"),
    "plain": (
        """mutation ($input: EnterFlashSaleInput!) {
          enterFlashSale(input: $input) {
            redemption { id status }
            member { points { available } }
            userErrors { field message code }
          }
        }""",
        "input",
    ),
    "aliases and __typename": (
        """mutation Buy($entry: EnterFlashSaleInput!) {
          buy: enterFlashSale(input: $entry) {
            __typename
            problems: userErrors { __typename what: code message field }
            bought: redemption { id }
          }
        }""",
        "entry",
    ),
    "fragments": (
        """mutation Enter($i: EnterFlashSaleInput!) {
          enterFlashSale(input: $i) { ...Entered ... on EnterFlashSalePayload { userErrors {
            code } } }
        }
        fragment Entered on EnterFlashSalePayload {
          redemption { status } member { ...Points } userErrors { ...Problem }
        }
        fragment Points on Member { points { available } }
        fragment Problem on UserError { message field }""",
        "i",
    ),
    "the input's fields as variables": (
        """mutation EnterBySale($sale: ID!, $quantity: Int = 1, $key: String!) {
          enterFlashSale(input: {flashSaleId: $sale, quantity: $quantity, idempotencyKey: $key}) {
            userErrors { code message }
          }
        }""",
        None,
    ),
    "literal @include and @skip": (
        """mutation ($i: EnterFlashSaleInput!) {
          enterFlashSale(input: $i) {
            userErrors @include(if: true) { code }
            redemption @skip(if: true) { id }
            member @include(if: false) { id }
          }
        }""",
        "i",
    ),
}
# Documents with enterFlashSale that are not planned: execution answers them.
NOT_PLANNED = [
    """mutation ($input: EnterFlashSaleInput!, $show: Boolean!) {
         enterFlashSale(input: $input) { userErrors @include(if: $show) { code } } }""",
    """mutation ($input: EnterFlashSaleInput!) {
         enterFlashSale(input: $input) { userErrors { code } } __typename }""",
    """mutation ($input: EnterFlashSaleInput!, $show: Boolean!) {
         enterFlashSale(input: $input) { ...Problems @skip(if: false) ...Hidden } }
       fragment Problems on EnterFlashSalePayload { userErrors { code } }
       fragment Hidden on EnterFlashSalePayload { redemption @include(if: $show) { id } }""",
]
OMIT = object()  # a variable or field left out


async def metric(client, pattern: re.Pattern[str]) -> float:
    match = pattern.search((await client.get("/metrics")).text)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def manifest(endpoint, tmp_path):
    """The test manifest, loaded as trusted documents (their ids work in any mode)."""
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({sha256_of(text): text for text, _ in DOCUMENTS.values()}))
    endpoint.documents.load_manifest(path)
    return path


def variables_of(form: str | None, sale, quantity, idem, extra: bool) -> dict:
    fields = {"flashSaleId": sale, "quantity": quantity, "idempotencyKey": idem}
    if form is None:
        named = {"sale": sale, "quantity": quantity, "key": idem}
        return {name: value for name, value in named.items() if value is not OMIT}
    given = {name: value for name, value in fields.items() if value is not OMIT}
    if extra:
        given["more"] = 1
    return {form: given}


def entry_of(sale_id: str) -> dict:
    return {"input": {"flashSaleId": sale_id, "idempotencyKey": key()}}


async def sold_out_sale(staff, clock, member_with_points, gql) -> dict:
    """A live sale of one unit, bought by another member."""
    sale = await live_sale(staff, clock, totalStock=1)
    _, token = await member_with_points(500, "Buyer")
    document, form = DOCUMENTS["plain"]
    bought = await gql(document, variables_of(form, sale["id"], 1, key(), False), token=token)
    assert bought["data"]["enterFlashSale"]["userErrors"] == [], bought
    return sale


async def test_every_planned_document_answers_as_execution_does(
    client, endpoint, manifest, staff, clock, member_with_points, gql, brand
):
    for text, _ in DOCUMENTS.values():
        assert endpoint.documents.document(text).plan is not None, text
    soldout = await sold_out_sale(staff, clock, member_with_points, gql)
    later = await scheduled_sale(staff, clock)
    buyer, _ = await member_with_points(0, "Someone")
    members = {name: (await member_with_points(0))[1] for name in DOCUMENTS}
    sales = {"sold out": soldout["id"], "not started": later["id"], "a member's id": buyer["id"]}
    sales |= {"not an id": "not-an-id", "an integer": 7, "null": None, "left out": OMIT}
    fixed_keys = {name: key() for name in DOCUMENTS}
    answered = Counter()
    loop = asyncio.get_running_loop()

    async def compare(name, sale, quantity, idem, extra, caller, accept, how, execution_first):
        text, form = DOCUMENTS[name]
        idem = {"fresh": key(), "fixed": fixed_keys[name]}.get(idem, idem)
        variables = variables_of(form, sales[sale], quantity, idem, extra)
        body = {"variables": variables}
        if how == "text":
            body["query"] = text
        elif how == "persisted query":
            body["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": sha256_of(text)}}
        else:
            body["documentId"] = f"sha256:{sha256_of(text)}"
        headers = {
            "member": {"Authorization": f"Bearer {members[name]}"},
            "staff": {"Authorization": f"Bearer {staff.token}"},
            "visitor": {"X-Brand": brand.code},
            "nobody": {},
        }[caller]
        headers["X-Request-Id"] = "same-both-ways"  # an INTERNAL error names it
        if accept is not None:
            headers["Accept"] = accept
        before = await metric(client, ANSWERS)
        if execution_first:
            with prechecks_off(endpoint):
                executed = await raw(client, body, headers)
            checked = await raw(client, body, headers)
        else:
            checked = await raw(client, body, headers)
            with prechecks_off(endpoint):
                executed = await raw(client, body, headers)
        by_precheck = await metric(client, ANSWERS) - before
        may_answer = (
            caller == "member"
            and sale in ("sold out", "not started", "a member's id", "not an id", "an integer")
            and (quantity is OMIT or (type(quantity) is int and abs(quantity) < 2**31))
            and isinstance(idem, str)
            and not (extra and form is not None)
        )
        return f"{body} {headers}", checked, executed, by_precheck, may_answer

    @settings(
        max_examples=25 * len(DOCUMENTS),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        name=st.sampled_from(list(DOCUMENTS)),
        sale=st.sampled_from(sorted(sales)),
        quantity=st.sampled_from([OMIT, OMIT, 1, 1, 2, 0, -1, "1", 2**31, True, None, 1.5]),
        idem=st.sampled_from(["fresh", "fresh", "fixed", "", "x" * 201, OMIT, 5]),
        extra=st.booleans(),
        caller=st.sampled_from(["member"] * 4 + ["staff", "visitor", "nobody"]),
        accept=st.sampled_from(
            [
                None,
                "application/json",
                "application/graphql-response+json",
                "application/graphql-response+json, application/json",
            ]
        ),
        how=st.sampled_from(["text", "persisted query", "documentId"]),
        execution_first=st.booleans(),
    )
    def agree(**request) -> None:
        sent = asyncio.run_coroutine_threadsafe(compare(**request), loop).result(60)
        request, checked, executed, by_precheck, may_answer = sent
        note(f"{request}: {checked}")
        assert checked == executed
        assert by_precheck == (1 if may_answer else 0)
        answered[may_answer] += 1

    documents = endpoint.documents
    registered = (documents.misses, documents.validations)
    await asyncio.to_thread(agree)
    assert answered[True] > 0 and answered[False] > 0, answered
    # Every request named a registered document: none was parsed, validated or planned again.
    assert (documents.misses, documents.validations) == registered


async def test_a_winning_entry_asks_the_script_once_and_authenticates_once(
    client, endpoint, staff, clock, member_with_points, runtime, running_app, monkeypatch
):
    another = await live_sale(staff, clock, totalStock=3)
    member, token = await member_with_points(1000)
    document, form = DOCUMENTS["the example operation"]
    authenticator = running_app[0].state.authenticator
    calls = []
    authenticate = authenticator.authenticate

    async def counted(*args):
        calls.append(args)
        return await authenticate(*args)

    monkeypatch.setattr(authenticator, "authenticate", counted)
    before = await metric(client, ANSWERS)
    idem = key()
    body = {"query": document, "variables": variables_of(form, another["id"], 1, idem, False)}
    headers = {"Authorization": f"Bearer {token}"}
    won = (await client.post("/graphql", json=body, headers=headers)).json()
    payload = won["data"]["enterFlashSale"]
    assert payload["userErrors"] == [] and payload["redemption"]["status"] == "CONFIRMED", won
    assert payload["member"]["points"]["available"] == 1000 - 100
    assert len(calls) == 1  # by the pre-check; the context took its principal over
    assert await metric(client, ANSWERS) == before  # a hold goes on through execution
    keys = SaleKeys.of(runtime.keys, pk(another["id"]))
    assert int(await runtime.redis.get(keys.attempts(pk(member["id"])))) == 1
    again = (await client.post("/graphql", json=body, headers=headers)).json()
    assert again["data"]["enterFlashSale"]["redemption"] == payload["redemption"]
    assert again["data"]["enterFlashSale"]["member"]["points"]["available"] == 900
    assert await metric(client, ANSWERS) == before  # a replayed purchase too
    assert await sold(another["id"]) == 1
    assert (await points_of(staff, member["id"]))["available"] == 900


async def test_documents_it_does_not_plan_go_through_execution(
    client, endpoint, staff, clock, member_with_points, gql
):
    sale = await sold_out_sale(staff, clock, member_with_points, gql)
    _, token = await member_with_points(0)
    before = await metric(client, ANSWERS)
    for document in NOT_PLANNED:
        assert endpoint.documents.document(document).plan is None
        for _ in range(2):
            variables = {"input": {"flashSaleId": sale["id"], "idempotencyKey": key()}}
            if "$show" in document:
                variables["show"] = True
            body = await gql(document, variables, token=token)
            (payload,) = [v for k, v in body["data"].items() if k != "__typename"]
            assert payload["userErrors"] == [{"code": "SOLD_OUT"}], body
            assert payload.get("redemption", "not selected") in (None, "not selected")
    plain, _ = DOCUMENTS["plain"]
    batch = await client.post(
        "/graphql",
        json=[
            {
                "query": plain,
                "variables": {"input": {"flashSaleId": sale["id"], "idempotencyKey": key()}},
            }
        ]
        * 2,
        headers={"Authorization": f"Bearer {token}"},
    )
    codes = [[e["code"] for e in a["data"]["enterFlashSale"]["userErrors"]] for a in batch.json()]
    assert codes == [["SOLD_OUT"]] * 2
    assert await metric(client, ANSWERS) == before


async def test_a_failing_precheck_falls_through_to_execution(
    client, staff, clock, member_with_points, gql, monkeypatch
):
    """Redis failing for the pre-check, say: execution asks again and answers."""
    sale = await sold_out_sale(staff, clock, member_with_points, gql)
    _, token = await member_with_points(0)
    decide = entry_module.decide
    failed = []

    async def failing_once(*args, **kwargs):
        if not failed:
            failed.append(True)
            raise ConnectionError("Redis is away")
        return await decide(*args, **kwargs)

    monkeypatch.setattr(entry_module, "decide", failing_once)
    answers, failures = await metric(client, ANSWERS), await metric(client, FAILURES)
    document, form = DOCUMENTS["plain"]
    body = await gql(document, variables_of(form, sale["id"], 1, key(), False), token=token)
    assert [e["code"] for e in body["data"]["enterFlashSale"]["userErrors"]] == ["SOLD_OUT"]
    assert failed == [True]
    assert await metric(client, ANSWERS) == answers
    assert await metric(client, FAILURES) == failures + 1


async def test_a_member_frozen_on_another_process_is_refused_here_at_once(
    client, staff, clock, member_with_points, settings, brand, make_token, gql
):
    """This process keeps members' facts for the script; a change made through another
    process reaches it over the event bus before the next attempt."""
    sale = await sold_out_sale(staff, clock, member_with_points, gql)
    member, token = await member_with_points(0)
    document, form = DOCUMENTS["plain"]
    first = await gql(document, variables_of(form, sale["id"], 1, key(), False), token=token)
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
    before = await metric(client, ANSWERS)
    then = await gql(document, variables_of(form, sale["id"], 1, key(), False), token=token)
    assert [e["code"] for e in then["data"]["enterFlashSale"]["userErrors"]] == ["MEMBER_FROZEN"]
    assert await metric(client, ANSWERS) == before + 1


PAYLOAD = "redemption { status } member { points { available } } userErrors { code }"
WON = {
    "redemption": {"status": "CONFIRMED"},
    "member": {"points": {"available": 900}},
    "userErrors": [],
}
LIMIT_REACHED = {"redemption": None, "member": None, "userErrors": [{"code": "LIMIT_REACHED"}]}

# enterFlashSale in any valid document, as people write it in GraphiQL or send it in batches:
# each request's JSON (a batch is a list), with @sale / @key / @other standing for the sale's id
# and two idempotency keys; then the answer's data (one per operation of a batch).
CASES = {
    "inline arguments": (
        {
            "query": f"""mutation {{
              enterFlashSale(input: {{flashSaleId: "@sale", idempotencyKey: "@key"}}) {{
                {PAYLOAD} }} }}"""
        },
        {"enterFlashSale": WON},
    ),
    "aliases and an inline quantity": (
        {
            "query": """mutation Buy {
              bought: enterFlashSale(
                input: {flashSaleId: "@sale", quantity: 1, idempotencyKey: "@key"}
              ) { r: redemption { s: status } __typename problems: userErrors { code } } }""",
            "operationName": "Buy",
        },
        {
            "bought": {
                "r": {"s": "CONFIRMED"},
                "__typename": "EnterFlashSalePayload",
                "problems": [],
            }
        },
    ),
    "fragments": (
        {
            "query": """mutation ($input: EnterFlashSaleInput!) {
              enterFlashSale(input: $input) { ...Entered ... on EnterFlashSalePayload {
                userErrors { code } } } }
            fragment Entered on EnterFlashSalePayload {
              redemption { status } member { ...Points } }
            fragment Points on Member { points { available } }""",
            "variables": {"input": {"flashSaleId": "@sale", "idempotencyKey": "@key"}},
        },
        {"enterFlashSale": WON},
    ),
    "@include and @skip": (
        {
            "query": f"""mutation ($input: EnterFlashSaleInput!, $go: Boolean!) {{
              enterFlashSale(input: $input) @include(if: $go) {{ {PAYLOAD} }}
              skipped: enterFlashSale(input: $input) @skip(if: $go) {{ {PAYLOAD} }} }}""",
            "variables": {
                "input": {"flashSaleId": "@sale", "idempotencyKey": "@key"},
                "go": True,
            },
        },
        {"enterFlashSale": WON},
    ),
    "several mutations in one document": (
        {
            "query": f"""mutation ($first: EnterFlashSaleInput!) {{
              first: enterFlashSale(input: $first) {{ {PAYLOAD} }}
              second: enterFlashSale(input: {{flashSaleId: "@sale", idempotencyKey: "@other"}}) {{
                {PAYLOAD} }} }}""",
            "variables": {"first": {"flashSaleId": "@sale", "idempotencyKey": "@key"}},
        },
        {"first": WON, "second": LIMIT_REACHED},
    ),
    "an operationName among several operations": (
        {
            "query": f"""query Look {{ __typename }}
            mutation Enter($input: EnterFlashSaleInput!) {{
              enterFlashSale(input: $input) {{ {PAYLOAD} }} }}
            mutation Other {{ __typename }}""",
            "variables": {"input": {"flashSaleId": "@sale", "idempotencyKey": "@key"}},
            "operationName": "Enter",
        },
        {"enterFlashSale": WON},
    ),
    "a batch": (
        [
            {
                "query": f"""mutation {{ enterFlashSale(input: {{flashSaleId: "@sale",
                  idempotencyKey: "@key"}}) {{ {PAYLOAD} }} }}"""
            },
            {"query": "query Look { __typename }"},  # a batch's operations run concurrently
        ],
        [{"enterFlashSale": WON}, {"__typename": "Query"}],
    ),
}


def filled(value, names: dict[str, str]):
    """The request with the placeholders replaced, in strings at any depth."""
    if isinstance(value, str):
        for placeholder, name in names.items():
            value = value.replace(placeholder, name)
        return value
    if isinstance(value, dict):
        return {field: filled(item, names) for field, item in value.items()}
    if isinstance(value, list):
        return [filled(item, names) for item in value]
    return value


@pytest.mark.parametrize("request_json, data", CASES.values(), ids=CASES.keys())
async def test_an_entry_in_any_valid_document_enters_once(
    client, staff, clock, member_with_points, request_json, data
):
    """Won the first time and replayed: the points taken once, one unit sold."""
    sale = await live_sale(staff, clock, totalStock=5, perMemberLimit=1)
    member, token = await member_with_points(1000)
    body = filled(request_json, {"@sale": sale["id"], "@key": key(), "@other": key()})
    answers = []
    for _ in range(2):
        response = await client.post(
            "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        answers.append(response.json())
        assert (await points_of(staff, member["id"]))["available"] == 900
        assert await sold(sale["id"]) == 1
    first, replayed = answers
    expected = [{"data": d} for d in data] if isinstance(data, list) else {"data": data}
    assert first == expected
    assert replayed == first


def test_a_precheck_whose_permissions_disagree_with_the_fields_fails_the_build():
    async def check(backends, principal, **arguments):
        return None

    precheck = Precheck(check, assumes=(IsMember,), refusal=lambda error: None)

    def schema_with(permissions: list) -> strawberry.Schema:
        @strawberry.type
        class Mutation:
            @strawberry.mutation(permission_classes=permissions, metadata={PRECHECK: precheck})
            def enter(self) -> int:
                return 1

        return strawberry.Schema(query=FaultyQuery, mutation=Mutation)

    check_declarations(schema_with([IsMember]))
    for permissions in ([], [HasBrand], [IsMember, HasBrand]):
        with pytest.raises(AssertionError, match=r"Mutation\.enter declares the permissions"):
            check_declarations(schema_with(permissions))
