"""Earning rules as admins edit them over GraphQL: created per kind, checked field by field,
replaced, archived, listed and filtered; the brand's earn settings; who may do what."""

from __future__ import annotations

from datetime import datetime

import pytest

from domain.brands import ensure_store
from tests.support.factories import with_key

RULE_FIELDS = """
  id code name kind priority rate rounding multiplier category threshold points
  referrerPoints referrerMonthlyCap taskCode dailyLimit lifetimeLimit startsAt endsAt
  weekdays storeCodes tierCodes capPoints expiryDays archivedAt createdAt updatedAt
"""
CREATE = f"""
mutation ($input: EarningRuleInput!) {{
  createEarningRule(input: $input) {{
    rule {{ {RULE_FIELDS} }}
    userErrors {{ field code message }}
  }}
}}
"""
UPDATE = f"""
mutation ($input: UpdateEarningRuleInput!) {{
  updateEarningRule(input: $input) {{
    rule {{ {RULE_FIELDS} }}
    userErrors {{ field code message }}
  }}
}}
"""
ARCHIVE = f"""
mutation ($input: ArchiveEarningRuleInput!) {{
  archiveEarningRule(input: $input) {{
    rule {{ {RULE_FIELDS} }}
    userErrors {{ field code message }}
  }}
}}
"""
RULES = f"""
query ($kind: EarningRuleKind, $includeArchived: Boolean! = false, $activeAt: DateTime) {{
  earningRules(kind: $kind, includeArchived: $includeArchived, activeAt: $activeAt) {{
    {RULE_FIELDS}
  }}
}}
"""
SAVE_SETTINGS = """
mutation ($input: EarnSettingsInput!) {
  saveEarnSettings(input: $input) {
    brand { code earnCapPerPurchase earnCapPerDay purchaseMaxAgeDays }
    userErrors { field code message }
  }
}
"""
BRAND_SETTINGS = "{ brand { code earnCapPerPurchase earnCapPerDay purchaseMaxAgeDays } }"
NODE = """
query ($id: ID!) {
  node(id: $id) { __typename id ... on EarningRule { code kind rate } }
}
"""

DATETIME_FIELDS = ("startsAt", "endsAt", "archivedAt", "createdAt", "updatedAt")
# What a rule reads as when only its kind's fields are given.
UNSET = {
    "priority": 0,
    "rate": None,
    "rounding": "DOWN",
    "multiplier": None,
    "category": None,
    "threshold": None,
    "points": None,
    "referrerPoints": None,
    "referrerMonthlyCap": None,
    "taskCode": None,
    "dailyLimit": None,
    "lifetimeLimit": None,
    "startsAt": None,
    "endsAt": None,
    "weekdays": [],
    "storeCodes": [],
    "tierCodes": [],
    "capPoints": None,
    "expiryDays": None,
    "archivedAt": None,
}
JAN = {"startsAt": "2030-01-01T00:00:00+00:00", "endsAt": "2030-02-01T00:00:00+00:00"}


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def comparable(rule: dict) -> dict:
    """The rule with its date-times as instants: the same moment may come in another offset."""
    return {
        name: moment(value) if name in DATETIME_FIELDS else value for name, value in rule.items()
    }


def without_stamps(rule: dict) -> dict:
    return {
        name: value
        for name, value in comparable(rule).items()
        if name not in ("id", "createdAt", "updatedAt")
    }


def errors_of(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


def error_codes(body: dict) -> list[str]:
    return [error["extensions"]["code"] for error in body["errors"]]


async def mutate(gql, document: str, input: dict, token: str) -> dict:
    body = await gql(document, {"input": with_key(document, input)}, token=token)
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    return payload


async def create(gql, token: str, kind: str, **fields) -> dict:
    rule = {"code": fields.pop("code", "R1"), "name": fields.pop("name", "Rule"), "kind": kind}
    return await mutate(gql, CREATE, {**rule, **fields}, token)


async def created(gql, token: str, kind: str, **fields) -> dict:
    payload = await create(gql, token, kind, **fields)
    assert payload["userErrors"] == [], payload
    return payload["rule"]


async def update(gql, token: str, rule: dict, **fields) -> dict:
    settings = {"id": rule["id"], "code": rule["code"], "name": rule["name"], "kind": rule["kind"]}
    return await mutate(gql, UPDATE, {**settings, **fields}, token)


async def archive(gql, token: str, rule_id: str) -> dict:
    return await mutate(gql, ARCHIVE, {"id": rule_id}, token)


async def listed(gql, token: str, **arguments) -> list[dict]:
    body = await gql(RULES, arguments, token=token)
    assert "errors" not in body, body
    return body["data"]["earningRules"]


async def codes_listed(gql, token: str, **arguments) -> list[str]:
    return [rule["code"] for rule in await listed(gql, token, **arguments)]


async def every_rule(gql, token: str) -> list[dict]:
    """All the brand's rules, archived too, as they are stored."""
    return [comparable(rule) for rule in await listed(gql, token, includeArchived=True)]


@pytest.fixture
def admin(brand, make_token) -> str:
    return make_token(brand, "ADMIN", "admin-1")


# --- creating each kind ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fields", "expected"),
    [
        ("BASE_RATE", {"rate": "2.5"}, {"rate": "2.50"}),
        (
            "CATEGORY_MULTIPLIER",
            {"category": "shoes", "multiplier": "3"},
            {"category": "shoes", "multiplier": "3.00"},
        ),
        (
            "THRESHOLD_BONUS",
            {"threshold": "200", "points": 50},
            {"threshold": "200.00", "points": 50},
        ),
        ("CAMPAIGN", {**JAN, "multiplier": "2"}, {**JAN, "multiplier": "2.00"}),
        ("CAMPAIGN", {**JAN, "points": 30}, {**JAN, "points": 30}),
        ("REGISTRATION_BONUS", {"points": 100}, {"points": 100}),
        ("FIRST_PURCHASE_BONUS", {"points": 20}, {"points": 20}),
        ("BIRTHDAY_BONUS", {"points": 88}, {"points": 88}),
        (
            "REFERRAL_BONUS",
            {"points": 30, "referrerPoints": 60},
            {"points": 30, "referrerPoints": 60},
        ),
        ("TASK", {"taskCode": "SHARE_APP", "points": 5}, {"taskCode": "SHARE_APP", "points": 5}),
    ],
    ids=[
        "base-rate",
        "category-multiplier",
        "threshold-bonus",
        "campaign-multiplier",
        "campaign-points",
        "registration-bonus",
        "first-purchase-bonus",
        "birthday-bonus",
        "referral-bonus",
        "task",
    ],
)
async def test_each_kind_is_created_with_its_minimal_fields(gql, admin, kind, fields, expected):
    payload = await create(gql, admin, kind, code="NEW-1", name="  New rule ", **fields)
    assert payload["userErrors"] == []
    rule = payload["rule"]
    assert without_stamps(rule) == comparable(
        {**UNSET, "code": "NEW-1", "name": "New rule", "kind": kind, **expected}
    )
    assert moment(rule["createdAt"]) == moment(rule["updatedAt"])

    of_kind = await listed(gql, admin, kind=kind)
    if kind == "BASE_RATE":  # the brand's own base rate comes first: same priority, older
        assert [r["code"] for r in of_kind] == ["BASE", "NEW-1"]
        of_kind = of_kind[1:]
    assert [comparable(r) for r in of_kind] == [comparable(rule)]
    assert sorted(await codes_listed(gql, admin)) == ["BASE", "NEW-1"]


async def test_every_new_brand_has_a_base_rate_of_one(gql, brand, admin):
    (base,) = await listed(gql, admin)
    assert without_stamps(base) == comparable(
        {**UNSET, "code": "BASE", "name": "Base rate", "kind": "BASE_RATE", "rate": "1.00"}
    )


async def test_optional_fields_are_kept_and_normalized(gql, brand, admin):
    await ensure_store(brand, "SH-02", "Shanghai Two")
    await ensure_store(brand, "SH-01", "Shanghai One")
    rule = await created(
        gql,
        admin,
        "CAMPAIGN",
        code=" double-days ",
        priority=7,
        multiplier="1.5",
        rounding="UP",
        startsAt="2030-01-01T08:00:00+08:00",
        endsAt="2030-01-08T08:00:00+08:00",
        weekdays=[7, 6, 6],
        storeCodes=["SH-02", "SH-01"],
        tierCodes=["base"],
        capPoints=500,
        expiryDays=90,
    )
    assert rule["code"] == "DOUBLE-DAYS"
    assert rule["priority"] == 7
    assert rule["rounding"] == "UP"
    assert rule["weekdays"] == [6, 7]
    assert rule["storeCodes"] == ["SH-01", "SH-02"]
    assert rule["tierCodes"] == ["BASE"]
    assert (rule["capPoints"], rule["expiryDays"]) == (500, 90)
    assert moment(rule["startsAt"]) == moment("2030-01-01T00:00:00+00:00")
    (stored,) = await listed(gql, admin, kind="CAMPAIGN")
    assert comparable(stored) == comparable(rule)


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("BASE_RATE", {"rate": "0"}),
        ("BASE_RATE", {"rate": "1000"}),
        ("BASE_RATE", {"rate": "1", "code": "C" * 40, "name": "N" * 120}),
        ("BASE_RATE", {"rate": "1", "priority": -1000, "capPoints": 0, "expiryDays": 3650}),
        ("BASE_RATE", {"rate": "1", "priority": 1000, "weekdays": [1, 2, 3, 4, 5, 6, 7]}),
        ("CATEGORY_MULTIPLIER", {"category": "c" * 64, "multiplier": "100"}),
        ("CATEGORY_MULTIPLIER", {"category": "shoes", "multiplier": "1"}),
        ("CAMPAIGN", {**JAN, "multiplier": "1"}),
        ("THRESHOLD_BONUS", {"threshold": "0.01", "points": 1_000_000}),
        ("REFERRAL_BONUS", {"points": 1, "referrerPoints": 0, "referrerMonthlyCap": 0}),
        ("TASK", {"taskCode": "T" * 40, "points": 1, "dailyLimit": 1000, "lifetimeLimit": 1}),
    ],
)
async def test_values_at_their_bounds_are_accepted(gql, admin, kind, fields):
    rule = await created(gql, admin, kind, code=fields.pop("code", "EDGE"), **fields)
    assert rule["kind"] == kind
    assert rule["code"] in await codes_listed(gql, admin, kind=kind)


async def test_a_task_code_is_upper_cased(gql, admin):
    rule = await created(gql, admin, "TASK", taskCode="share_app", points=5, dailyLimit=2)
    assert (rule["taskCode"], rule["dailyLimit"], rule["lifetimeLimit"]) == ("SHARE_APP", 2, None)


# --- refusals ------------------------------------------------------------------------------------


def invalid(field: str) -> list[tuple[str, list[str]]]:
    return [("INVALID_INPUT", ["input", field])]


@pytest.mark.parametrize(
    ("kind", "fields", "expected"),
    [
        ("BASE_RATE", {"rate": "-1"}, invalid("rate")),
        ("BASE_RATE", {"rate": "1000.01"}, invalid("rate")),
        ("CATEGORY_MULTIPLIER", {"category": "shoes", "multiplier": "0"}, invalid("multiplier")),
        ("CATEGORY_MULTIPLIER", {"category": "shoes", "multiplier": "0.99"}, invalid("multiplier")),
        ("CAMPAIGN", {**JAN, "multiplier": "0.5"}, invalid("multiplier")),
        ("CATEGORY_MULTIPLIER", {"category": "shoes", "multiplier": "-2"}, invalid("multiplier")),
        ("CATEGORY_MULTIPLIER", {"category": " ", "multiplier": "2"}, invalid("category")),
        (
            "CAMPAIGN",
            {
                "startsAt": "2030-02-01T00:00:00+00:00",
                "endsAt": "2030-01-01T00:00:00+00:00",
                "points": 5,
            },
            invalid("endsAt"),
        ),
        (
            "CAMPAIGN",
            {
                "startsAt": "2030-01-01T08:00:00+08:00",
                "endsAt": "2030-01-01T00:00:00+00:00",
                "points": 5,
            },
            invalid("endsAt"),
        ),
        (
            "REGISTRATION_BONUS",
            {
                "points": 5,
                "startsAt": "2030-02-01T00:00:00+00:00",
                "endsAt": "2030-01-31T00:00:00+00:00",
            },
            invalid("endsAt"),
        ),
        # A needed field missing.
        ("BASE_RATE", {}, invalid("rate")),
        ("CATEGORY_MULTIPLIER", {"multiplier": "2"}, invalid("category")),
        ("CATEGORY_MULTIPLIER", {"category": "shoes"}, invalid("multiplier")),
        ("THRESHOLD_BONUS", {"points": 5}, invalid("threshold")),
        ("THRESHOLD_BONUS", {"threshold": "100"}, invalid("points")),
        ("CAMPAIGN", {"endsAt": JAN["endsAt"], "points": 5}, invalid("startsAt")),
        ("CAMPAIGN", {"startsAt": JAN["startsAt"], "points": 5}, invalid("endsAt")),
        ("REGISTRATION_BONUS", {}, invalid("points")),
        ("FIRST_PURCHASE_BONUS", {}, invalid("points")),
        ("BIRTHDAY_BONUS", {}, invalid("points")),
        ("REFERRAL_BONUS", {"points": 5}, invalid("referrerPoints")),
        ("TASK", {"points": 5}, invalid("taskCode")),
        ("TASK", {"taskCode": "SHARE"}, invalid("points")),
        # A field the kind does not have.
        ("BASE_RATE", {"rate": "1", "category": "shoes"}, invalid("category")),
        ("BASE_RATE", {"rate": "1", "points": 5}, invalid("points")),
        ("THRESHOLD_BONUS", {"threshold": "9", "points": 5, "rate": "1"}, invalid("rate")),
        ("REGISTRATION_BONUS", {"points": 5, "multiplier": "2"}, invalid("multiplier")),
        ("BIRTHDAY_BONUS", {"points": 5, "dailyLimit": 1}, invalid("dailyLimit")),
        ("TASK", {"taskCode": "T", "points": 5, "rounding": "UP"}, invalid("rounding")),
        (
            "TASK",
            {"taskCode": "T", "points": 5, "referrerMonthlyCap": 3},
            invalid("referrerMonthlyCap"),
        ),
        ("FIRST_PURCHASE_BONUS", {"points": 5, "taskCode": "T"}, invalid("taskCode")),
        # A campaign gives a multiplier or points: exactly one.
        ("CAMPAIGN", {**JAN, "multiplier": "2", "points": 5}, invalid("multiplier")),
        ("CAMPAIGN", JAN, invalid("multiplier")),
        # Values out of their range.
        ("BASE_RATE", {"rate": "1", "code": "NOT VALID"}, invalid("code")),
        ("BASE_RATE", {"rate": "1", "code": "NO!"}, invalid("code")),
        ("BASE_RATE", {"rate": "1", "code": ""}, invalid("code")),
        ("BASE_RATE", {"rate": "1", "code": "C" * 41}, invalid("code")),
        ("BASE_RATE", {"rate": "1", "name": "  "}, invalid("name")),
        ("BASE_RATE", {"rate": "1", "priority": 1001}, invalid("priority")),
        ("BASE_RATE", {"rate": "1", "weekdays": [0]}, invalid("weekdays")),
        ("BASE_RATE", {"rate": "1", "weekdays": [1, 7, 8]}, invalid("weekdays")),
        ("BASE_RATE", {"rate": "1", "capPoints": -1}, invalid("capPoints")),
        ("BASE_RATE", {"rate": "1", "expiryDays": 0}, invalid("expiryDays")),
        ("THRESHOLD_BONUS", {"threshold": "0", "points": 5}, invalid("threshold")),
        ("BASE_RATE", {"rate": "1", "name": "N" * 121}, invalid("name")),
        ("BASE_RATE", {"rate": "1", "priority": -1001}, invalid("priority")),
        ("BASE_RATE", {"rate": "1", "expiryDays": 3651}, invalid("expiryDays")),
        ("CATEGORY_MULTIPLIER", {"category": "c" * 65, "multiplier": "2"}, invalid("category")),
        (
            "CATEGORY_MULTIPLIER",
            {"category": "shoes", "multiplier": "100.01"},
            invalid("multiplier"),
        ),
        ("REGISTRATION_BONUS", {"points": 1_000_001}, invalid("points")),
        (
            "REFERRAL_BONUS",
            {"points": 5, "referrerPoints": 5, "referrerMonthlyCap": 10_001},
            invalid("referrerMonthlyCap"),
        ),
        ("TASK", {"taskCode": "T", "points": 5, "dailyLimit": 1001}, invalid("dailyLimit")),
        ("TASK", {"taskCode": "T" * 41, "points": 5}, invalid("taskCode")),
        ("REGISTRATION_BONUS", {"points": 0}, invalid("points")),
        ("REFERRAL_BONUS", {"points": 5, "referrerPoints": -1}, invalid("referrerPoints")),
        ("TASK", {"taskCode": "share app!", "points": 5}, invalid("taskCode")),
        ("TASK", {"taskCode": "T", "points": 5, "dailyLimit": 0}, invalid("dailyLimit")),
        ("TASK", {"taskCode": "T", "points": 5, "lifetimeLimit": 0}, invalid("lifetimeLimit")),
    ],
)
async def test_a_bad_rule_is_refused_by_field_and_nothing_is_written(
    gql, admin, kind, fields, expected
):
    before = await every_rule(gql, admin)
    payload = await create(gql, admin, kind, **fields)
    assert errors_of(payload) == expected
    assert payload["rule"] is None
    assert await every_rule(gql, admin) == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"storeCodes": ["NOWHERE"]}, "storeCodes"),
        ({"storeCodes": ["SH-01", "NOWHERE"]}, "storeCodes"),
        ({"storeCodes": ["ELSEWHERE"]}, "storeCodes"),  # another brand's store
        ({"tierCodes": ["GOLD"]}, "tierCodes"),
        ({"tierCodes": ["BASE", "PLATINUM"]}, "tierCodes"),
    ],
)
async def test_unknown_stores_and_tiers_are_not_found(
    gql, brand, other_brand, admin, fields, field
):
    await ensure_store(brand, "SH-01", "Shanghai One")
    await ensure_store(other_brand, "ELSEWHERE", "Another brand's store")
    before = await every_rule(gql, admin)
    payload = await create(gql, admin, "BASE_RATE", rate="2", **fields)
    assert errors_of(payload) == [("NOT_FOUND", ["input", field])]
    assert payload["rule"] is None
    assert await every_rule(gql, admin) == before


@pytest.mark.parametrize("code", ["BASE", " base ", "DUP"])
async def test_a_code_already_used_is_a_duplicate(gql, admin, code):
    await created(gql, admin, "REGISTRATION_BONUS", code="DUP", points=5)
    before = await every_rule(gql, admin)
    payload = await create(gql, admin, "BIRTHDAY_BONUS", code=code, points=9)
    assert errors_of(payload) == [("DUPLICATE", ["input", "code"])]
    assert payload["rule"] is None
    assert await every_rule(gql, admin) == before


async def test_the_same_code_in_another_brand_is_no_duplicate(gql, admin, other_brand, make_token):
    other_admin = make_token(other_brand, "ADMIN", "admin-2")
    await created(gql, admin, "REGISTRATION_BONUS", code="WELCOME", points=5)
    rule = await created(gql, other_admin, "REGISTRATION_BONUS", code="WELCOME", points=7)
    assert rule["points"] == 7
    assert await codes_listed(gql, admin, kind="REGISTRATION_BONUS") == ["WELCOME"]


NAMED_X = {"code": "X", "name": "X", "idempotencyKey": "x-1"}


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (CREATE, {"input": {**NAMED_X, "kind": "BONUS_POINTS", "points": 5}}),
        (CREATE, {"input": {**NAMED_X, "kind": "base_rate", "rate": "1"}}),
        (
            'mutation { createEarningRule(input: {code: "X", name: "X", kind: BONUS_POINTS, '
            'points: 5, idempotencyKey: "x-1"}) { rule { id } userErrors { code } } }',
            {},
        ),
        (RULES, {"kind": "BONUS_POINTS"}),
    ],
    ids=["variable", "lower-case-variable", "literal", "list-filter"],
)
async def test_an_unknown_kind_is_a_clean_bad_request(gql, admin, document, variables):
    before = await every_rule(gql, admin)
    body = await gql(document, variables, token=admin)
    assert body.get("data") is None
    assert error_codes(body) == ["BAD_REQUEST"]
    assert await every_rule(gql, admin) == before


# --- updates -----------------------------------------------------------------------------------


async def test_an_update_replaces_every_setting(gql, brand, admin):
    await ensure_store(brand, "SH-01", "Shanghai One")
    rule = await created(
        gql,
        admin,
        "CAMPAIGN",
        code="SPRING",
        name="Spring",
        multiplier="2",
        rounding="UP",
        weekdays=[6, 7],
        storeCodes=["SH-01"],
        capPoints=100,
        **JAN,
    )
    payload = await update(
        gql,
        admin,
        rule,
        code="SPRING-2030",
        name="Spring, flat",
        priority=3,
        points=40,
        startsAt="2030-03-01T00:00:00+08:00",
        endsAt="2030-04-01T00:00:00+08:00",
    )
    assert payload["userErrors"] == []
    changed = payload["rule"]
    assert without_stamps(changed) == comparable(
        {
            **UNSET,
            "code": "SPRING-2030",
            "name": "Spring, flat",
            "kind": "CAMPAIGN",
            "priority": 3,
            "points": 40,
            "startsAt": "2030-03-01T00:00:00+08:00",
            "endsAt": "2030-04-01T00:00:00+08:00",
        }
    )
    assert changed["id"] == rule["id"]
    assert moment(changed["createdAt"]) == moment(rule["createdAt"])
    assert moment(changed["updatedAt"]) >= moment(rule["updatedAt"])
    (stored,) = await listed(gql, admin, kind="CAMPAIGN")
    assert comparable(stored) == comparable(changed)


async def test_the_base_rate_can_be_changed(gql, admin):
    (base,) = await listed(gql, admin)
    payload = await update(gql, admin, base, rate="1.5", rounding="NEAREST")
    assert payload["userErrors"] == []
    (stored,) = await listed(gql, admin)
    assert (stored["id"], stored["rate"], stored["rounding"]) == (base["id"], "1.50", "NEAREST")


async def test_a_rule_keeps_its_kind(gql, admin):
    rule = await created(gql, admin, "REGISTRATION_BONUS", code="WELCOME", points=5)
    before = await every_rule(gql, admin)
    payload = await update(gql, admin, rule, kind="BIRTHDAY_BONUS", points=9)
    assert errors_of(payload) == invalid("kind")
    assert payload["rule"] is None
    assert await every_rule(gql, admin) == before


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"points": 0}, invalid("points")),
        ({"points": None}, invalid("points")),
        ({"points": 5, "rate": "1"}, invalid("rate")),
        ({"points": 5, "code": "BAD CODE"}, invalid("code")),
        ({"points": 5, "tierCodes": ["GOLD"]}, [("NOT_FOUND", ["input", "tierCodes"])]),
        ({"points": 5, "code": "BASE"}, [("DUPLICATE", ["input", "code"])]),
    ],
)
async def test_a_bad_update_is_refused_by_field_and_changes_nothing(gql, admin, fields, expected):
    rule = await created(gql, admin, "REGISTRATION_BONUS", code="WELCOME", points=5)
    before = await every_rule(gql, admin)
    payload = await update(gql, admin, rule, **fields)
    assert errors_of(payload) == expected
    assert payload["rule"] is None
    assert await every_rule(gql, admin) == before


async def test_an_archived_rule_cannot_change(gql, admin):
    rule = await created(gql, admin, "REGISTRATION_BONUS", code="WELCOME", points=5)
    assert (await archive(gql, admin, rule["id"]))["userErrors"] == []
    before = await every_rule(gql, admin)
    payload = await update(gql, admin, rule, points=50)
    assert errors_of(payload) == [("CONFLICT", ["input", "id"])]
    assert payload["rule"] is None
    assert await every_rule(gql, admin) == before


async def test_another_brands_rule_is_not_found(gql, admin, other_brand, make_token):
    other_admin = make_token(other_brand, "ADMIN", "admin-2")
    theirs = await created(gql, other_admin, "REGISTRATION_BONUS", code="WELCOME", points=5)
    theirs_before = await every_rule(gql, other_admin)
    ours_before = await every_rule(gql, admin)

    updated = await update(gql, admin, theirs, points=500)
    assert errors_of(updated) == [("NOT_FOUND", ["input", "id"])]
    assert updated["rule"] is None
    archived = await archive(gql, admin, theirs["id"])
    assert errors_of(archived) == [("NOT_FOUND", ["input", "id"])]
    assert archived["rule"] is None

    assert await every_rule(gql, other_admin) == theirs_before
    assert await every_rule(gql, admin) == ours_before


async def test_an_id_of_no_rule_is_refused(gql, brand, admin):
    (base,) = await listed(gql, admin)
    for rule_id in ("not-an-id", "VGllcjox"):  # garbage; a Tier's id ("Tier:1")
        payload = await update(gql, admin, {**base, "id": rule_id}, rate="3")
        assert [code for code, _field in errors_of(payload)] == ["INVALID_INPUT"]
        payload = await archive(gql, admin, rule_id)
        assert [code for code, _field in errors_of(payload)] == ["INVALID_INPUT"]
    assert (await listed(gql, admin))[0]["rate"] == "1.00"


# --- archiving and listing -----------------------------------------------------------------------


async def test_an_archived_rule_is_listed_only_when_asked_for(gql, admin):
    rule = await created(gql, admin, "REGISTRATION_BONUS", code="WELCOME", points=5)
    payload = await archive(gql, admin, rule["id"])
    assert payload["userErrors"] == []
    archived = payload["rule"]
    assert archived["id"] == rule["id"]
    assert archived["archivedAt"] is not None
    assert moment(archived["archivedAt"]) >= moment(rule["createdAt"])

    assert await codes_listed(gql, admin) == ["BASE"]
    assert await codes_listed(gql, admin, kind="REGISTRATION_BONUS") == []
    with_archived = await listed(gql, admin, includeArchived=True)
    assert sorted(r["code"] for r in with_archived) == ["BASE", "WELCOME"]
    (stored,) = [r for r in with_archived if r["code"] == "WELCOME"]
    assert comparable(stored) == comparable(archived)

    again = await archive(gql, admin, rule["id"])  # archiving twice changes nothing
    assert again["userErrors"] == []
    assert comparable(again["rule"]) == comparable(archived)


async def test_active_at_keeps_the_rules_whose_window_holds(gql, admin):
    await created(gql, admin, "CAMPAIGN", code="JAN", points=5, **JAN)
    await created(
        gql,
        admin,
        "CAMPAIGN",
        code="MAR",
        multiplier="2",
        startsAt="2030-03-01T00:00:00+08:00",
        endsAt="2030-04-01T00:00:00+08:00",
    )
    await created(
        gql, admin, "REGISTRATION_BONUS", code="LATE", points=5, startsAt="2030-02-15T00:00:00Z"
    )
    await created(gql, admin, "BIRTHDAY_BONUS", code="EARLY", points=5, endsAt="2030-01-10T00:00Z")
    expected = {
        None: ["BASE", "EARLY", "JAN", "LATE", "MAR"],
        "2029-12-31T23:59:59+00:00": ["BASE", "EARLY"],
        "2030-01-01T00:00:00+00:00": ["BASE", "EARLY", "JAN"],  # a window's start is inside it
        "2030-01-01T07:00:00+08:00": ["BASE", "EARLY"],  # the same day, before it starts in UTC
        "2030-01-15T12:00:00+08:00": ["BASE", "JAN"],
        "2030-01-31T23:30:00-01:00": ["BASE"],  # 00:30 UTC on Feb 1: JAN has ended
        "2030-02-01T00:00:00+00:00": ["BASE"],  # a window's end is outside it
        "2030-02-28T16:00:00+00:00": ["BASE", "LATE", "MAR"],  # midnight in Shanghai
        "2030-04-01T00:00:00+00:00": ["BASE", "LATE"],
    }
    for active_at, codes in expected.items():
        arguments = {} if active_at is None else {"activeAt": active_at}
        assert sorted(await codes_listed(gql, admin, **arguments)) == codes, active_at


async def test_active_at_leaves_archived_rules_out_unless_asked(gql, admin):
    rule = await created(gql, admin, "CAMPAIGN", code="JAN", points=5, **JAN)
    await archive(gql, admin, rule["id"])
    during = "2030-01-15T00:00:00+00:00"
    assert await codes_listed(gql, admin, activeAt=during) == ["BASE"]
    shown = await codes_listed(gql, admin, activeAt=during, includeArchived=True)
    assert sorted(shown) == ["BASE", "JAN"]


async def test_the_kind_filter_and_priority_order(gql, admin):
    await created(gql, admin, "BASE_RATE", code="HIGH", rate="2", priority=5)
    await created(gql, admin, "BASE_RATE", code="LOW", rate="3", priority=-5)
    await created(gql, admin, "CAMPAIGN", code="JAN", points=5, **JAN)
    await created(gql, admin, "TASK", code="T1", taskCode="SHARE", points=1)
    assert await codes_listed(gql, admin, kind="BASE_RATE") == ["HIGH", "BASE", "LOW"]
    assert await codes_listed(gql, admin, kind="CAMPAIGN") == ["JAN"]
    assert await codes_listed(gql, admin, kind="TASK") == ["T1"]
    assert await codes_listed(gql, admin, kind="REFERRAL_BONUS") == []
    kinds = {rule["kind"] for rule in await listed(gql, admin, kind="BASE_RATE")}
    assert kinds == {"BASE_RATE"}
    assert sorted(await codes_listed(gql, admin)) == ["BASE", "HIGH", "JAN", "LOW", "T1"]


async def test_each_brand_lists_only_its_own_rules(gql, admin, other_brand, make_token):
    other_admin = make_token(other_brand, "ADMIN", "admin-2")
    await created(gql, other_admin, "TASK", code="THEIRS", taskCode="SHARE", points=1)
    await created(gql, admin, "TASK", code="OURS", taskCode="SHARE", points=1)
    assert sorted(await codes_listed(gql, admin, includeArchived=True)) == ["BASE", "OURS"]
    assert sorted(await codes_listed(gql, other_admin)) == ["BASE", "THEIRS"]


# --- permissions ---------------------------------------------------------------------------------


@pytest.fixture
async def member_token(staff, brand, make_token) -> str:
    member = await staff.register()
    return make_token(brand, "MEMBER", member["id"])


@pytest.fixture
def token_of(brand, make_token, member_token):
    def token(role: str) -> str:
        return member_token if role == "MEMBER" else make_token(brand, role, f"{role.lower()}-1")

    return token


@pytest.mark.parametrize("role", ["STAFF", "ANALYST", "MEMBER"])
async def test_only_admins_edit_rules(gql, admin, token_of, role):
    (base,) = await listed(gql, admin)
    before = await every_rule(gql, admin)
    token = token_of(role)
    attempts = [
        (CREATE, {"code": "X", "name": "X", "kind": "REGISTRATION_BONUS", "points": 5}),
        (UPDATE, {"id": base["id"], "code": "BASE", "name": "B", "kind": "BASE_RATE", "rate": "9"}),
        (ARCHIVE, {"id": base["id"]}),
    ]
    for document, input in attempts:
        body = await gql(document, {"input": with_key(document, input)}, token=token)
        assert body["data"] is None, body
        assert error_codes(body) == ["FORBIDDEN"], document
    assert await every_rule(gql, admin) == before


@pytest.mark.parametrize("role", ["STAFF", "ANALYST", "MEMBER"])
async def test_only_admins_save_earn_settings(gql, brand, admin, token_of, role):
    before = await gql(BRAND_SETTINGS, token=admin)
    settings = with_key(SAVE_SETTINGS, {"earnCapPerDay": 1})
    body = await gql(SAVE_SETTINGS, {"input": settings}, token=token_of(role))
    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]
    assert await gql(BRAND_SETTINGS, token=admin) == before


@pytest.mark.parametrize("role", ["ADMIN", "STAFF", "ANALYST"])
async def test_the_brands_staff_admins_and_analysts_list_rules(gql, token_of, role):
    assert await codes_listed(gql, token_of(role)) == ["BASE"]


async def test_members_may_not_list_rules(gql, token_of):
    body = await gql(RULES, {}, token=token_of("MEMBER"))
    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (RULES, {}),
        (CREATE, {"input": {**NAMED_X, "kind": "BASE_RATE", "rate": "1"}}),
        (SAVE_SETTINGS, {"input": {"earnCapPerDay": 1, "idempotencyKey": "x-2"}}),
    ],
    ids=["list", "create", "settings"],
)
@pytest.mark.parametrize("visitor", [True, False], ids=["x-brand", "no-credentials"])
async def test_anonymous_callers_must_sign_in(gql, brand, admin, document, variables, visitor):
    before = await every_rule(gql, admin)
    body = await gql(document, variables, brand=brand.code if visitor else None)
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert await every_rule(gql, admin) == before


# --- the brand's earn settings -------------------------------------------------------------------


async def test_earn_settings_are_set_returned_and_cleared(gql, brand, admin):
    settings = await gql(BRAND_SETTINGS, token=admin)
    assert settings["data"]["brand"] == {
        "code": brand.code,
        "earnCapPerPurchase": None,
        "earnCapPerDay": None,
        "purchaseMaxAgeDays": 30,
    }
    input = {"earnCapPerPurchase": 500, "earnCapPerDay": 2000, "purchaseMaxAgeDays": 7}
    payload = await mutate(gql, SAVE_SETTINGS, input, admin)
    assert payload == {"brand": {"code": brand.code, **input}, "userErrors": []}
    assert (await gql(BRAND_SETTINGS, token=admin))["data"]["brand"] == payload["brand"]

    cleared = await mutate(gql, SAVE_SETTINGS, {}, admin)  # null caps: none; 30 days again
    expected = {
        "code": brand.code,
        "earnCapPerPurchase": None,
        "earnCapPerDay": None,
        "purchaseMaxAgeDays": 30,
    }
    assert cleared == {"brand": expected, "userErrors": []}
    assert (await gql(BRAND_SETTINGS, brand=brand.code))["data"]["brand"] == expected


@pytest.mark.parametrize(
    "input",
    [
        {"earnCapPerPurchase": 0, "earnCapPerDay": 0, "purchaseMaxAgeDays": 1},
        {"earnCapPerPurchase": 100_000_000, "earnCapPerDay": 1, "purchaseMaxAgeDays": 365},
    ],
)
async def test_earn_settings_at_their_bounds_are_kept(gql, brand, admin, input):
    payload = await mutate(gql, SAVE_SETTINGS, input, admin)
    assert payload == {"brand": {"code": brand.code, **input}, "userErrors": []}


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"earnCapPerPurchase": -1}, "earnCapPerPurchase"),
        ({"earnCapPerDay": -1}, "earnCapPerDay"),
        ({"earnCapPerDay": 100_000_001}, "earnCapPerDay"),
        ({"purchaseMaxAgeDays": 0}, "purchaseMaxAgeDays"),
        ({"purchaseMaxAgeDays": -3}, "purchaseMaxAgeDays"),
        ({"purchaseMaxAgeDays": 366}, "purchaseMaxAgeDays"),
        ({"earnCapPerPurchase": 10, "earnCapPerDay": 20, "purchaseMaxAgeDays": 0}, None),
    ],
)
async def test_bad_earn_settings_are_refused_by_field(gql, brand, admin, input, field):
    await mutate(gql, SAVE_SETTINGS, {"earnCapPerPurchase": 50, "purchaseMaxAgeDays": 10}, admin)
    before = await gql(BRAND_SETTINGS, token=admin)
    payload = await mutate(gql, SAVE_SETTINGS, input, admin)
    assert errors_of(payload) == invalid(field or "purchaseMaxAgeDays")
    assert payload["brand"] is None
    assert await gql(BRAND_SETTINGS, token=admin) == before


async def test_earn_settings_are_the_callers_brand_only(gql, admin, other_brand, make_token):
    await mutate(gql, SAVE_SETTINGS, {"earnCapPerDay": 77}, admin)
    theirs = await gql(BRAND_SETTINGS, token=make_token(other_brand, "ADMIN", "admin-2"))
    assert theirs["data"]["brand"]["earnCapPerDay"] is None


# --- node(id:) -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["ADMIN", "STAFF", "ANALYST"])
async def test_node_shows_a_rule_to_its_brands_staff(gql, admin, token_of, role):
    rule = await created(gql, admin, "TASK", code="T1", taskCode="SHARE", points=1)
    body = await gql(NODE, {"id": rule["id"]}, token=token_of(role))
    shown = {"__typename": "EarningRule", "id": rule["id"], "code": "T1", "kind": "TASK"}
    assert body == {"data": {"node": {**shown, "rate": None}}}


async def test_node_hides_a_rule_from_members_visitors_and_other_brands(
    gql, brand, admin, token_of, other_brand, make_token
):
    (base,) = await listed(gql, admin)
    callers = {
        "member": {"token": token_of("MEMBER")},
        "visitor": {"brand": brand.code},
        "other admin": {"token": make_token(other_brand, "ADMIN", "admin-2")},
        "other analyst": {"token": make_token(other_brand, "ANALYST", "analyst-2")},
    }
    for who, credentials in callers.items():
        body = await gql(NODE, {"id": base["id"]}, **credentials)
        assert body == {"data": {"node": None}}, who
    # The base rule is shown to its own brand's admin, so null above is visibility.
    assert (await gql(NODE, {"id": base["id"]}, token=admin))["data"]["node"]["code"] == "BASE"
