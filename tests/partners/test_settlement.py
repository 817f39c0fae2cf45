"""Settlement: a partner's month sums exactly the ledger movements it settles, on random data:
its purchases' earns and reversals, and redemptions of its offers and their refunds."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from db.models import LedgerEntry
from tests.support.commands import pointsmall
from tests.support.factories import key
from tests.support.partners import create_partner, issue, partner_gql, publish, review

SETTLEMENT = """
query ($partnerId: ID!, $month: String!) {
  settlement(partnerId: $partnerId, month: $month) {
    settlement { month pointsIssued pointsRedeemed movements pointValue amountIssued
                 amountRedeemed net }
    userErrors { code field }
  }
}
"""
# What a partner may read of its purchases and refunds (not balanceAfter, nor the member's points).
RECORD_PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { entry { points } userErrors { code field } }
}
"""
REVERSE_PURCHASE = """
mutation ($input: ReversePurchaseInput!) {
  reversePurchase(input: $input) { entry { points } userErrors { code field } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { id pointsSpent } userErrors { code } }
}
"""
CANCEL = """
mutation ($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) { redemption { status } userErrors { code } }
}
"""


async def test_a_partners_month_sums_exactly_its_ledger_movements(
    client, staff, brand, gql, make_token, clock, settings
):
    rng = random.Random(20261124)
    partner = await create_partner(staff, pointValue="0.05")
    secret = (await issue(staff, partner["id"], ["POINTS_EARN", "OFFERS_WRITE"]))["secret"]
    offer = (await publish(client, secret, sku=f"S-{key()[:8]}", pointsPrice=30))["item"]
    await review(staff, offer["id"], approve=True)
    members = [await staff.register() for _ in range(4)]
    for member in members:
        await staff.purchase(member["id"], "1000.00")  # the brand's own: not settled
    zone = ZoneInfo(brand.timezone)
    months = []
    for _ in range(2):
        issued = redeemed = 0
        orders, redemptions = [], []
        for _ in range(25):
            member = rng.choice(members)
            action = rng.choice(["buy", "buy", "refund", "redeem", "cancel"])
            if action == "buy":
                order = f"P-{key()[:10]}"
                body = await partner_gql(
                    client,
                    secret,
                    RECORD_PURCHASE,
                    {
                        "input": {
                            "memberId": member["id"],
                            "orderRef": order,
                            "idempotencyKey": key(),
                            "total": f"{rng.randint(1, 30000) / 100:.2f}",
                        }
                    },
                )
                payload = body["data"]["recordPurchase"]
                assert payload["userErrors"] == [], payload
                issued += payload["entry"]["points"]
                orders.append((member, order))
            elif action == "refund" and orders:
                member, order = rng.choice(orders)
                body = await partner_gql(
                    client,
                    secret,
                    REVERSE_PURCHASE,
                    {
                        "input": {
                            "memberId": member["id"],
                            "orderRef": order,
                            "idempotencyKey": key(),
                            "amount": None,
                        }
                    },
                )
                assert "errors" not in body, body
                entry = body["data"]["reversePurchase"]["entry"]
                issued += entry["points"] if entry else 0
            elif action == "redeem":
                token = make_token(brand, "MEMBER", member["id"])
                body = await gql(
                    REDEEM,
                    {
                        "input": {
                            "itemId": offer["id"],
                            "idempotencyKey": key(),
                            "quantity": rng.randint(1, 3),
                        }
                    },
                    token=token,
                )
                payload = body["data"]["redeem"]
                if payload["redemption"]:
                    redeemed += payload["redemption"]["pointsSpent"]
                    redemptions.append(payload["redemption"])
            elif action == "cancel" and redemptions:
                redemption = redemptions.pop(rng.randrange(len(redemptions)))
                cancelled = await staff.call(
                    CANCEL,
                    {"redemptionId": redemption["id"], "reason": "test", "idempotencyKey": key()},
                )
                assert cancelled["userErrors"] == [], cancelled
                redeemed -= redemption["pointsSpent"]
        month = f"{clock.now().astimezone(zone):%Y-%m}"
        months.append((month, issued, redeemed))
        clock.advance(timedelta(days=32))

    for month, issued, redeemed in months:
        body = await gql(
            SETTLEMENT, {"partnerId": partner["id"], "month": month}, token=staff.token
        )
        figures = body["data"]["settlement"]["settlement"]
        assert (figures["pointsIssued"], figures["pointsRedeemed"]) == (issued, redeemed), month
        value = Decimal("0.05")
        assert Decimal(figures["amountIssued"]) == (issued * value).quantize(Decimal("0.01"))
        assert Decimal(figures["net"]) == (
            (issued * value).quantize(Decimal("0.01"))
            - (redeemed * value).quantize(Decimal("0.01"))
        )
    entries = await LedgerEntry.filter(partner__code=partner["code"]).values_list("kind", "points")
    assert sum(p for k, p in entries if k in ("EARN", "REVERSAL")) == sum(m[1] for m in months)
    assert -sum(p for k, p in entries if k in ("REDEEM", "REFUND")) == sum(m[2] for m in months)

    csv = pointsmall(
        "settlement",
        "--brand",
        brand.code,
        "--partner",
        partner["code"],
        "--month",
        months[0][0],
        env={"DATABASE_URL": settings.database_url},
    )
    assert csv.returncode == 0, csv.stderr
    header, row = csv.stdout.strip().splitlines()
    assert header.startswith("partner,month,points_issued,points_redeemed")
    assert row.split(",")[:4] == [
        partner["code"],
        months[0][0],
        str(months[0][1]),
        str(months[0][2]),
    ]


async def test_a_partner_reads_only_its_own_settlement(client, staff):
    mine = await create_partner(staff)
    theirs = await create_partner(staff)
    secret = (await issue(staff, mine["id"], ["OFFERS_WRITE"]))["secret"]
    own = await partner_gql(
        client, secret, SETTLEMENT, {"partnerId": mine["id"], "month": "2026-11"}
    )
    assert own["data"]["settlement"]["userErrors"] == []
    other = await partner_gql(
        client, secret, SETTLEMENT, {"partnerId": theirs["id"], "month": "2026-11"}
    )
    assert other["data"]["settlement"]["userErrors"] == [
        {"code": "NOT_FOUND", "field": ["partnerId"]}
    ]
    bad = await partner_gql(client, secret, SETTLEMENT, {"partnerId": mine["id"], "month": "11/26"})
    assert bad["data"]["settlement"]["userErrors"] == [
        {"code": "INVALID_INPUT", "field": ["month"]}
    ]
