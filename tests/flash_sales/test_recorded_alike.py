"""A redemption is recorded alike however it was sold: a member who redeems an item from the
catalog and a member who wins it in a flash sale at the same price are left with the same
facts (the REDEEM entry, the coupons, the member's notices, the partner's webhook, a bought
tier). Only the seller's own records differ: the entry's description, the sale and its hold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from db.models import (
    Coupon,
    LedgerEntry,
    Member,
    Notice,
    NoticeKind,
    Redemption,
    WebhookDelivery,
    WebhookEvent,
)
from tests.support.catalog import create_catalog_item, redeem_item
from tests.support.factories import key, with_key
from tests.support.ledger import pk
from tests.support.partners import create_partner, issue, partner_gql

REGISTER_ENDPOINT = """
mutation ($input: RegisterWebhookEndpointInput!) {
  registerWebhookEndpoint(input: $input) { endpoint { id } userErrors { code field } }
}
"""
PUBLISH_OFFER = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id } userErrors { code field } }
}
"""
APPROVE = """
mutation ($input: ApproveCatalogItemInput!) {
  approveCatalogItem(input: $input) { item { status } userErrors { code field } }
}
"""
SAVE_TIER = """
mutation ($input: SaveTierInput!) { saveTier(input: $input) { tier { id } userErrors { code } } }
"""
CREATE_SALE = """
mutation ($input: CreateFlashSaleInput!) {
  createFlashSale(input: $input) { flashSale { id } userErrors { code field } }
}
"""
ENTER = """
mutation ($input: EnterFlashSaleInput!) {
  enterFlashSale(input: $input) {
    redemption { id flashSale { id } }
    userErrors { code field }
  }
}
"""
TIER = "query ($id: ID!) { member(id: $id) { tier { code } } }"


async def partner_offer_with_webhook(client, staff, url: str) -> dict:
    """A partner's coupon offer, approved, the partner subscribed to redemption.created."""
    partner = await create_partner(staff)
    secret = (await issue(staff, partner["id"], ["OFFERS_WRITE", "WEBHOOKS_MANAGE"]))["secret"]
    endpoint = {"url": url, "events": ["REDEMPTION_CREATED"], "idempotencyKey": key()}
    body = await partner_gql(client, secret, REGISTER_ENDPOINT, {"input": endpoint})
    assert body["data"]["registerWebhookEndpoint"]["userErrors"] == [], body
    offer = {"sku": f"OFFER-{key()[:8]}", "name": "Acme 10% off", "kind": "PARTNER_OFFER",
             "category": "coffee", "pointsPrice": 150, "couponValidDays": 30}  # fmt: skip
    body = await partner_gql(
        client, secret, PUBLISH_OFFER, {"input": with_key(PUBLISH_OFFER, offer)}
    )
    published = body["data"]["createCatalogItem"]
    assert published["userErrors"] == [], body
    approved = await staff.call(APPROVE, {"id": published["item"]["id"]})
    assert approved["userErrors"] == [], approved
    return published["item"]


async def redeemed_both_ways(staff, gql, clock, member_with_points, item_id: str) -> list[dict]:
    """The item redeemed from the catalog by one member and won in a flash sale, at the same
    price (its catalog price for the base tier), by another with as many points."""
    catalog_member, catalog_token = await member_with_points(1000, "Catalog")
    flash_member, flash_token = await member_with_points(1000, "Flash")
    redeemed = await redeem_item(gql, catalog_token, item_id)
    assert redeemed["userErrors"] == [], redeemed

    starts_at = clock.now() + timedelta(seconds=1)
    sale = await staff.call(
        CREATE_SALE,
        {"itemId": item_id, "pointsPrice": redeemed["redemption"]["pointsSpent"],
         "startsAt": starts_at.isoformat(), "endsAt": (starts_at + timedelta(hours=1)).isoformat(),
         "totalStock": 5, "perMemberLimit": 1},
    )  # fmt: skip
    assert sale["userErrors"] == [], sale
    clock.advance(timedelta(seconds=2))
    body = await gql(
        ENTER,
        {"input": {"flashSaleId": sale["flashSale"]["id"], "quantity": 1, "idempotencyKey": key()}},
        token=flash_token,
    )
    won = body["data"]["enterFlashSale"]
    assert won["userErrors"] == [], body
    assert won["redemption"]["flashSale"] == {"id": sale["flashSale"]["id"]}
    return [
        await facts_of(staff, catalog_member, redeemed["redemption"]["id"]),
        await facts_of(staff, flash_member, won["redemption"]["id"]),
    ]


async def facts_of(staff, member: dict, redemption_id: str) -> dict[str, Any]:
    """What a redemption left, with what names the member or the redemption itself (ids,
    codes, times) checked here and left out, so that two members' redemptions compare."""
    redemption = await Redemption.get(id=pk(redemption_id))
    stored_member = await Member.get(id=pk(member["id"]))
    entry = await LedgerEntry.get(id=redemption.redeem_entry_id)
    coupons = await Coupon.filter(redemption_id=redemption.id).order_by("id")
    notices = await Notice.filter(member_id=stored_member.id).exclude(kind=NoticeKind.POINTS_EARNED)
    events = [
        event
        for event in await WebhookEvent.filter(type="redemption.created")
        if event.payload["redemptionId"] == redemption_id
    ]
    for event in events:
        assert event.payload["memberCode"] == stored_member.member_code
    tier = await staff.gql(TIER, {"id": member["id"]}, token=staff.token)

    def told(notice: Notice) -> tuple[str, bool, dict[str, Any]]:
        variables = dict(notice.variables)
        if notice.kind is NoticeKind.POINTS_SPENT:
            assert variables.pop("reason") == entry.description  # the seller's own words
        about_it = notice.dedupe_key.endswith(f":redemption:{redemption.id}")
        return notice.kind.value, about_it, variables

    return {
        "redemption": (
            redemption.status, redemption.quantity, redemption.points_spent,
            redemption.cash_amount, redemption.gifts, redemption.shipping_address,
            redemption.confirmed_at == redemption.created_at, redemption.payment_due_at,
        ),
        "entry": (
            entry.kind, entry.points, entry.partner_id, entry.created_at == redemption.created_at,
        ),
        "coupons": [
            (coupon.item_id, coupon.partner_id, coupon.value, len(coupon.code),
             coupon.expires_at - coupon.created_at if coupon.expires_at else None,
             coupon.used_at, coupon.voided_at)
            for coupon in coupons
        ],
        "notices": sorted((told(notice) for notice in notices), key=lambda said: said[:2]),
        "webhook": [
            (event.partner_id,
             {name: value for name, value in event.payload.items()
              if name not in ("redemptionId", "memberCode")},
             await WebhookDelivery.filter(event_id=event.id).count())
            for event in events
        ],
        "tier": (
            tier["data"]["member"]["tier"]["code"],
            stored_member.tier_floor_id,
            stored_member.tier_floor_redemption_id == redemption.id,
        ),
    }  # fmt: skip


async def test_a_partner_offer_won_in_a_flash_sale_is_recorded_as_one_redeemed(
    client, staff, gql, clock, member_with_points, receiver
):
    offer = await partner_offer_with_webhook(client, staff, receiver.url)
    from_catalog, from_flash_sale = await redeemed_both_ways(
        staff, gql, clock, member_with_points, offer["id"]
    )
    assert from_flash_sale == from_catalog
    # The facts compared are there to compare: a coupon, a notice, a webhook for the partner.
    assert len(from_catalog["coupons"]) == 1
    assert ("REDEMPTION_CONFIRMED", True) in [notice[:2] for notice in from_catalog["notices"]]
    [(partner_id, payload, deliveries)] = from_catalog["webhook"]
    assert partner_id is not None and deliveries == 1
    assert payload == {"sku": payload["sku"], "quantity": 1, "pointsSpent": 150,
                       "status": "CONFIRMED"}  # fmt: skip


async def test_a_tier_won_in_a_flash_sale_moves_the_member_up_as_one_redeemed(
    staff, gql, clock, member_with_points
):
    gold = await staff.call(
        SAVE_TIER, {"code": "GOLD", "name": "Gold", "rank": 1, "qualifyingPoints": 100_000}
    )
    assert gold["userErrors"] == [], gold
    upgrade = await create_catalog_item(
        staff, sku=f"GOLD-{key()[:8]}", name="A month of Gold", kind="TIER_UPGRADE",
        pointsPrice=200, upgradeTierId=gold["tier"]["id"], upgradeMonths=1,
    )  # fmt: skip
    from_catalog, from_flash_sale = await redeemed_both_ways(
        staff, gql, clock, member_with_points, upgrade["id"]
    )
    assert from_flash_sale == from_catalog
    assert from_catalog["tier"] == ("GOLD", pk(gold["tier"]["id"]), True)
    assert "TIER_UP" in [notice[0] for notice in from_catalog["notices"]]
