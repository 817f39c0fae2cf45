"""The brand's notice settings over GraphQL: what noticeSettings lists, previews, wordings
removed, gateways disabled and enabled again, dead letters sent again; admins only."""

from __future__ import annotations

from domain.notices.gateway import deliver_due_notices

SETTINGS = """
{ noticeSettings { locale quietHoursStart quietHoursEnd expiryReminderDays
    kinds { kind marketing variables channels { channel enabled } }
    gateways { channel url disabledAt } templates { kind channel locale text } } }
"""
PREVIEW = """
query ($text: String) {
  previewNotice(kind: POINTS_EXPIRING, channel: SMS, locale: "en", text: $text) {
    text userErrors { code field message }
  }
}
"""
UPDATE = """
mutation ($input: UpdateNoticeSettingsInput!) {
  updateNoticeSettings(input: $input) {
    settings { locale quietHoursStart quietHoursEnd expiryReminderDays } userErrors { code field }
  }
}
"""
SAVE = """
mutation ($input: SaveNoticeTemplateInput!) {
  saveNoticeTemplate(input: $input) { template { text } userErrors { code } }
}
"""
DELETE = """
mutation ($input: DeleteNoticeTemplateInput!) {
  deleteNoticeTemplate(input: $input) { deleted userErrors { code } }
}
"""
GATEWAY = """
mutation ($input: RegisterNoticeGatewayInput!) {
  registerNoticeGateway(input: $input) { gateway { channel } secret userErrors { code field } }
}
"""
DISABLE = """
mutation ($input: DisableNoticeGatewayInput!) {
  disableNoticeGateway(input: $input) { gateway { disabledAt } userErrors { code } }
}
"""
DELIVERIES = """
query ($status: DeliveryStatus) {
  noticeDeliveries(status: $status, first: 10) {
    edges { node { id status attempts channel notice { kind } } }
  }
}
"""
REDELIVER = """
mutation ($input: RedeliverNoticeInput!) {
  redeliverNotice(input: $input) { delivery { status } userErrors { code } }
}
"""


async def test_settings_list_every_kind_and_change_checked(staff, gql, brand, make_token):
    body = await gql(SETTINGS, token=staff.token)
    settings = body["data"]["noticeSettings"]
    assert (settings["locale"], settings["quietHoursStart"], settings["quietHoursEnd"]) == (
        "zh-CN",
        "21:00",
        "09:00",
    )
    assert settings["expiryReminderDays"] == [30, 7]
    assert len(settings["kinds"]) == 16
    expiring = next(kind for kind in settings["kinds"] if kind["kind"] == "POINTS_EXPIRING")
    assert expiring["marketing"] and "expiresAt" in expiring["variables"]
    assert all(channel["enabled"] for channel in expiring["channels"])

    changed = await staff.call(
        UPDATE,
        {
            "locale": "en",
            "quietHoursStart": "22:30",
            "quietHoursEnd": "07:00",
            "expiryReminderDays": [7, 60],
        },
    )
    assert changed["settings"] == {
        "locale": "en",
        "quietHoursStart": "22:30",
        "quietHoursEnd": "07:00",
        "expiryReminderDays": [60, 7],
    }
    for bad in ({"quietHoursStart": "25:00"}, {"expiryReminderDays": [0]}, {"locale": "!!"}):
        refused = await staff.call(UPDATE, bad)
        assert refused["userErrors"][0]["code"] == "INVALID_INPUT", bad

    clerk = await gql(SETTINGS, token=make_token(brand, "STAFF", "clerk"))
    assert clerk["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_preview_renders_samples_and_checks_the_text(staff, gql):
    built_in = (await gql(PREVIEW, token=staff.token))["data"]["previewNotice"]
    assert built_in == {
        "text": "1,200 points expire on 31 March 2027: see what they buy in the mall.",
        "userErrors": [],
    }
    given = await gql(PREVIEW, {"text": "{points} by {expiresAt}"}, token=staff.token)
    assert given["data"]["previewNotice"]["text"] == "1,200 by 31 March 2027"
    for bad in ("{points:>9}", "{tier}", "{", "  "):
        refused = await gql(PREVIEW, {"text": bad}, token=staff.token)
        assert refused["data"]["previewNotice"]["userErrors"][0]["code"] == "INVALID_INPUT"

    template = {"kind": "POINTS_EXPIRING", "channel": "SMS", "locale": "en"}
    await staff.call(SAVE, {**template, "text": "Use {points} soon"})
    assert (await gql(PREVIEW, token=staff.token))["data"]["previewNotice"]["text"] == (
        "Use 1,200 soon"
    )
    assert (await staff.call(DELETE, template))["deleted"] is True
    assert (await staff.call(DELETE, template))["deleted"] is False
    assert (
        "see what they buy"
        in (await gql(PREVIEW, token=staff.token))["data"]["previewNotice"]["text"]
    )


async def test_the_inbox_has_no_gateway(staff):
    refused = await staff.call(GATEWAY, {"channel": "INBOX", "url": "https://example.com/"})
    assert refused["userErrors"][0]["code"] == "INVALID_INPUT"


async def test_a_disabled_gateway_keeps_its_notices_until_enabled_and_dead_letters_go_again(
    staff, gql, runtime, receiver, member_with_points
):
    def posted_for(member: dict) -> list[bytes]:
        return [body for _, body in receiver.received if member["id"].encode() in body]

    await staff.call(GATEWAY, {"channel": "EMAIL", "url": receiver.url})
    waiting, _ = await member_with_points(40)  # its notice is queued for the gateway
    disabled = await staff.call(DISABLE, {"channel": "EMAIL"})
    assert disabled["gateway"]["disabledAt"] is not None
    unsent, _ = await member_with_points(39, name="Cy")  # made while it is off: never queued
    await deliver_due_notices(runtime)
    assert not posted_for(waiting) and not posted_for(unsent)

    await staff.call(GATEWAY, {"channel": "EMAIL", "url": receiver.url})
    await deliver_due_notices(runtime)
    assert len(posted_for(waiting)) == 1 and not posted_for(unsent)

    receiver.status = 500
    failing, _ = await member_with_points(41, name="Bo")
    await deliver_due_notices(runtime)
    assert len(posted_for(failing)) == 1
    listed = await gql(DELIVERIES, {"status": "PENDING"}, token=staff.token)
    (pending,) = [edge["node"] for edge in listed["data"]["noticeDeliveries"]["edges"]]
    assert (pending["attempts"], pending["channel"], pending["notice"]["kind"]) == (
        1,
        "EMAIL",
        "POINTS_EARNED",
    )
    receiver.status = 200
    again = await staff.call(REDELIVER, {"id": pending["id"]})
    assert again["delivery"]["status"] == "PENDING"
    await deliver_due_notices(runtime)  # due at once, not at its retry's time
    assert len(posted_for(failing)) == 2
    done = await gql(DELIVERIES, {"status": "DELIVERED"}, token=staff.token)
    delivered = [edge["node"]["id"] for edge in done["data"]["noticeDeliveries"]["edges"]]
    assert pending["id"] in delivered
