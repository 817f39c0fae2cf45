"""Every insights report against the ledger it summarizes, on random histories.

Hypothesis builds a history for a fresh brand through the API and the jobs: registrations (a
welcome bonus, referrals), purchases in several stores, online and by a partner (a base rate,
a category multiplier, a threshold bonus whose points expire on their own, a partner's bonus),
reversals in part and in full, adjustments up and down, redemptions (points, and points + cash
paid or not) and their cancellations, the clock moved forward, the expiry job and the tier
evaluation. After the roll-up job, each report must equal the same figure recomputed here in
plain SQL from the ledger's own tables (ledger_entry, lot, balance, redemption, member,
tier_change), and tier qualification must equal its first definition: what EARN and REVERSAL
entries add up to in the window.

Hypothesis runs examples synchronously while the app lives on the session's event loop: the
examples run in a worker thread and hand each coroutine to that loop.
"""

from __future__ import annotations

import asyncio
import calendar
import uuid
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tortoise.connection import get_connection

from db.models import Brand
from domain.brands import create_brand, ensure_store
from domain.insights import reports
from domain.insights.rollups import roll_up
from domain.ledger.audit import audit
from domain.ledger.expiry import run_expiry
from domain.tiers import evaluate_tiers, qualifying_points
from resolvers.ids import parse_id
from tests.support.factories import REVERSE_PURCHASE, Staff, key
from tests.support.partners import create_partner, issue, partner_gql

ZONES = ("Asia/Shanghai", "America/Los_Angeles", "Asia/Kolkata")
POINT_VALUES = (Decimal("0.01"), Decimal("0.05"), Decimal("0.25"))  # whole cents per point
STORES = ("SH-01", "BJ-01", "GZ-01")
MAX_MEMBERS = 4
MAX_ADVANCE = timedelta(days=75)  # per example: the session's clock only ever moves forward
MIDNIGHT_MARGIN = timedelta(minutes=2)
FORECAST_MONTHS = 4
STEP_TIMEOUT = 60
GROUPINGS = ("DAY", "WEEK", "MONTH", "STORE", "PARTNER", "RULE", "TIER")

# A partner sees no member's points: its own documents ask for the entry alone.
PARTNER_PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { entry { points } userErrors { field message code } }
}
"""
PARTNER_REVERSAL = """
mutation ($input: ReversePurchaseInput!) {
  reversePurchase(input: $input) { entry { points } userErrors { field message code } }
}
"""
CREATE_RULE = """
mutation ($input: EarningRuleInput!) {
  createEarningRule(input: $input) { rule { code } userErrors { field message code } }
}
"""
SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) { tier { code } userErrors { field message code } }
}
"""
CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id } userErrors { field message code } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { id } userErrors { field message code } }
}
"""
CANCEL = """
mutation ($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) { redemption { id } userErrors { field message code } }
}
"""
CONFIRM_PAYMENT = """
mutation ($input: ConfirmRedemptionPaymentInput!) {
  confirmRedemptionPayment(input: $input) { redemption { id } userErrors { field message code } }
}
"""
INSIGHTS = """
query ($from: Date!, $to: Date!, $months: Int!) {
  insights {
    liability { asOf points amount byExpiryMonth { month points amount } }
    expiringForecast(months: $months) { month points amount }
    breakage(from: $from, to: $to) { earned expired rate earnedAmount expiredAmount }
    DAY: earnBurn(from: $from, to: $to, groupBy: DAY) { ...row }
    WEEK: earnBurn(from: $from, to: $to, groupBy: WEEK) { ...row }
    MONTH: earnBurn(from: $from, to: $to, groupBy: MONTH) { ...row }
    STORE: earnBurn(from: $from, to: $to, groupBy: STORE) { ...row }
    PARTNER: earnBurn(from: $from, to: $to, groupBy: PARTNER) { ...row }
    RULE: earnBurn(from: $from, to: $to, groupBy: RULE) { ...row }
    TIER: earnBurn(from: $from, to: $to, groupBy: TIER) { ...row }
    members(from: $from, to: $to) {
      active new
      tiers { tierCode tierName members }
      movements { fromTier toTier members }
    }
    redemptions(from: $from, to: $to) {
      items { sku name category units points cash cancelledUnits cancelRate stockLeft sellThrough }
      categories { category units points cash }
    }
  }
}
fragment row on EarnBurnRow { key label earned redeemed expired adjusted reversed }
"""

# What each kind of step may be refused with; anything else fails the test.
MAY_REFUSE = {
    "adjust": {"INSUFFICIENT_POINTS"},
    "reverse": {"INVALID_INPUT"},
    "redeem": {"INSUFFICIENT_POINTS", "OUT_OF_STOCK", "LIMIT_REACHED"},
    "cancel": {"ALREADY_CANCELLED", "CONFLICT"},
    "pay": {"CONFLICT", "ALREADY_CANCELLED", "ENDED"},
}


# The history -------------------------------------------------------------------------------

member_index = st.integers(min_value=0, max_value=MAX_MEMBERS - 1)
later_index = st.integers(min_value=0, max_value=40)  # of a purchase or redemption, modulo
money = st.decimals(min_value=Decimal("1"), max_value=Decimal("320"), places=2)
purchase = st.tuples(
    st.just("purchase"),
    member_index,
    money,
    st.none() | st.integers(min_value=0, max_value=len(STORES) - 1),
    st.booleans(),  # beans, which the category multiplier doubles
)
redemption = st.tuples(st.just("redeem"), member_index, st.integers(0, 2), st.integers(1, 2))
advance = st.tuples(st.just("advance"), st.sampled_from([0, 1, 3, 8, 17, 31]), st.integers(0, 23))
steps = st.one_of(  # a strategy given twice is drawn twice as often
    purchase,
    purchase,
    st.tuples(st.just("partner_purchase"), member_index, money),
    st.tuples(st.just("reverse"), later_index, st.sampled_from([None, "0.25", "0.5", "1"])),
    st.tuples(st.just("adjust"), member_index, st.integers(-150, 150).filter(bool)),
    redemption,
    redemption,
    st.tuples(st.just("cancel"), later_index),
    st.tuples(st.just("pay"), later_index),
    advance,
    advance,
    st.tuples(st.just("expire")),
    st.tuples(st.just("evaluate")),
    st.tuples(st.just("register"), st.none() | member_index),
)
histories = st.tuples(
    st.lists(purchase, min_size=2, max_size=4),  # members who bought something first
    st.lists(steps, min_size=14, max_size=18),
    # Often a last month with nothing expired: lots overdue in an earlier month stay live.
    st.lists(st.tuples(st.just("advance"), st.just(31), st.integers(0, 23)), max_size=1),
).map(lambda parts: [step for part in parts for step in part])
cuts = st.tuples(st.integers(0, 100), st.integers(0, 100))  # a sub-period, in % of the history

PROPERTY_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@dataclass
class PurchaseRecord:
    member_id: str
    order_ref: str
    total: Decimal
    by_partner: bool
    refunded: Decimal = Decimal(0)


@dataclass
class World:
    """One example's brand, its callers, and what the history made so far."""

    brand: Brand
    staff: Staff
    partner_secret: str
    item_ids: list[str]
    initial_stock: dict[str, int]  # by sku, for items of limited stock
    started: datetime
    members: list[dict] = field(default_factory=list)
    purchases: list[PurchaseRecord] = field(default_factory=list)
    redemptions: list[str] = field(default_factory=list)
    advanced: timedelta = timedelta(0)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.brand.timezone)


def codes(payload: dict) -> set[str]:
    return {error["code"] for error in payload["userErrors"]}


def member_pk(member: dict) -> int:
    parsed = parse_id(member["id"])
    assert parsed is not None
    return parsed[1]


async def rows(sql: str, *arguments: Any) -> list[dict[str, Any]]:
    return await get_connection("default").execute_query_dict(sql, list(arguments))


# The checks' own SQL, straight from the ledger's tables ------------------------------------

BALANCES_SQL = """
SELECT COALESCE(SUM(b.available), 0)::bigint AS points
FROM balance b JOIN member m ON m.id = b.member_id WHERE m.brand_id = $1
"""
LIVE_LOTS_SQL = """
SELECT (l.expires_at AT TIME ZONE $2)::date AS expires_on, l.remaining
FROM lot l JOIN member m ON m.id = l.member_id
WHERE m.brand_id = $1 AND l.expired_at IS NULL AND l.remaining > 0
"""
ENTRIES_BEFORE_SQL = """
SELECT COALESCE(SUM(points), 0)::bigint AS points FROM ledger_entry
WHERE brand_id = $1 AND created_at < $2
"""
# Every entry of the period with what it may be grouped by; an EARN entry once per breakdown
# line naming a rule (rule_points), besides once for itself (rule NULL).
ENTRIES_SQL = """
SELECT e.kind, e.points, (e.created_at AT TIME ZONE $4)::date AS day,
       COALESCE(s.code, '') AS store, COALESCE(s.name, 'No store') AS store_name,
       COALESCE(p.code, '') AS partner, COALESCE(p.name, 'The brand') AS partner_name,
       COALESCE(t.code, '') AS tier, COALESCE(t.name, 'No tier') AS tier_name,
       NULL AS rule, NULL AS rule_name
FROM ledger_entry e
LEFT JOIN store s ON s.id = e.store_id
LEFT JOIN partner p ON p.id = e.partner_id
LEFT JOIN tier t ON t.id = e.tier_id
WHERE e.brand_id = $1 AND e.created_at >= $2 AND e.created_at < $3
UNION ALL
SELECT 'EARN', (line->>'points')::int, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       line->>'rule', COALESCE(r.name, line->>'rule')
FROM ledger_entry e
CROSS JOIN jsonb_array_elements(e.breakdown) line
LEFT JOIN earning_rule r ON r.brand_id = e.brand_id AND r.code = line->>'rule'
WHERE e.brand_id = $1 AND e.created_at >= $2 AND e.created_at < $3 AND e.kind = 'EARN'
  AND COALESCE(line->>'rule', '') <> ''
"""
ACTIVE_SQL = """
SELECT COUNT(DISTINCT member_id) AS members FROM ledger_entry
WHERE brand_id = $1 AND created_at >= $2 AND created_at < $3
  AND ((kind = 'EARN' AND points > 0) OR (kind = 'REDEEM' AND points < 0))
"""
JOINED_SQL = """
SELECT COUNT(*) AS members FROM member WHERE brand_id = $1 AND joined_at >= $2 AND joined_at < $3
"""
TIERS_SQL = """
SELECT t.code, t.name, (SELECT COUNT(*) FROM member m WHERE m.tier_id = t.id) AS members
FROM tier t WHERE t.brand_id = $1 ORDER BY t.rank
"""
MOVES_SQL = """
SELECT COALESCE(before.code, '') AS from_tier, after.code AS to_tier,
       COUNT(DISTINCT c.member_id) AS members
FROM tier_change c
JOIN member m ON m.id = c.member_id
JOIN tier after ON after.id = c.current_id
LEFT JOIN tier before ON before.id = c.previous_id
WHERE m.brand_id = $1 AND c.changed_at >= $2 AND c.changed_at < $3
GROUP BY 1, 2
"""
# Points per redemption from its REDEEM entry: the figure is the ledger's, not the order's.
ORDERS_SQL = """
SELECT i.sku, i.name, i.category, i.stock, r.status, r.quantity, r.cash_amount,
       -e.points AS points
FROM redemption r
JOIN catalog_item i ON i.id = r.item_id
JOIN ledger_entry e ON e.id = r.redeem_entry_id
WHERE r.brand_id = $1 AND r.created_at >= $2 AND r.created_at < $3
"""
QUALIFYING_SQL = """
SELECT COALESCE(SUM(points), 0)::bigint AS points FROM ledger_entry
WHERE member_id = $1 AND created_at > $2 AND kind IN ('EARN', 'REVERSAL')
"""
QUALIFYING_ENTRIES_SQL = """
SELECT member_id, created_at FROM ledger_entry
WHERE brand_id = $1 AND kind IN ('EARN', 'REVERSAL')
"""


# Building the history ----------------------------------------------------------------------


async def new_world(app_clock: Any, zone: str, point_value: Decimal, gql, make_token, client):
    """A brand of the example's own: stores, a partner, rules, tiers and a small catalog."""
    brand = await create_brand(
        f"ins{uuid.uuid4().hex[:12]}", "Insights", timezone=zone, expiry_months=1
    )
    await Brand.filter(id=brand.id).update(point_value=point_value, tier_window_months=1)
    brand = await Brand.get(id=brand.id)
    for code in STORES:
        await ensure_store(brand, code, f"Store {code}")
    staff = Staff(gql, make_token(brand, "ADMIN", "admin-1"))
    partner = await create_partner(staff, code="ACME", name="Acme")
    secret = (await issue(staff, partner["id"], ["POINTS_EARN"]))["secret"]
    for rule in (
        {"code": "BEANS_X2", "kind": "CATEGORY_MULTIPLIER", "category": "beans", "multiplier": "2"},
        {"code": "BIG_SPEND", "kind": "THRESHOLD_BONUS", "threshold": "150", "points": 25,
         "expiryDays": 6},
        {"code": "WELCOME", "kind": "REGISTRATION_BONUS", "points": 10},
        {"code": "REFER", "kind": "REFERRAL_BONUS", "points": 15, "referrerPoints": 20},
        {"code": "ACME_EXTRA", "kind": "THRESHOLD_BONUS", "threshold": "1", "points": 7,
         "partnerCodes": ["ACME"]},
    ):  # fmt: skip
        payload = await staff.call(CREATE_RULE, {"name": rule["code"].title(), **rule})
        assert payload["userErrors"] == [], payload
    for code, rank, qualifying, multiplier in (("SILVER", 1, 150, "1"), ("GOLD", 2, 400, "1.5")):
        payload = await staff.call(
            SAVE_TIER,
            {"code": code, "name": code.title(), "rank": rank, "qualifyingPoints": qualifying,
             "earnMultiplier": multiplier},
        )  # fmt: skip
        assert payload["userErrors"] == [], payload
    items = (
        {"sku": "CUP", "kind": "COUPON", "category": "drinks", "pointsPrice": 30, "stock": 6},
        {"sku": "MUG", "kind": "PARTNER_OFFER", "category": "home", "pointsPrice": 45},
        {"sku": "TEA", "kind": "COUPON", "category": "drinks", "pointsPrice": 20,
         "cashPrice": "4.50", "couponValue": "10.00", "stock": 4},
    )  # fmt: skip
    item_ids = []
    for item in items:
        payload = await staff.call(CREATE_ITEM, {"name": item["sku"].title(), **item})
        assert payload["userErrors"] == [], payload
        item_ids.append(payload["item"]["id"])
    world = World(
        brand, staff, secret, item_ids,
        {item["sku"]: item["stock"] for item in items if "stock" in item}, app_clock.now(),
    )  # fmt: skip
    for name in ("Ada", "Bo"):
        world.members.append(await staff.register(name))
    return world


async def take_step(world: World, step: tuple, runtime: Any, make_token, client) -> None:
    """Make one step of the history; a refusal must be one the step may meet."""
    kind, *arguments = step
    staff = world.staff
    payload: dict | None = None
    if kind == "register":
        (referrer,) = arguments
        if len(world.members) < MAX_MEMBERS:
            fields = {}
            if referrer is not None:
                fields["referralCode"] = world.members[referrer % len(world.members)][
                    "referralCode"
                ]
            world.members.append(await staff.register(f"Member {len(world.members)}", **fields))
    elif kind == "purchase":
        index, total, store, beans = arguments
        member = world.members[index % len(world.members)]
        order_ref = key()
        lines = [{"sku": "B-1", "category": "beans", "quantity": 1, "unitPrice": f"{total:.2f}"}]
        payload = await staff.purchase(
            member["id"], f"{total:.2f}", orderRef=order_ref,
            storeCode=None if store is None else STORES[store], lines=lines if beans else None,
        )  # fmt: skip
        assert payload["userErrors"] == [], payload
        world.purchases.append(PurchaseRecord(member["id"], order_ref, total, by_partner=False))
    elif kind == "partner_purchase":
        index, total = arguments
        member = world.members[index % len(world.members)]
        order_ref = key()
        payload = await as_partner(
            world, client, PARTNER_PURCHASE,
            {"memberId": member["id"], "orderRef": order_ref, "total": f"{total:.2f}"},
        )  # fmt: skip
        assert payload["userErrors"] == [], payload
        world.purchases.append(PurchaseRecord(member["id"], order_ref, total, by_partner=True))
    elif kind == "reverse":
        index, share = arguments
        purchase = world.purchases[index % len(world.purchases)]
        refundable = purchase.total - purchase.refunded
        if refundable <= 0:
            return
        amount = None if share is None else max(
            (refundable * Decimal(share)).quantize(Decimal("0.01")), Decimal("0.01")
        )  # fmt: skip
        input = {"memberId": purchase.member_id, "orderRef": purchase.order_ref,
                 "amount": None if amount is None else f"{amount:.2f}"}  # fmt: skip
        if purchase.by_partner:
            payload = await as_partner(world, client, PARTNER_REVERSAL, input)
        else:
            payload = await staff.call(REVERSE_PURCHASE, input)
        if not payload["userErrors"]:
            purchase.refunded += refundable if amount is None else amount
    elif kind == "adjust":
        index, points = arguments
        member = world.members[index % len(world.members)]
        payload = await staff.adjust(member["id"], points)
    elif kind == "redeem":
        index, item, quantity = arguments
        member = world.members[index % len(world.members)]
        token = make_token(world.brand, "MEMBER", member["id"])
        variables = {"input": {"itemId": world.item_ids[item], "quantity": quantity,
                               "idempotencyKey": key()}}  # fmt: skip
        body = await staff.gql(REDEEM, variables, token=token)
        assert "errors" not in body, body
        payload = body["data"]["redeem"]
        if payload["redemption"] is not None:
            world.redemptions.append(payload["redemption"]["id"])
    elif kind in ("cancel", "pay") and world.redemptions:
        (index,) = arguments
        redemption_id = world.redemptions[index % len(world.redemptions)]
        if kind == "cancel":
            payload = await staff.call(CANCEL, {"redemptionId": redemption_id, "reason": "no"})
        else:
            payload = await staff.call(
                CONFIRM_PAYMENT, {"redemptionId": redemption_id, "paymentReference": key()}
            )
    elif kind == "advance":
        days, hours = arguments
        step_by = min(timedelta(days=days, hours=hours), MAX_ADVANCE - world.advanced)
        if step_by > timedelta(0):
            runtime.clock.advance(step_by)
            world.advanced += step_by
    elif kind == "expire":
        await run_expiry(runtime, brand_code=world.brand.code)
    elif kind == "evaluate":
        await evaluate_tiers(runtime, brand_code=world.brand.code)
    if payload is not None:
        assert codes(payload) <= MAY_REFUSE.get(kind, set()), (step, payload)


async def as_partner(world: World, client, document: str, input: dict) -> dict:
    body = await partner_gql(
        client, world.partner_secret, document, {"input": {**input, "idempotencyKey": key()}}
    )
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    return payload


async def rolled_up(world: World, runtime: Any) -> None:
    """Run the roll-up job until it has summed every entry of the brand: it sums settled
    transactions only, and another session's open transaction may hold it back a moment."""
    (last,) = await rows(
        "SELECT COALESCE(MAX(txid), 0) AS txid FROM ledger_entry WHERE brand_id = $1",
        world.brand.id,
    )
    for _ in range(200):
        await roll_up(runtime)
        (mark,) = await rows("SELECT next_xid FROM rollup_watermark WHERE name = 'ledger'")
        if mark["next_xid"] > last["txid"]:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the roll-up job did not pass the brand's last entry")


def clear_of_midnight(world: World, runtime: Any) -> datetime:
    """Now, a few minutes clear of the brand's midnight: the reports read the clock a moment
    after the checks do, and must see the same day."""
    local = runtime.clock.now().astimezone(world.zone)
    since_midnight = local - datetime.combine(local.date(), time.min, tzinfo=world.zone)
    if since_midnight < MIDNIGHT_MARGIN or since_midnight > timedelta(days=1) - MIDNIGHT_MARGIN:
        runtime.clock.advance(2 * MIDNIGHT_MARGIN)
    return runtime.clock.now()


# The checks --------------------------------------------------------------------------------


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def money_of(points: int, world: World) -> Decimal:
    return Decimal(points) * world.brand.point_value


async def check_liability(world: World, shown: dict, forecast: list[dict], now: datetime):
    """Today's liability is every member's balance and every live lot, by the brand-local
    month it expires in; the forecast is those months from this one (which takes the overdue
    ones); an earlier day's is every entry written before that day ended."""
    zone = world.zone
    today = now.astimezone(zone).date()
    (balances,) = await rows(BALANCES_SQL, world.brand.id)
    lots = await rows(LIVE_LOTS_SQL, world.brand.id, world.brand.timezone)
    by_month: dict[date, int] = defaultdict(int)
    for lot in lots:
        by_month[month_of(lot["expires_on"])] += lot["remaining"]
    assert shown["asOf"] == today.isoformat()
    assert shown["points"] == balances["points"] == sum(by_month.values())
    assert Decimal(shown["amount"]) == money_of(shown["points"], world)
    assert [(m["month"], m["points"]) for m in shown["byExpiryMonth"]] == [
        (month.isoformat(), points) for month, points in sorted(by_month.items())
    ]
    for month in shown["byExpiryMonth"]:
        assert Decimal(month["amount"]) == money_of(month["points"], world)

    this_month = month_of(today)
    expected_forecast = []
    month = this_month
    for index in range(FORECAST_MONTHS):
        due = sum(
            points for of, points in by_month.items() if of == month or (index == 0 and of < month)
        )
        expected_forecast.append((month.isoformat(), due))
        month = next_month(month)
    assert [(m["month"], m["points"]) for m in forecast] == expected_forecast
    for month in forecast:
        assert Decimal(month["amount"]) == money_of(month["points"], world)

    # An earlier day's liability: every entry written before its end, the day before the
    # history began included.
    figures = reports.Figures(world.brand)
    day = world.started.astimezone(zone).date() - timedelta(days=1)
    while day < today:
        (written,) = await rows(
            ENTRIES_BEFORE_SQL, world.brand.id, midnight(day + timedelta(days=1), zone)
        )
        past = await reports.liability(figures, day, now)
        assert (day, past.points) == (day, written["points"])
        assert past.amount == money_of(past.points, world)
        day += timedelta(days=1)


def group_key(entry: dict, grouping: str) -> tuple[str, str]:
    """(key, label) of an entry's group."""
    day = entry["day"]
    if grouping == "DAY":
        return day.isoformat(), day.isoformat()
    if grouping == "WEEK":
        monday = (day - timedelta(days=day.isoweekday() - 1)).isoformat()
        return monday, monday
    if grouping == "MONTH":
        first = month_of(day).isoformat()
        return first, first
    if grouping == "RULE":
        return entry["rule"], entry["rule_name"]
    column = grouping.lower()
    return entry[column], entry[f"{column}_name"]


async def check_earn_and_burn(world: World, shown: dict, start: date, end: date) -> None:
    """earnBurn by every grouping, and breakage, are the period's entries summed per group:
    the entry's brand-local day, store, partner and tier then; by rule, the EARN entries'
    breakdown lines."""
    zone = world.zone
    entries = await rows(
        ENTRIES_SQL,
        world.brand.id,
        midnight(start, zone),
        midnight(end + timedelta(days=1), zone),
        world.brand.timezone,
    )
    for grouping in GROUPINGS:
        expected: dict[tuple[str, str], list[int]] = {}
        for entry in entries:
            if (grouping == "RULE") != (entry["rule"] is not None):
                continue
            sums = expected.setdefault(group_key(entry, grouping), [0, 0, 0, 0, 0])
            points = entry["points"]
            kind = entry["kind"]
            if kind == "EARN":
                sums[0] += points
            elif kind in ("REDEEM", "REFUND"):
                sums[1] -= points
            elif kind == "EXPIRE":
                sums[2] -= points
            elif kind == "ADJUST":
                sums[3] += points
            elif kind == "REVERSAL":
                sums[4] -= points
        got = {
            (row["key"], row["label"]): [
                row["earned"],
                row["redeemed"],
                row["expired"],
                row["adjusted"],
                row["reversed"],
            ]
            for row in shown[grouping]
        }
        assert len(got) == len(shown[grouping]), (grouping, shown[grouping])
        assert got == expected, grouping

    earned = sum(e["points"] for e in entries if e["kind"] == "EARN" and e["rule"] is None)
    expired = -sum(e["points"] for e in entries if e["kind"] == "EXPIRE")
    assert shown["breakage"] == {
        "earned": earned,
        "expired": expired,
        "rate": expired / earned if earned else None,
        "earnedAmount": f"{money_of(earned, world):.2f}",
        "expiredAmount": f"{money_of(expired, world):.2f}",
    }


async def check_members(world: World, shown: dict, start: date, end: date) -> None:
    """Members who earned or spent, who joined, per tier now, and who moved between tiers."""
    zone = world.zone
    since, until = midnight(start, zone), midnight(end + timedelta(days=1), zone)
    (active,) = await rows(ACTIVE_SQL, world.brand.id, since, until)
    (joined,) = await rows(JOINED_SQL, world.brand.id, since, until)
    tiers = await rows(TIERS_SQL, world.brand.id)
    moves = await rows(MOVES_SQL, world.brand.id, since, until)
    assert (shown["active"], shown["new"]) == (active["members"], joined["members"])
    assert shown["tiers"] == [
        {"tierCode": t["code"], "tierName": t["name"], "members": t["members"]} for t in tiers
    ]
    assert sum(t["members"] for t in shown["tiers"]) == len(world.members)
    assert {(m["fromTier"], m["toTier"]): m["members"] for m in shown["movements"]} == {
        (m["from_tier"], m["to_tier"]): m["members"] for m in moves
    }


async def check_redemptions(
    world: World, shown: dict, start: date, end: date, whole_history: bool
) -> None:
    """Per item and category: units and points (from the REDEEM entries) not cancelled, cash
    paid, units cancelled, and stock sold through."""
    zone = world.zone
    orders = await rows(
        ORDERS_SQL, world.brand.id, midnight(start, zone), midnight(end + timedelta(days=1), zone)
    )
    items: dict[str, dict[str, Any]] = {}
    for order in orders:
        item = items.setdefault(
            order["sku"],
            {"sku": order["sku"], "name": order["name"], "category": order["category"],
             "units": 0, "points": 0, "cash": Decimal(0), "cancelledUnits": 0,
             "stockLeft": order["stock"]},
        )  # fmt: skip
        if order["status"] == "CANCELLED":
            item["cancelledUnits"] += order["quantity"]
            continue
        item["units"] += order["quantity"]
        item["points"] += order["points"]
        if order["status"] in ("CONFIRMED", "FULFILLED"):
            item["cash"] += order["cash_amount"]
    got = {item["sku"]: item for item in shown["items"]}
    assert got.keys() == items.keys()
    for sku, expected in items.items():
        item = dict(got[sku])
        ordered = expected["units"] + expected["cancelledUnits"]
        assert item.pop("cancelRate") == (expected["cancelledUnits"] / ordered if ordered else None)
        sell_through = item.pop("sellThrough")
        if expected["stockLeft"] is None:
            assert sell_through is None
        else:
            offered = expected["units"] + expected["stockLeft"]
            assert sell_through == (expected["units"] / offered if offered else None)
            if whole_history:  # every unit ever ordered is in the period: none is lost
                assert offered == world.initial_stock[sku]
        item["cash"] = Decimal(item["cash"])
        assert item == expected, sku
    categories: dict[str, list[Any]] = {}
    for item in items.values():
        total = categories.setdefault(item["category"], [0, 0, Decimal(0)])
        total[0] += item["units"]
        total[1] += item["points"]
        total[2] += item["cash"]
    assert {
        c["category"]: [c["units"], c["points"], Decimal(c["cash"])] for c in shown["categories"]
    } == categories


def shift_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (earlier if negative), or the month's last day."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


async def check_qualification(world: World, now: datetime) -> None:
    """Tier qualification, read from the roll-ups, equals what the EARN and REVERSAL entries
    after the window's start add up to (never below zero): now, and when the window starts
    just before and just after each of the member's entries, on that entry's day."""
    brand = await Brand.get(id=world.brand.id)
    window = brand.tier_window_months
    moments = {(member_pk(member), now) for member in world.members}
    for entry in await rows(QUALIFYING_ENTRIES_SQL, brand.id):
        for offset in (-timedelta(minutes=1), timedelta(minutes=1)):
            moments.add((entry["member_id"], shift_months(entry["created_at"] + offset, window)))
    for member_id, at in sorted(moments):
        (summed,) = await rows(QUALIFYING_SQL, member_id, shift_months(at, -window))
        got = await qualifying_points(member_id, brand, at)
        assert (member_id, at, got) == (member_id, at, max(summed["points"], 0))


async def check_reports(world: World, runtime: Any, gql, make_token, cut: tuple[int, int]):
    await rolled_up(world, runtime)
    now = clear_of_midnight(world, runtime)
    zone = world.zone
    first_day = world.started.astimezone(zone).date()
    today = now.astimezone(zone).date()
    span = (today - first_day).days
    low, high = sorted(cut)
    periods = [
        (first_day - timedelta(days=1), today, True),
        (first_day + timedelta(days=span * low // 100),
         first_day + timedelta(days=span * high // 100), False),
    ]  # fmt: skip
    reader = make_token(world.brand, "ANALYST", "reader")
    for start, end, whole_history in periods:
        variables = {"from": start.isoformat(), "to": end.isoformat(), "months": FORECAST_MONTHS}
        body = await gql(INSIGHTS, variables, token=reader)
        assert "errors" not in body, body
        shown = body["data"]["insights"]
        await check_earn_and_burn(world, shown, start, end)
        await check_members(world, shown["members"], start, end)
        await check_redemptions(world, shown["redemptions"], start, end, whole_history)
    await check_liability(world, shown["liability"], shown["expiringForecast"], now)
    await check_qualification(world, now)
    findings = await audit(brand_id=world.brand.id)
    assert findings == [], [finding.describe() for finding in findings]


@dataclass(frozen=True)
class Harness:
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(STEP_TIMEOUT)


@pytest.mark.timeout(600)
async def test_every_report_equals_the_ledger_it_sums(runtime, gql, make_token, client):
    harness = Harness(asyncio.get_running_loop())

    async def build_and_check(
        zone: str, point_value: Decimal, history: list[tuple], cut: tuple[int, int]
    ) -> None:
        world = await new_world(runtime.clock, zone, point_value, gql, make_token, client)
        for step in history:
            await take_step(world, step, runtime, make_token, client)
        await check_reports(world, runtime, gql, make_token, cut)

    @PROPERTY_SETTINGS
    @given(st.sampled_from(ZONES), st.sampled_from(POINT_VALUES), histories, cuts)
    @example(  # Ada up to Silver, down at the evaluation a month later, and up again
        "Asia/Shanghai",
        Decimal("0.01"),
        [("purchase", 0, Decimal("200"), 0, False), ("advance", 40, 0), ("evaluate",),
         ("purchase", 0, Decimal("200"), 1, False)],
        (0, 100),
    )  # fmt: skip
    def reports_agree(zone, point_value, history, cut) -> None:
        harness.run(build_and_check(zone, point_value, history, cut))

    await asyncio.to_thread(reports_agree)
