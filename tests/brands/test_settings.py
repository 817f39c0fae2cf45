"""updateBrandSettings and `brand { settings }`: the brand's admin reads and changes its
settings, only those given, each checked with the field it concerns; once per idempotency key;
in the audit trail; and every process applies them to the very next operation."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from domain.brands import BrandDirectory, create_brand
from tests.support.factories import key, unique_code
from tests.support.live import admin_of

ALL_SETTINGS = """
fragment AllSettings on BrandSettings {
  name timezone locale currency pointValue expiryPolicy expiryMonths clearingMonth clearingDay
  graceDays tierWindowMonths earnCapPerPurchase earnCapPerDay purchaseMaxAgeDays
  paymentWindowMinutes cancelWindowHours quietHoursStart quietHoursEnd expiryReminderDays
  birthdayMinAgeDays pendingDays
}
"""
READ = "{ brand { settings { ...AllSettings } } }" + ALL_SETTINGS
UPDATE = (
    """
mutation ($input: UpdateBrandSettingsInput!) {
  updateBrandSettings(input: $input) {
    settings { ...AllSettings }
    userErrors { field message code }
  }
}
"""
    + ALL_SETTINGS
)
TRAIL = """
query ($operation: String) {
  auditTrail(operation: $operation, first: 20) {
    edges { node { actor operation targets input } }
  }
}
"""
BRAND_ID = "{ brand { id } }"
NOTICE_SETTINGS = "{ noticeSettings { locale quietHoursStart quietHoursEnd expiryReminderDays } }"
PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    entry { points expiresAt breakdown { rule points } }
    userErrors { field message code }
  }
}
"""

DEFAULTS = {
    "name": "Test Brand", "timezone": "Asia/Shanghai", "locale": "zh-CN", "currency": "CNY",
    "pointValue": "0.01", "expiryPolicy": "ROLLING", "expiryMonths": 24, "clearingMonth": 12,
    "clearingDay": 31, "graceDays": 30, "tierWindowMonths": 12, "earnCapPerPurchase": None,
    "earnCapPerDay": None, "purchaseMaxAgeDays": 30, "paymentWindowMinutes": 30,
    "cancelWindowHours": 24, "quietHoursStart": "21:00", "quietHoursEnd": "09:00",
    "expiryReminderDays": [30, 7], "birthdayMinAgeDays": 30, "pendingDays": 0,
}  # fmt: skip


async def read_settings(gql, token: str) -> dict:
    body = await gql(READ, token=token)
    assert "errors" not in body, body
    return body["data"]["brand"]["settings"]


async def update(gql, token: str, **given) -> dict:
    body = await gql(UPDATE, {"input": {"idempotencyKey": key(), **given}}, token=token)
    assert "errors" not in body, body
    return body["data"]["updateBrandSettings"]


async def test_an_admin_reads_the_settings_of_a_new_brand(gql, brand, staff):
    assert await read_settings(gql, staff.token) == DEFAULTS


async def test_only_the_settings_given_change(gql, staff):
    changed = {
        "name": "Renamed", "timezone": "Europe/Paris", "locale": "fr", "currency": "eur",
        "pointValue": "0.25", "expiryPolicy": "FIXED_DATE", "expiryMonths": 12,
        "clearingDay": 29, "clearingMonth": 2, "graceDays": 0, "tierWindowMonths": 6,
        "earnCapPerPurchase": 500, "earnCapPerDay": 0, "purchaseMaxAgeDays": 7,
        "paymentWindowMinutes": 15, "cancelWindowHours": 0, "quietHoursStart": "22:30",
        "quietHoursEnd": "07:15", "expiryReminderDays": [7, 60, 7], "birthdayMinAgeDays": 0,
        "pendingDays": 14,
    }  # fmt: skip
    expected = dict(DEFAULTS)
    for name, value in changed.items():
        payload = await update(gql, staff.token, **{name: value})
        assert payload["userErrors"] == [], (name, payload)
        expected[name] = value
        expected["currency"] = expected["currency"].upper()
        expected["expiryReminderDays"] = sorted(set(expected["expiryReminderDays"]), reverse=True)
        assert payload["settings"] == expected, name
    assert await read_settings(gql, staff.token) == expected
    # The notice settings are the same columns, whichever mutation set them.
    body = await gql(NOTICE_SETTINGS, token=staff.token)
    assert body["data"]["noticeSettings"] == {
        "locale": "fr", "quietHoursStart": "22:30", "quietHoursEnd": "07:15",
        "expiryReminderDays": [60, 7],
    }  # fmt: skip
    # Null clears a cap; the others stay.
    payload = await update(gql, staff.token, earnCapPerPurchase=None)
    assert payload["userErrors"] == []
    assert payload["settings"] == {**expected, "earnCapPerPurchase": None}


@pytest.mark.parametrize(
    ("given", "field", "says"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "not an IANA timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone", "not an IANA timezone"),
        ({"clearingMonth": 2, "clearingDay": 31}, "clearingDay", "February has no day 31"),
        ({"clearingMonth": 4}, "clearingMonth", "April has no day 31"),  # the day stays 31
        ({"clearingDay": 0}, "clearingDay", "From 1 to 31"),
        ({"clearingMonth": 13}, "clearingMonth", "From 1 (January) to 12"),
        ({"currency": "XYZ"}, "currency", "not an ISO 4217 currency"),
        ({"currency": "EURO"}, "currency", "not an ISO 4217 currency"),
        ({"pointValue": "0.00"}, "pointValue", "From 0.01"),
        ({"expiryMonths": 0}, "expiryMonths", "From 1 to 120"),
        ({"graceDays": -1}, "graceDays", "From 0 to 365"),
        ({"tierWindowMonths": 61}, "tierWindowMonths", "From 1 to 60"),
        ({"earnCapPerDay": -5}, "earnCapPerDay", "From 0, or null"),
        ({"purchaseMaxAgeDays": 366}, "purchaseMaxAgeDays", "From 1 to 365"),
        ({"paymentWindowMinutes": 0}, "paymentWindowMinutes", "From 1 minute"),
        ({"cancelWindowHours": 721}, "cancelWindowHours", "to 720 hours"),
        ({"quietHoursStart": "25:00"}, "quietHoursStart", "HH:MM"),
        ({"locale": "not a locale!"}, "locale", "A locale such as"),
        ({"expiryReminderDays": [0]}, "expiryReminderDays", "each 1 to 365"),
        ({"birthdayMinAgeDays": 400}, "birthdayMinAgeDays", "From 0 to 366"),
        ({"pendingDays": 91}, "pendingDays", "to 90 days"),
        ({"name": "   "}, "name", "1 to 120 characters"),
        ({"name": None}, "name", "Cannot be null"),
        ({"timezone": None}, "timezone", "Cannot be null"),
        ({"expiryReminderDays": None}, "expiryReminderDays", "Cannot be null"),
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else None,
)
async def test_a_bad_setting_is_refused_with_its_field_and_nothing_changes(
    gql, staff, given, field, says
):
    payload = await update(gql, staff.token, **{"graceDays": 3, **given})  # a good one beside
    (error,) = payload["userErrors"]
    assert error["code"] == "INVALID_INPUT"
    assert error["field"] == ["input", field]
    assert says in error["message"], error["message"]
    assert payload["settings"] is None
    assert await read_settings(gql, staff.token) == DEFAULTS


async def test_nothing_given_is_refused(gql, staff):
    payload = await update(gql, staff.token)
    assert payload["userErrors"] == [
        {"field": ["input"], "message": "Give at least one setting.", "code": "INVALID_INPUT"}
    ]


async def test_a_repeated_key_changes_once_and_a_reused_one_is_a_conflict(gql, staff):
    call = {"input": {"graceDays": 9, "idempotencyKey": "settings-1"}}
    first = await gql(UPDATE, call, token=staff.token)
    await update(gql, staff.token, graceDays=10)
    again = await gql(UPDATE, call, token=staff.token)
    # The repeat answers (the settings as they are now) and changes nothing.
    assert again["data"]["updateBrandSettings"]["userErrors"] == []
    assert first["data"]["updateBrandSettings"]["settings"]["graceDays"] == 9
    assert (await read_settings(gql, staff.token))["graceDays"] == 10
    entries = await gql(TRAIL, {"operation": "updateBrandSettings"}, token=staff.token)
    assert len(entries["data"]["auditTrail"]["edges"]) == 2

    other = {"input": {"graceDays": 11, "idempotencyKey": "settings-1"}}
    payload = (await gql(UPDATE, other, token=staff.token))["data"]["updateBrandSettings"]
    assert [error["code"] for error in payload["userErrors"]] == ["CONFLICT"]
    assert (await read_settings(gql, staff.token))["graceDays"] == 10


async def test_each_change_is_in_the_audit_trail_with_what_was_given(gql, staff):
    await update(gql, staff.token, timezone="Asia/Tokyo", earnCapPerDay=None)
    brand_id = (await gql(BRAND_ID, token=staff.token))["data"]["brand"]["id"]
    body = await gql(TRAIL, {"operation": "updateBrandSettings"}, token=staff.token)
    (entry,) = [edge["node"] for edge in body["data"]["auditTrail"]["edges"]]
    assert entry["actor"] == "ADMIN:admin-1"
    assert entry["targets"] == [brand_id]
    assert json.loads(entry["input"]) == {"timezone": "Asia/Tokyo", "earnCapPerDay": None}


@pytest.mark.parametrize("role", ["MEMBER", "STAFF", "ANALYST"])
async def test_only_admins_read_and_change_the_settings(gql, brand, make_token, staff, role):
    member = await staff.register()
    token = make_token(brand, role, member["id"] if role == "MEMBER" else "someone")
    read = await gql(READ, token=token)
    assert read["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    changed = await gql(UPDATE, {"input": {"name": "Mine", "idempotencyKey": key()}}, token=token)
    assert changed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await read_settings(gql, staff.token))["name"] == "Test Brand"


async def test_a_visitor_is_asked_to_sign_in(gql, brand):
    body = await gql(READ, brand=brand.code)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_change_on_one_process_holds_for_the_next_earn_on_another(
    live_server, gql, brand, staff, make_token
):
    """The server process has earned for the brand (its copies warm) when this process changes
    the brand's expiry policy, timezone and caps: its very next earn follows them."""
    member = await staff.register()
    async with admin_of(live_server, brand, make_token) as remote:

        async def earn(total: str) -> dict:
            payload = await remote.call(
                PURCHASE, {"memberId": member["id"], "orderRef": key(), "total": total}
            )
            assert payload["userErrors"] == [], payload
            return payload["entry"]

        before = await earn("100.00")
        assert before["points"] == 100
        assert (await update(gql, staff.token, expiryPolicy="FIXED_DATE", clearingMonth=3,
                             clearingDay=31, timezone="America/New_York",
                             earnCapPerPurchase=40))["userErrors"] == []  # fmt: skip
        after = await earn("100.00")
        assert after["points"] == 40
        expires = datetime.fromisoformat(after["expiresAt"]).astimezone(
            ZoneInfo("America/New_York")
        )
        assert (expires.month, expires.day, expires.hour) == (4, 1, 0)

        # And the other way round: changed there, read here at once.
        assert (await remote.call(UPDATE, {"earnCapPerPurchase": 7}))["userErrors"] == []
        assert (await read_settings(gql, staff.token))["earnCapPerPurchase"] == 7
        assert (await staff.purchase(member["id"], "100.00"))["entry"]["points"] == 7


async def test_a_brand_created_after_its_code_was_asked_for_is_found_within_a_second(app):
    """The authentication's directory keeps an unknown code briefly: a brand just created is
    let in as soon as its first token is tried."""
    directory = BrandDirectory()  # as the app makes it: brands' keys kept for 10 s
    code = unique_code("new")
    assert await directory.find(code) is None
    brand = await create_brand(code, "Just made")
    await asyncio.sleep(1.1)
    found = await directory.find(code)
    assert found is not None and found.id == brand.id
