"""updateMyProfile: a member changes their own name, email, consents, and birthday once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from db.models import MemberStatus
from tests.support.factories import key
from tests.support.members import error_code, stored, user_errors

UPDATE_PROFILE = """
mutation ($input: UpdateMyProfileInput!) {
  updateMyProfile(input: $input) {
    member { id displayName email birthday marketingEmail marketingSms status }
    userErrors { field message code }
  }
}
"""


@pytest.fixture
def update(gql):
    """Call updateMyProfile with a token; returns its payload."""

    async def run(token: str, **fields) -> dict:
        body = await gql(
            UPDATE_PROFILE, {"input": {"idempotencyKey": key(), **fields}}, token=token
        )
        assert "errors" not in body, body
        return body["data"]["updateMyProfile"]

    return run


async def test_a_member_renames_themself_and_changes_their_email(staff, member_token, update):
    member = await staff.register("Ada", email="ada@old.example")
    payload = await update(member_token(member), displayName="  Ada King ", email="ADA@New.Example")
    assert payload["userErrors"] == []
    assert payload["member"]["displayName"] == "Ada King"
    assert payload["member"]["email"] == "ada@new.example"
    row = await stored(member)
    assert (row.display_name, row.email) == ("Ada King", "ada@new.example")


async def test_omitted_fields_are_left_as_they_are(staff, member_token, update):
    member = await staff.register("Ada", email="ada@example.com", birthday="1990-01-02")
    payload = await update(member_token(member), marketingSms=True)
    assert payload["member"] == {
        "id": member["id"],
        "displayName": "Ada",
        "email": "ada@example.com",
        "birthday": "1990-01-02",
        "marketingEmail": False,
        "marketingSms": True,
        "status": "ACTIVE",
    }


async def test_consents_are_given_and_withdrawn(staff, member_token, update):
    token = member_token(await staff.register())
    given = await update(token, marketingEmail=True, marketingSms=True)
    assert (given["member"]["marketingEmail"], given["member"]["marketingSms"]) == (True, True)
    withdrawn = await update(token, marketingEmail=False)
    assert (withdrawn["member"]["marketingEmail"], withdrawn["member"]["marketingSms"]) == (
        False,
        True,
    )


async def test_a_birthday_is_set_once_and_then_refused(staff, member_token, update):
    member = await staff.register()
    token = member_token(member)
    assert (await update(token, birthday="1991-05-06"))["member"]["birthday"] == "1991-05-06"
    assert (await update(token, birthday="1991-05-06"))["userErrors"] == []
    refused = await update(token, birthday="1992-05-06", displayName="Changed")
    assert user_errors(refused) == [("INVALID_INPUT", ["birthday"])]
    row = await stored(member)
    assert (str(row.birthday), row.display_name) == ("1991-05-06", "Ada")


async def test_a_birthday_given_at_registration_cannot_be_changed(staff, member_token, update):
    member = await staff.register(birthday="1980-02-03")
    refused = await update(member_token(member), birthday="1980-03-02")
    assert user_errors(refused) == [("INVALID_INPUT", ["birthday"])]
    assert str((await stored(member)).birthday) == "1980-02-03"


async def test_a_birthday_in_the_future_is_refused(staff, member_token, update, clock):
    member = await staff.register()
    # Two days on: no timezone's today yet (a birthday may be today where it is latest, UTC+14).
    later = clock.now().date() + timedelta(days=2)
    refused = await update(member_token(member), birthday=later.isoformat())
    assert user_errors(refused) == [("INVALID_INPUT", ["birthday"])]
    assert (await stored(member)).birthday is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"displayName": " "}, "displayName"),
        ({"email": "not-an-address"}, "email"),
        ({"birthday": "1850-01-01"}, "birthday"),
    ],
)
async def test_a_bad_field_changes_nothing(staff, member_token, update, fields, field):
    member = await staff.register("Ada", email="ada@example.com")
    refused = await update(member_token(member), marketingEmail=True, **fields)
    assert user_errors(refused) == [("INVALID_INPUT", [field])]
    row = await stored(member)
    assert (row.display_name, row.email, row.marketing_email) == ("Ada", "ada@example.com", False)


async def test_an_email_another_member_of_the_brand_has_is_a_duplicate(
    staff, other_staff, member_token, update
):
    await staff.register("Grace", email="grace@example.com")
    await other_staff.register("Namesake", email="ada@elsewhere.example")
    member = await staff.register("Ada", email="ada@example.com")
    token = member_token(member)
    taken = await update(token, email="Grace@Example.com")
    assert user_errors(taken) == [("DUPLICATE", ["email"])]
    assert (await stored(member)).email == "ada@example.com"
    elsewhere = await update(token, email="ada@elsewhere.example")
    assert elsewhere["userErrors"] == []


@pytest.mark.parametrize("role", ["STAFF", "ADMIN", "ANALYST"])
async def test_only_members_change_their_profile(gql, brand, make_token, role):
    eve = {"displayName": "Eve", "idempotencyKey": key()}
    body = await gql(UPDATE_PROFILE, {"input": eve}, token=make_token(brand, role))
    assert error_code(body) == "FORBIDDEN"


async def test_visitors_must_sign_in(gql, brand):
    eve = {"displayName": "Eve", "idempotencyKey": key()}
    body = await gql(UPDATE_PROFILE, {"input": eve}, brand=brand.code)
    assert error_code(body) == "UNAUTHENTICATED"


async def test_a_token_of_another_brand_changes_no_member(other_staff, brand, member_token, update):
    stranger = await other_staff.register("Stranger")
    refused = await update(member_token(stranger, of_brand=brand), displayName="Hijacked")
    assert [code for code, _ in user_errors(refused)] == ["NOT_FOUND"]
    assert (await stored(stranger)).display_name == "Stranger"


async def waiting_on(watcher: asyncpg.Connection, holder: asyncpg.Connection) -> None:
    """Until some session waits on a lock the holder's session holds."""
    for _ in range(500):
        blocked = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
            holder.get_server_pid(),
        )
        if blocked:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("nothing waited on the lock")


async def test_a_profile_change_does_not_undo_a_concurrent_freeze(
    staff, member_token, update, settings
):
    """The admin's freeze commits while the member's change waits on the row: both survive."""
    member = await staff.register("Ada")
    row = await stored(member)
    holder = await asyncpg.connect(settings.database_url)
    watcher = await asyncpg.connect(settings.database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM member WHERE id = $1 FOR UPDATE", row.id)
            change = asyncio.create_task(update(member_token(member), displayName="Ada King"))
            await waiting_on(watcher, holder)
            await holder.execute("UPDATE member SET status = 'FROZEN' WHERE id = $1", row.id)
        payload = await change
    finally:
        await holder.close()
        await watcher.close()
    assert payload["userErrors"] == []
    row = await stored(member)
    assert (row.display_name, row.status) == ("Ada King", MemberStatus.FROZEN)
