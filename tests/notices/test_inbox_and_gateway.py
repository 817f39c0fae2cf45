"""Notices over GraphQL: the inbox, read marks, wordings, switches, consent, quiet hours and
the brand's gateways, posting to a real local receiver."""

from __future__ import annotations

import json

from domain.notices.gateway import deliver_due_notices
from tests.support.receiver import verify

INBOX = """
{ me { unreadNoticeCount notices(first: 10) { totalCount edges { node {
    id kind title text read readAt } } } } }
"""
MARK = """
mutation ($input: MarkNoticesReadInput!) {
  markNoticesRead(input: $input) { marked unreadNoticeCount userErrors { code field } }
}
"""
PREFERENCES = """
mutation ($input: UpdateMyNoticePreferencesInput!) {
  updateMyNoticePreferences(input: $input) {
    preferences { consents { channel consented } locale } userErrors { code field }
  }
}
"""
GATEWAY = """
mutation ($input: RegisterNoticeGatewayInput!) {
  registerNoticeGateway(input: $input) { gateway { channel url } secret userErrors { code } }
}
"""
TEMPLATE = """
mutation ($input: SaveNoticeTemplateInput!) {
  saveNoticeTemplate(input: $input) {
    template { kind channel locale text } preview userErrors { code field message }
  }
}
"""
SWITCH = """
mutation ($input: SetNoticeChannelInput!) {
  setNoticeChannel(input: $input) {
    settings { kinds { kind channels { channel enabled } } } userErrors { code }
  }
}
"""


async def inbox(gql, token: str) -> dict:
    body = await gql(INBOX, token=token)
    assert "errors" not in body, body
    return body["data"]["me"]


async def test_an_earn_reaches_the_inbox_and_is_marked_read(staff, member_with_points, gql):
    _, token = await member_with_points(120)
    me = await inbox(gql, token)
    assert me["unreadNoticeCount"] == 1
    (edge,) = me["notices"]["edges"]
    notice = edge["node"]
    assert notice["kind"] == "POINTS_EARNED" and notice["read"] is False
    assert notice["title"] == "积分到账"  # the brand's locale, zh-CN by default
    assert "120" in notice["text"]

    _, other_token = await member_with_points(10, name="Bo")
    foreign = await gql(MARK, {"input": {"ids": [notice["id"]], "idempotencyKey": "m1"}},
                        token=other_token)  # fmt: skip
    assert foreign["data"]["markNoticesRead"]["userErrors"][0]["code"] == "NOT_FOUND"

    marked = await gql(MARK, {"input": {"ids": [notice["id"]], "idempotencyKey": "m1"}},
                       token=token)  # fmt: skip
    assert marked["data"]["markNoticesRead"] == {
        "marked": 1,
        "unreadNoticeCount": 0,
        "userErrors": [],
    }
    again = await gql(MARK, {"input": {"all": True, "idempotencyKey": "m2"}}, token=token)
    assert again["data"]["markNoticesRead"]["marked"] == 0
    assert (await inbox(gql, token))["notices"]["edges"][0]["node"]["read"] is True


async def test_a_member_reads_their_own_locale_and_the_brands_wording(
    staff, member_with_points, gql
):
    member, token = await member_with_points(0)
    body = await gql(PREFERENCES, {"input": {"locale": "en", "idempotencyKey": "p1"}},
                     token=token)  # fmt: skip
    assert body["data"]["updateMyNoticePreferences"]["preferences"]["locale"] == "en"
    bad = await staff.call(TEMPLATE, {"kind": "POINTS_EARNED", "channel": "INBOX",
                                      "locale": "en", "text": "Got {pointz}"})  # fmt: skip
    assert bad["userErrors"][0]["code"] == "INVALID_INPUT"
    assert "pointz" in bad["userErrors"][0]["message"]
    saved = await staff.call(TEMPLATE, {"kind": "POINTS_EARNED", "channel": "INBOX",
                                        "locale": "en", "text": "+{points} for you"})  # fmt: skip
    assert saved["userErrors"] == [] and saved["preview"] == "+1,200 for you"
    await staff.purchase(member["id"], "75.00")
    notice = (await inbox(gql, token))["notices"]["edges"][0]["node"]
    assert (notice["title"], notice["text"]) == ("Points earned", "+75 for you")


async def test_a_gateway_gets_each_notice_signed_with_contacts_only_by_consent(
    staff, brand, make_token, gql, runtime, receiver
):
    registered = await staff.call(GATEWAY, {"channel": "SMS", "url": receiver.url})
    assert registered["userErrors"] == [] and registered["secret"].startswith("ntsec_")
    member = await staff.register("Cy", phone="13800000001")
    token = make_token(brand, "MEMBER", member["id"])
    await staff.purchase(member["id"], "10.00")
    assert await deliver_due_notices(runtime) >= 1
    posted = [(h, b) for h, b in receiver.received if member["id"].encode() in b]
    ((headers, body),) = posted
    assert verify(registered["secret"], headers, body)
    event = json.loads(body)
    assert headers["x-pointsmall-event-id"] == event["id"]
    data = event["data"]
    assert (data["kind"], data["channel"], data["memberId"]) == (
        "POINTS_EARNED",
        "SMS",
        member["id"],
    )
    assert set(data["texts"]) >= {"zh-CN", "en"} and "10" in data["texts"]["en"]
    assert data["contact"] is None  # no consent to SMS

    await gql(PREFERENCES, {"input": {"sms": True, "idempotencyKey": "c1"}}, token=token)
    await staff.purchase(member["id"], "11.00")
    await deliver_due_notices(runtime)
    latest = json.loads([b for _, b in receiver.received if member["id"].encode() in b][-1])["data"]
    assert latest["contact"] is None or "phoneNumber" in latest["contact"]


async def test_switched_off_kinds_skip_their_channel(staff, member_with_points, gql, runtime,
                                                     receiver):  # fmt: skip
    await staff.call(GATEWAY, {"channel": "PUSH", "url": receiver.url})
    for channel in ("INBOX", "PUSH"):
        settings = await staff.call(
            SWITCH, {"kind": "POINTS_EARNED", "channel": channel, "enabled": False}
        )
        assert settings["userErrors"] == []
    member, token = await member_with_points(30)
    assert (await inbox(gql, token))["unreadNoticeCount"] == 0
    await deliver_due_notices(runtime)
    assert not [b for _, b in receiver.received if member["id"].encode() in b]
