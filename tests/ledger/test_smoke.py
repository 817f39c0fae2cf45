"""Earn, reverse, adjust through GraphQL: the basic flows."""

from __future__ import annotations

from domain.ledger.audit import audit


async def test_purchase_reverse_adjust(staff, brand):
    member = await staff.register()
    earned = await staff.purchase(member["id"], "123.45", orderRef="A1")
    assert earned["userErrors"] == []
    assert earned["entry"]["points"] == 123
    assert earned["entry"]["breakdown"][0]["rule"] == "base"
    assert earned["member"]["points"]["available"] == 123
    reversed_ = await staff.reverse(member["id"], "A1", "23.45")
    assert reversed_["userErrors"] == [], reversed_
    assert reversed_["entry"]["points"] == -23
    adjusted = await staff.adjust(member["id"], -50)
    assert adjusted["member"]["points"] == {"available": 50, "version": 3}
    refused = await staff.adjust(member["id"], -51)
    assert refused["userErrors"][0]["code"] == "INSUFFICIENT_POINTS"
    assert await audit(brand_id=brand.id) == []
