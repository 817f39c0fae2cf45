"""Partners and their API keys, over HTTP GraphQL.

Admins create partners and issue keys (shown once, kept as a sha256 hash, named by a prefix);
a key sent as X-Api-Key makes the caller a PARTNER with the key's scopes; revoked and rotated
keys stop at once; keys never cross brands; idempotency outlives a rotation; each key has its
own token bucket (HTTP 429 with retryAfter and Retry-After).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from decimal import Decimal

import pytest

from db.models import ApiKey
from resolvers.ids import encode_id, parse_id
from tests.support.factories import Staff, with_key
from tests.support.partners import (
    API_KEY_FIELDS,
    CREATE_PARTNER,
    ISSUE_KEY,
    REVOKE_KEY,
    USER_ERRORS,
    as_partner,
    assert_unauthenticated,
    create_partner,
    issue,
    partner_code,
    partner_gql,
    revoke,
)

KEY_FORMAT = re.compile(r"^pm_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$")
ALL_SCOPES = [
    "COUPONS_VERIFY",
    "MEMBERS_LOOKUP",
    "MEMBERS_REGISTER",
    "OFFERS_WRITE",
    "POINTS_EARN",
    "WEBHOOKS_MANAGE",
]
A_MEMBER_SUBJECT = "TWVtYmVyOjE="  # base64 of "Member:1": a member token's subject

ROTATE_KEY = f"""
mutation ($input: ApiKeyInput!) {{
  rotateApiKey(input: $input) {{ apiKey {{ {API_KEY_FIELDS} }} secret {USER_ERRORS} }}
}}
"""


PARTNERS = "{ partners { id code name apiKeys { id prefix scopes revokedAt } } }"

REGISTER = f"""
mutation ($input: RegisterMemberInput!) {{
  registerMember(input: $input) {{
    member {{ id displayName phone email birthday }}
    {USER_ERRORS}
  }}
}}
"""

MEMBER = "query ($id: ID!) { member(id: $id) { id displayName phone email birthday } }"

BRAND = "{ brand { code } }"


def new_key() -> str:
    return uuid.uuid4().hex


def user_errors(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


def top_level_codes(body: dict) -> list[str]:
    assert body.get("errors"), body
    return [error["extensions"]["code"] for error in body["errors"]]


async def rotate(staff: Staff, key_id: str) -> dict:
    return await staff.call(ROTATE_KEY, {"id": key_id})


async def listed_partners(staff: Staff) -> list[dict]:
    body = await staff.gql(PARTNERS, token=staff.token)
    assert "errors" not in body, body
    return body["data"]["partners"]


def registration(**fields) -> dict:
    return {"input": {"displayName": "Ada", "idempotencyKey": new_key(), **fields}}


# --- creating partners -------------------------------------------------------------------


async def test_an_admin_creates_a_partner(staff):
    code = partner_code()
    payload = await staff.call(
        CREATE_PARTNER, {"code": f"  {code.upper()} ", "name": " Acme Coffee ", "pointValue": "1.5"}
    )
    assert payload["userErrors"] == []
    created = payload["partner"]
    assert (created["code"], created["name"]) == (code, "Acme Coffee")
    assert Decimal(created["pointValue"]) == Decimal("1.5")
    assert created["apiKeys"] == []
    (listed,) = await listed_partners(staff)
    assert (listed["id"], listed["code"], listed["apiKeys"]) == (created["id"], code, [])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": "a"}, "code"),
        ({"code": "has space"}, "code"),
        ({"code": "under_score"}, "code"),
        ({"code": "x" * 33}, "code"),
        ({"code": "ümlaut"}, "code"),
        ({"code": ""}, "code"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 121}, "name"),
        ({"pointValue": "-0.01"}, "pointValue"),
        ({"pointValue": "-5"}, "pointValue"),
        ({"pointValue": "1000.01"}, "pointValue"),
    ],
)
async def test_a_partner_with_bad_input_is_refused(staff, fields, field):
    payload = await staff.call(
        CREATE_PARTNER, {"code": partner_code(), "name": "Acme", "pointValue": "1", **fields}
    )
    assert payload["partner"] is None
    assert user_errors(payload) == [("INVALID_INPUT", ["input", field])]
    assert await listed_partners(staff) == []


async def test_a_partner_code_is_unique_within_its_brand(staff, other_staff):
    code = partner_code()
    await create_partner(staff, code=code)
    payload = await staff.call(CREATE_PARTNER, {"code": code.upper(), "name": "Again"})
    assert payload["partner"] is None
    assert user_errors(payload) == [("DUPLICATE", ["input", "code"])]
    assert [p["code"] for p in await listed_partners(staff)] == [code]
    # Another brand may have a partner of the same code.
    assert (await create_partner(other_staff, code=code))["code"] == code


# --- issuing keys ------------------------------------------------------------------------


async def test_a_key_is_shown_once_and_only_its_prefix_and_scopes_stay_readable(staff, partner):
    issued = await issue(staff, partner["id"], ["POINTS_EARN", "MEMBERS_REGISTER", "POINTS_EARN"])
    secret = issued["secret"]
    shape = KEY_FORMAT.match(secret)
    assert shape is not None, secret
    api_key = issued["apiKey"]
    assert api_key["prefix"] == shape.group(1)
    assert api_key["scopes"] == ["MEMBERS_REGISTER", "POINTS_EARN"]
    assert api_key["revokedAt"] is None
    assert parse_id(api_key["id"])[0] == "ApiKey"

    body = await staff.gql(PARTNERS, token=staff.token)
    (listed,) = body["data"]["partners"]
    assert listed["apiKeys"] == [
        {
            "id": api_key["id"],
            "prefix": api_key["prefix"],
            "scopes": ["MEMBERS_REGISTER", "POINTS_EARN"],
            "revokedAt": None,
        }
    ]
    assert shape.group(2) not in str(body)

    # The stored row holds the hash, never the secret.
    row = await ApiKey.get(prefix=api_key["prefix"])
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = [row.prefix, row.secret_hash, str(row.scopes)]
    assert not any(shape.group(2) in value or secret in value for value in stored)

    # Two keys never share a secret or a prefix.
    again = await issue(staff, partner["id"], ["POINTS_EARN"])
    assert again["secret"] != secret
    assert again["apiKey"]["prefix"] != api_key["prefix"]


async def test_a_key_needs_a_scope(staff, partner):
    payload = await staff.call(ISSUE_KEY, {"partnerId": partner["id"], "scopes": []})
    assert (payload["apiKey"], payload["secret"]) == (None, None)
    assert user_errors(payload) == [("INVALID_INPUT", ["input", "scopes"])]
    (listed,) = await listed_partners(staff)
    assert listed["apiKeys"] == []


@pytest.mark.parametrize(
    "scopes",
    [["MEMBERS_READ"], ["MEMBERS_REGISTER", "ADMIN"], ["members:register"], ["Members_Register"]],
    ids=["unknown", "one-unknown", "domain-name", "wrong-case"],
)
async def test_a_key_takes_only_the_scope_enums_values(staff, partner, scopes):
    variables = {"input": with_key(ISSUE_KEY, {"partnerId": partner["id"], "scopes": scopes})}
    body = await staff.gql(ISSUE_KEY, variables, token=staff.token)
    assert [error["extensions"]["code"] for error in body["errors"]] == ["BAD_REQUEST"], body
    assert "ApiKeyScope" in body["errors"][0]["message"]
    (listed,) = await listed_partners(staff)
    assert listed["apiKeys"] == []


async def test_every_scope_can_be_issued(staff, partner):
    issued = await issue(staff, partner["id"], list(reversed(ALL_SCOPES)))
    assert issued["apiKey"]["scopes"] == ALL_SCOPES


async def test_a_key_for_an_unknown_partner_is_refused(staff):
    payload = await staff.call(
        ISSUE_KEY, {"partnerId": encode_id("Partner", 2**31 - 1), "scopes": ["POINTS_EARN"]}
    )
    assert payload["secret"] is None
    assert user_errors(payload) == [("NOT_FOUND", ["input", "partnerId"])]


# --- who manages partners ----------------------------------------------------------------


async def manage_partners(call, partner_id: str, key_id: str) -> list[dict]:
    """Every partner-managing operation, as one caller: their bodies."""
    calls = [
        (CREATE_PARTNER, {"code": partner_code(), "name": "Sneaky"}),
        (ISSUE_KEY, {"partnerId": partner_id, "scopes": ["POINTS_EARN"]}),
        (ROTATE_KEY, {"id": key_id}),
        (REVOKE_KEY, {"id": key_id}),
    ]
    return [await call(PARTNERS, {})] + [
        await call(mutation, {"input": with_key(mutation, input)}) for mutation, input in calls
    ]


@pytest.mark.parametrize("caller", ["STAFF", "ANALYST", "MEMBER", "PARTNER"])
async def test_only_admins_manage_partners(client, gql, brand, make_token, staff, partner, caller):
    issued = await issue(staff, partner["id"], ALL_SCOPES)
    if caller == "PARTNER":

        async def call(query, variables):
            return await partner_gql(client, issued["secret"], query, variables)

    else:
        subject = A_MEMBER_SUBJECT if caller == "MEMBER" else "someone"
        token = make_token(brand, caller, subject)

        async def call(query, variables):
            return await gql(query, variables, token=token)

    for body in await manage_partners(call, partner["id"], issued["apiKey"]["id"]):
        assert top_level_codes(body) == ["FORBIDDEN"], body
        assert body["data"] is None, body
    (listed,) = await listed_partners(staff)
    assert [key["revokedAt"] for key in listed["apiKeys"]] == [None]
    assert (await partner_gql(client, issued["secret"], BRAND))["data"] == {
        "brand": {"code": brand.code}
    }


# --- what a key may do -------------------------------------------------------------------


async def test_a_key_makes_the_caller_a_partner_of_its_brand(client, brand, staff, partner):
    issued = await issue(staff, partner["id"], ["POINTS_EARN"])
    body = await partner_gql(client, issued["secret"], BRAND)
    assert body == {"data": {"brand": {"code": brand.code}}}
    # The brand may be named too, when it is the key's.
    response = await as_partner(client, issued["secret"], BRAND, **{"X-Brand": brand.code})
    assert response.status_code == 200, response.text


async def test_a_partner_with_members_register_registers_without_seeing_personal_data(
    client, staff, partner
):
    issued = await issue(staff, partner["id"], ["MEMBERS_REGISTER"])
    personal = {"phone": "+86 138-0013-8000", "email": "ada@example.com", "birthday": "1990-12-10"}
    body = await partner_gql(client, issued["secret"], REGISTER, registration(**personal))
    assert "errors" not in body, body
    payload = body["data"]["registerMember"]
    assert payload["userErrors"] == []
    member = payload["member"]
    assert member["displayName"] == "Ada"
    assert (member["phone"], member["email"], member["birthday"]) == (None, None, None)
    # The member was registered with their data, which the brand's staff see.
    seen = await staff.gql(MEMBER, {"id": member["id"]}, token=staff.token)
    assert seen["data"]["member"] == {
        "id": member["id"],
        "displayName": "Ada",
        "phone": "+8613800138000",
        "email": "ada@example.com",
        "birthday": "1990-12-10",
    }


async def test_a_partner_without_the_scope_may_not_register(client, staff, partner):
    issued = await issue(staff, partner["id"], ["POINTS_EARN", "OFFERS_WRITE"])
    body = await partner_gql(client, issued["secret"], REGISTER, registration())
    assert top_level_codes(body) == ["FORBIDDEN"]
    assert "MEMBERS_REGISTER" in body["errors"][0]["message"]
    assert body["data"] is None


async def test_a_refused_members_message_does_not_speak_of_api_keys(
    client, gql, brand, make_token, staff, partner
):
    """Refusing a partner must not change what other callers are told afterwards."""
    issued = await issue(staff, partner["id"], ["POINTS_EARN"])
    refused = await partner_gql(client, issued["secret"], REGISTER, registration())
    assert "MEMBERS_REGISTER" in refused["errors"][0]["message"]
    member_token = make_token(brand, "MEMBER", A_MEMBER_SUBJECT)
    body = await gql(REGISTER, registration(), token=member_token)
    assert top_level_codes(body) == ["FORBIDDEN"]
    assert "API key" not in body["errors"][0]["message"], body


STAFF_ONLY = {
    "members-search": ('{ members(search: "Ada") { totalCount } }', {}),
    "member": (MEMBER, {"id": "TWVtYmVyOjE="}),
    "memberByCode": ('{ memberByCode(code: "ABCDEFGH") { id } }', {}),
    "adjustPoints": (
        """mutation ($input: AdjustPointsInput!) {
             adjustPoints(input: $input) { entry { id } userErrors { code } } }""",
        {
            "input": {
                "memberId": "TWVtYmVyOjE=",
                "points": 100,
                "reason": "goodwill",
                "idempotencyKey": "k-1",
            }
        },
    ),
    "createEarningRule": (
        """mutation ($input: EarningRuleInput!) {
             createEarningRule(input: $input) { userErrors { code } } }""",
        {
            "input": {
                "code": "partner-rule",
                "name": "Partner rule",
                "kind": "BASE_RATE",
                "rate": "1",
                "idempotencyKey": "k-2",
            }
        },
    ),
}


@pytest.mark.parametrize("operation", list(STAFF_ONLY))
async def test_a_partner_may_not_use_staff_only_fields(client, staff, partner, operation):
    issued = await issue(staff, partner["id"], ALL_SCOPES)
    query, variables = STAFF_ONLY[operation]
    body = await partner_gql(client, issued["secret"], query, variables)
    assert top_level_codes(body) == ["FORBIDDEN"], body
    # Nullable fields answer null, non-null ones null the whole data.
    assert body["data"] is None or set(body["data"].values()) == {None}, body


# --- revoking and rotating -----------------------------------------------------------------


async def test_a_revoked_key_is_refused_with_the_next_request(client, staff, partner):
    issued = await issue(staff, partner["id"], ["MEMBERS_REGISTER"])
    other = await issue(staff, partner["id"], ["MEMBERS_REGISTER"])
    secret = issued["secret"]
    assert (await as_partner(client, secret, BRAND)).status_code == 200

    payload = await revoke(staff, issued["apiKey"]["id"])
    assert payload["userErrors"] == []
    assert payload["secret"] is None
    revoked_at = payload["apiKey"]["revokedAt"]
    assert revoked_at is not None

    assert_unauthenticated(await as_partner(client, secret, BRAND))
    assert_unauthenticated(await as_partner(client, secret, REGISTER, registration()))
    # The partner's other key goes on working.
    assert (await as_partner(client, other["secret"], BRAND)).status_code == 200

    (listed,) = await listed_partners(staff)
    by_id = {key["id"]: key for key in listed["apiKeys"]}
    assert by_id[issued["apiKey"]["id"]]["revokedAt"] == revoked_at
    assert by_id[other["apiKey"]["id"]]["revokedAt"] is None

    # Revoking again changes nothing.
    again = await revoke(staff, issued["apiKey"]["id"])
    assert again["userErrors"] == []
    assert again["apiKey"]["revokedAt"] == revoked_at
    assert_unauthenticated(await as_partner(client, secret, BRAND))


async def test_a_rotated_key_is_replaced_at_once_with_the_same_scopes(client, staff, partner):
    old = await issue(staff, partner["id"], ["MEMBERS_REGISTER", "POINTS_EARN"])
    assert (await as_partner(client, old["secret"], BRAND)).status_code == 200

    payload = await rotate(staff, old["apiKey"]["id"])
    assert payload["userErrors"] == []
    new = payload["apiKey"]
    shape = KEY_FORMAT.match(payload["secret"])
    assert shape is not None, payload["secret"]
    assert new["prefix"] == shape.group(1) != old["apiKey"]["prefix"]
    assert new["id"] != old["apiKey"]["id"]
    assert new["scopes"] == ["MEMBERS_REGISTER", "POINTS_EARN"]
    assert new["revokedAt"] is None

    assert_unauthenticated(await as_partner(client, old["secret"], BRAND))
    body = await partner_gql(client, payload["secret"], REGISTER, registration())
    assert body["data"]["registerMember"]["userErrors"] == [], body

    (listed,) = await listed_partners(staff)
    by_id = {key["id"]: key for key in listed["apiKeys"]}
    assert set(by_id) == {old["apiKey"]["id"], new["id"]}
    assert by_id[old["apiKey"]["id"]]["revokedAt"] is not None
    assert by_id[new["id"]] == {
        "id": new["id"],
        "prefix": new["prefix"],
        "scopes": ["MEMBERS_REGISTER", "POINTS_EARN"],
        "revokedAt": None,
    }


async def test_a_rotated_key_keeps_a_narrow_scope_set(client, staff, partner):
    old = await issue(staff, partner["id"], ["POINTS_EARN"])
    payload = await rotate(staff, old["apiKey"]["id"])
    assert payload["apiKey"]["scopes"] == ["POINTS_EARN"]
    body = await partner_gql(client, payload["secret"], REGISTER, registration())
    assert top_level_codes(body) == ["FORBIDDEN"]


@pytest.mark.parametrize("how", ["revoked", "rotated"])
async def test_a_revoked_key_cannot_be_rotated(client, staff, partner, how):
    issued = await issue(staff, partner["id"], ["POINTS_EARN"])
    if how == "revoked":
        await revoke(staff, issued["apiKey"]["id"])
    else:
        await rotate(staff, issued["apiKey"]["id"])
    keys_before = (await listed_partners(staff))[0]["apiKeys"]

    payload = await rotate(staff, issued["apiKey"]["id"])
    assert (payload["apiKey"], payload["secret"]) == (None, None)
    assert user_errors(payload) == [("CONFLICT", ["input", "id"])]
    assert (await listed_partners(staff))[0]["apiKeys"] == keys_before
    assert_unauthenticated(await as_partner(client, issued["secret"], BRAND))


@pytest.mark.parametrize("mutation", [ROTATE_KEY, REVOKE_KEY], ids=["rotate", "revoke"])
async def test_an_unknown_key_is_not_found(staff, mutation):
    payload = await staff.call(mutation, {"id": encode_id("ApiKey", 2**31 - 1)})
    assert payload["secret"] is None
    assert user_errors(payload) == [("NOT_FOUND", ["input", "id"])]


# --- isolation between brands --------------------------------------------------------------


async def test_another_brands_admin_cannot_touch_or_see_the_keys(
    client, brand, staff, other_staff, partner
):
    issued = await issue(staff, partner["id"], ["POINTS_EARN"])
    key_id = issued["apiKey"]["id"]
    for mutation in (REVOKE_KEY, ROTATE_KEY):
        payload = await other_staff.call(mutation, {"id": key_id})
        assert (payload["apiKey"], payload["secret"]) == (None, None)
        assert user_errors(payload) == [("NOT_FOUND", ["input", "id"])]
    payload = await other_staff.call(
        ISSUE_KEY, {"partnerId": partner["id"], "scopes": ["POINTS_EARN"]}
    )
    assert (payload["apiKey"], payload["secret"]) == (None, None)
    assert user_errors(payload) == [("NOT_FOUND", ["input", "partnerId"])]

    assert await listed_partners(other_staff) == []
    (listed,) = await listed_partners(staff)
    assert [key["revokedAt"] for key in listed["apiKeys"]] == [None]
    assert (await partner_gql(client, issued["secret"], BRAND))["data"] == {
        "brand": {"code": brand.code}
    }


async def test_a_key_sent_with_another_brand_is_refused(client, staff, other_staff, partner):
    issued = await issue(staff, partner["id"], ["POINTS_EARN"])
    other_code = (await other_staff.gql(BRAND, token=other_staff.token))["data"]["brand"]["code"]
    assert_unauthenticated(
        await as_partner(client, issued["secret"], BRAND, **{"X-Brand": other_code})
    )
    assert_unauthenticated(
        await as_partner(client, issued["secret"], BRAND, **{"X-Brand": "no-such-brand"})
    )


def malformed_keys(secret: str) -> dict[str, str]:
    prefix, tail = KEY_FORMAT.match(secret).groups()
    flipped = ("A" if tail[0] != "A" else "B") + tail[1:]
    return {
        "garbage": "not-a-key",
        "bearer-like": f"Bearer {secret}",
        "no-scheme": secret[3:],
        "short-tail": secret[:-1],
        "long-tail": secret + "x",
        "upper-prefix": f"pm_{prefix.upper()}_{tail}",
        "tampered-tail": f"pm_{prefix}_{flipped}",
        "unknown-prefix": f"pm_{'a' * 12 if prefix != 'a' * 12 else 'b' * 12}_{tail}",
        "well-formed-unknown": "pm_abcdefghijkl_" + "A" * 43,
    }


@pytest.mark.parametrize(
    "case",
    [
        "garbage",
        "bearer-like",
        "no-scheme",
        "short-tail",
        "long-tail",
        "upper-prefix",
        "tampered-tail",
        "unknown-prefix",
        "well-formed-unknown",
    ],
)
async def test_a_malformed_or_wrong_key_is_refused(client, staff, partner, case):
    issued = await issue(staff, partner["id"], ALL_SCOPES)
    assert_unauthenticated(await as_partner(client, malformed_keys(issued["secret"])[case], BRAND))
    # The real key still works: nothing above touched it.
    assert (await as_partner(client, issued["secret"], BRAND)).status_code == 200


# --- idempotency ---------------------------------------------------------------------------


async def test_a_partners_registration_replays_across_a_rotation(
    client, staff, partner, other_staff
):
    first = await issue(staff, partner["id"], ["MEMBERS_REGISTER"])
    variables = registration(displayName="Grace")
    body = await partner_gql(client, first["secret"], REGISTER, variables)
    member = body["data"]["registerMember"]["member"]
    assert member is not None, body

    rotated = await rotate(staff, first["apiKey"]["id"])
    again = await partner_gql(client, rotated["secret"], REGISTER, variables)
    assert again["data"]["registerMember"] == {"member": member, "userErrors": []}

    # Another key of the same partner is the same caller too.
    sibling = await issue(staff, partner["id"], ["MEMBERS_REGISTER"])
    third = await partner_gql(client, sibling["secret"], REGISTER, variables)
    assert third["data"]["registerMember"]["member"]["id"] == member["id"]

    # Another partner with the same idempotency key is another caller: a member of its own.
    other_partner = await create_partner(staff)
    stranger = await issue(staff, other_partner["id"], ["MEMBERS_REGISTER"])
    theirs = await partner_gql(client, stranger["secret"], REGISTER, variables)
    assert theirs["data"]["registerMember"]["member"]["id"] != member["id"]


# --- rate limits -------------------------------------------------------------------------


async def test_a_key_past_its_burst_is_rate_limited_until_its_bucket_refills(
    client, brand, staff, partner, authenticator
):
    limited = await issue(staff, partner["id"], ["POINTS_EARN"])
    bystander = await issue(staff, partner["id"], ["POINTS_EARN"])
    saved = (authenticator.partner_rate_per_second, authenticator.partner_burst)
    authenticator.partner_rate_per_second, authenticator.partner_burst = 1.0, 3
    try:
        statuses, refusals = [], []
        for _ in range(6):
            response = await as_partner(client, limited["secret"], BRAND)
            statuses.append(response.status_code)
            if response.status_code == 429:
                refusals.append(response)
        assert statuses[:3] == [200, 200, 200], statuses
        assert refusals, statuses

        for refused in refusals:
            (error,) = refused.json()["errors"]
            assert error["extensions"]["code"] == "RATE_LIMITED", error
            retry_after = error["extensions"]["retryAfter"]
            assert 0 < retry_after <= 1.0, error
            header = int(refused.headers["retry-after"])
            assert header >= 1 and header >= retry_after, refused.headers

        # Another key's bucket is its own.
        assert (await as_partner(client, bystander["secret"], BRAND)).status_code == 200

        # Once the key has waited what it was last told, it is served again.
        await asyncio.sleep(retry_after + 0.05)
        response = await as_partner(client, limited["secret"], BRAND)
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {"brand": {"code": brand.code}}}
    finally:
        authenticator.partner_rate_per_second, authenticator.partner_burst = saved
