"""PURCHASE_COUNT rules: a bonus with the member's Nth purchase (every Nth, or only the Nth in a
window), counting per member the purchases not refunded in full; a refunded bonus purchase
takes its bonus with it, and no purchase is paid twice for the same count."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from db.models import RuleKind
from domain.ledger.audit import audit
from domain.rules.engine import Rule, purchase_count_due
from tests.support.factories import key

CREATE_RULE = """
mutation ($input: EarningRuleInput!) {
  createEarningRule(input: $input) {
    rule { id code kind nthPurchase repeats points }
    userErrors { field message code }
  }
}
"""
PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    entry { points breakdown { rule description points } }
    userErrors { field message code }
  }
}
"""
PREVIEW = """
query ($input: PreviewEarnInput!) {
  previewEarn(input: $input) { preview { points breakdown { rule points } } userErrors { code } }
}
"""


async def create_rule(staff, **fields) -> dict:
    spec = {"code": "EVERY3", "name": "Every third visit", "kind": "PURCHASE_COUNT",
            "nthPurchase": 3, "points": 50, **fields}  # fmt: skip
    return await staff.call(CREATE_RULE, spec)


async def buy(staff, member_id: str, order_ref: str, **fields) -> list[str]:
    """Record a purchase of 10.00 (10 base points); the bonus rules its breakdown names."""
    payload = await staff.call(
        PURCHASE, {"memberId": member_id, "orderRef": order_ref, "total": "10.00", **fields}
    )
    assert payload["userErrors"] == [], payload
    return [c["description"] for c in payload["entry"]["breakdown"] if c["rule"] != "BASE"]


async def test_every_third_purchase_earns_the_bonus_and_refunds_are_taken_into_account(
    staff, brand
):
    created = await create_rule(staff)
    assert created["userErrors"] == [], created
    assert created["rule"]["repeats"] is True
    member = await staff.register()
    bonuses = [await buy(staff, member["id"], f"P{n}") for n in range(1, 7)]
    assert bonuses == [
        [], [], ["Every third visit: purchase number 3"], [], [],
        ["Every third visit: purchase number 6"],
    ]  # fmt: skip

    await staff.reverse(member["id"], "P2")  # a refund in full: P2 no longer counts
    # Five purchases count and two bonuses were paid: the sixth counted is not paid again.
    assert [await buy(staff, member["id"], f"P{n}") for n in (7, 8, 9)] == [[], [], []]
    assert await buy(staff, member["id"], "P10") == ["Every third visit: purchase number 9"]

    await staff.reverse(member["id"], "P10")  # the bonus purchase refunded: its bonus goes too
    assert await buy(staff, member["id"], "P11") == ["Every third visit: purchase number 9"]
    assert await audit(brand_id=brand.id) == []


async def test_only_the_nth_purchase_in_a_window_earns_a_one_off_bonus(staff, brand, clock):
    now = clock.now()
    created = await create_rule(
        staff, code="SECOND", name="Second visit this week", nthPurchase=2, repeats=False,
        startsAt=(now - timedelta(hours=1)).isoformat(),
        endsAt=(now + timedelta(days=7)).isoformat(),
    )  # fmt: skip
    assert created["userErrors"] == [], created
    member = await staff.register()
    before = (now - timedelta(hours=2)).isoformat()
    assert await buy(staff, member["id"], "OLD", occurredAt=before) == []  # outside the window
    assert await buy(staff, member["id"], "W1") == []
    preview = await staff.gql(
        PREVIEW,
        {"input": {"memberId": member["id"], "orderRef": key(), "total": "10.00"}},
        token=staff.token,
    )
    shown = preview["data"]["previewEarn"]["preview"]
    assert {"rule": "SECOND", "points": 50} in shown["breakdown"]
    assert await buy(staff, member["id"], "W2") == ["Second visit this week: purchase number 2"]
    assert await buy(staff, member["id"], "W3") == []
    await staff.reverse(member["id"], "W1")  # W2's bonus stays: W2 and W3 still make two
    assert await buy(staff, member["id"], "W4") == []
    assert await audit(brand_id=brand.id) == []


async def test_a_purchase_count_rule_is_checked_field_by_field(staff):
    cases = [
        ({"nthPurchase": None}, ["input", "nthPurchase"]),
        ({"nthPurchase": 1}, ["input", "nthPurchase"]),
        ({"points": None}, ["input", "points"]),
        (
            {"kind": "BASE_RATE", "rate": "1", "points": None, "nthPurchase": None,
             "repeats": False},
            ["input", "repeats"],
        ),
    ]  # fmt: skip
    for fields, path in cases:
        refused = await create_rule(staff, code=f"C{key()[:8]}".upper(), **fields)
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("INVALID_INPUT", path)
        ], fields


@given(
    nth=st.integers(min_value=2, max_value=5),
    repeats=st.booleans(),
    steps=st.lists(st.one_of(st.just("buy"), st.integers(min_value=0, max_value=30)), max_size=40),
)
def test_bonuses_never_outrun_the_purchases_that_count(nth, repeats, steps):
    """Buys and full refunds in any order: a purchase that earns the bonus never leaves more
    bonuses standing (on purchases not refunded) than the purchases standing earn (one per N,
    or one), and a member who only buys gets exactly that."""
    rule = Rule(1, "R", "R", RuleKind.PURCHASE_COUNT, points=1, nth_purchase=nth, repeats=repeats)
    purchases: list[tuple[bool, bool]] = []  # (refunded, earned the bonus)

    def standing() -> tuple[int, int]:
        kept = [bonus for refunded, bonus in purchases if not refunded]
        return len(kept), sum(kept)

    def owed(counted: int) -> int:
        return counted // nth if repeats else min(counted // nth, 1)

    for step in steps:
        if step == "buy":
            paid = purchase_count_due(rule, *standing())
            purchases.append((False, paid))
            counted, bonuses = standing()
            assert not paid or bonuses <= owed(counted)
        elif step < len(purchases):
            purchases[step] = (True, purchases[step][1])
        if all(step == "buy" for step in steps):
            counted, bonuses = standing()
            assert bonuses == owed(counted)
