"""redeem and cancelRedemption: a member spends points on a catalog item in one transaction
(first-to-expire lots first, stock never below zero, at most once per key), every refusal
writes nothing, and a cancel gives back exactly the points taken, to the lots they came from,
and the stock, once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from db.models import (
    Balance,
    CatalogItem,
    Coupon,
    IdempotencyRecord,
    LedgerEntry,
    LedgerKind,
    Lot,
    LotConsumption,
    Redemption,
)
from domain.brands import create_brand
from domain.ledger.audit import audit
from resolvers.ids import encode_id
from tests.support.factories import SET_STATUS, Staff, key, unique_code
from tests.support.ledger import iso, pk

DEADLINE = 120  # seconds: a deadlock fails the test instead of hanging the run
ZONE = "Asia/Shanghai"  # the `brand` fixture's timezone

CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) {
    item { id sku kind stock perMemberLimit pointsPrice }
    userErrors { field message code }
  }
}
"""

ARCHIVE_ITEM = """
mutation ($input: ArchiveCatalogItemInput!) {
  archiveCatalogItem(input: $input) { item { id status } userErrors { field code } }
}
"""

REDEMPTION_FIELDS = """
    id quantity pointsSpent cashAmount status createdAt confirmedAt cancelledAt cancelReason
    item { id stock }
    coupons { code value usedAt voidedAt }
    shippingAddress { recipient phone line1 line2 city region postalCode country }
"""

REDEEM = f"""
mutation ($input: RedeemInput!) {{
  redeem(input: $input) {{
    redemption {{ {REDEMPTION_FIELDS} }}
    member {{ points {{ available version lifetimeRedeemed }} }}
    userErrors {{ field message code }}
  }}
}}
"""

CANCEL = f"""
mutation ($input: CancelRedemptionInput!) {{
  cancelRedemption(input: $input) {{
    redemption {{ {REDEMPTION_FIELDS} }}
    member {{ points {{ available version lifetimeRedeemed }} }}
    userErrors {{ field message code }}
  }}
}}
"""

CONSUME_COUPON = """
mutation ($input: ConsumeCouponInput!) {
  consumeCoupon(input: $input) { coupon { code usedAt voidedAt } userErrors { field code } }
}
"""

SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) { tier { id code } userErrors { field code } }
}
"""


MY_ITEM = """
query ($id: ID!) {
  node(id: $id) { ... on CatalogItem { stock memberPrice available } }
}
"""

ME = "{ me { tier { code } points { available version lifetimeRedeemed } } }"

ADDRESS = {
    "recipient": "Ada Lovelace",
    "phone": "13800138000",
    "line1": "1 Nanjing Road",
    "city": "Shanghai",
    "country": "CN",
}
SHOWN_ADDRESS = {**ADDRESS, "line2": None, "region": None, "postalCode": None}


def codes(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


def top_level_code(body: dict) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


@dataclass
class Shopper:
    """A member calling the API with their own token."""

    gql: object
    token: str
    id: str

    async def call(self, document: str, input: dict) -> dict:
        body = await self.gql(document, {"input": input}, token=self.token)
        assert "errors" not in body, body
        (payload,) = body["data"].values()
        return payload

    async def redeem(
        self, item_id: str, quantity: int = 1, *, idempotency_key: str | None = None, **fields
    ) -> dict:
        return await self.call(
            REDEEM,
            {
                "itemId": item_id,
                "quantity": quantity,
                "idempotencyKey": idempotency_key or key(),
                **fields,
            },
        )

    async def me(self) -> dict:
        body = await self.gql(ME, token=self.token)
        assert "errors" not in body, body
        return body["data"]["me"]

    async def item(self, item_id: str) -> dict:
        body = await self.gql(MY_ITEM, {"id": item_id}, token=self.token)
        assert "errors" not in body, body
        return body["data"]["node"]


async def cancel(caller, redemption_id: str, reason: str = "changed my mind", **fields) -> dict:
    """cancelRedemption as a Shopper or as Staff."""
    return await caller.call(
        CANCEL,
        {
            "redemptionId": redemption_id,
            "reason": reason,
            "idempotencyKey": fields.pop("idempotencyKey", key()),
            **fields,
        },
    )


async def create_item(staff: Staff, **fields) -> dict:
    sku = fields.pop("sku", unique_code("sku"))
    payload = await staff.call(
        CREATE_ITEM,
        {
            "sku": sku,
            "name": fields.pop("name", f"Item {sku}"),
            "kind": fields.pop("kind", "PARTNER_OFFER"),
            "category": fields.pop("category", "gifts"),
            "pointsPrice": fields.pop("pointsPrice", 100),
            **fields,
        },
    )
    assert payload["userErrors"] == [], payload
    return payload["item"]


@pytest.fixture
def shopper(staff, gql, make_token, brand):
    """A new member of the brand holding `points` (one purchase lot), calling as themselves."""

    async def make(points: int = 0, name: str = "Ada") -> Shopper:
        member = await staff.register(name)
        if points:
            await staff.purchase(member["id"], f"{points}.00")
        return Shopper(gql, make_token(brand, "MEMBER", member["id"]), member["id"])

    return make


@dataclass(frozen=True)
class State:
    """Everything a redemption or a cancel could change: compared around a refused call."""

    balance: tuple[int, int, int, int, int]
    entries: int
    lots: list[tuple[int, int, object]]
    consumptions: list[tuple[int, int, int]]
    redemptions: list[tuple[int, str, int]]
    items: list[tuple[int | None, int, str]]
    coupons: list[tuple[int, object, object]]
    keys: int


async def state(member_id: str, *item_ids: str) -> State:
    member = pk(member_id)
    balance = await Balance.get(member_id=member)
    lot_rows = await Lot.filter(member_id=member).order_by("id")
    redemptions = await Redemption.filter(member_id=member).order_by("id")
    items = [await CatalogItem.get(id=pk(item_id)) for item_id in item_ids]
    return State(
        balance=(
            balance.available,
            balance.version,
            balance.shortfall,
            balance.lifetime_earned,
            balance.lifetime_redeemed,
        ),
        entries=await LedgerEntry.filter(member_id=member).count(),
        lots=[(lot.id, lot.remaining, lot.expired_at) for lot in lot_rows],
        consumptions=[
            (row.id, row.points, row.returned)
            for row in await LotConsumption.filter(lot__member_id=member).order_by("id")
        ],
        redemptions=[(row.id, row.status.value, row.quantity) for row in redemptions],
        items=[(item.stock, item.redeemed_count, item.status.value) for item in items],
        coupons=[
            (row.id, row.used_at, row.voided_at)
            for row in await Coupon.filter(redemption__member_id=member).order_by("id")
        ],
        keys=await IdempotencyRecord.filter(principal=f"MEMBER:{member_id}").count(),
    )


async def refused(
    shopper: Shopper, item_id: str, expected: tuple[str, list[str]], quantity: int = 1, **fields
) -> None:
    """The redemption is refused with `expected` (code, field) and writes nothing at all."""
    before = await state(shopper.id, item_id)
    payload = await shopper.redeem(item_id, quantity, **fields)
    assert codes(payload) == [expected], payload
    assert (payload["redemption"], payload["member"]) == (None, None)
    assert await state(shopper.id, item_id) == before


async def stock_of(item_id: str) -> tuple[int | None, int]:
    item = await CatalogItem.get(id=pk(item_id))
    return item.stock, item.redeemed_count


async def entry_of(redemption_id: str) -> LedgerEntry:
    redemption = await Redemption.get(id=pk(redemption_id))
    return await LedgerEntry.get(id=redemption.redeem_entry_id)


async def taken_by(entry: LedgerEntry) -> list[tuple[int, int, int]]:
    """(lot id, points, returned) a debit took, in the order it took them."""
    rows = await LotConsumption.filter(entry_id=entry.id).order_by("id")
    return [(row.lot_id, row.points, row.returned) for row in rows]


async def lots_of(member_id: str) -> list[Lot]:
    return await Lot.filter(member_id=pk(member_id)).order_by("id")


async def kinds_of(member_id: str) -> list[tuple[str, int, int]]:
    rows = await LedgerEntry.filter(member_id=pk(member_id)).order_by("version")
    return [(row.kind.value, row.points, row.balance_after) for row in rows]


async def audit_clean(*member_ids: str) -> None:
    for member_id in member_ids:
        assert await audit(member_id=pk(member_id)) == [], member_id


# --- redeem: the happy path ---------------------------------------------------------------


async def test_a_redemption_takes_the_points_and_the_stock_and_is_confirmed(staff, shopper, clock):
    item = await create_item(staff, kind="PHYSICAL", pointsPrice=100, stock=10, name="Mug")
    member = await shopper(500)
    redeemed = await member.redeem(item["id"], 2, shippingAddress=ADDRESS)
    assert codes(redeemed) == []
    redemption = redeemed["redemption"]
    assert {
        name: redemption[name]
        for name in ("quantity", "pointsSpent", "cashAmount", "status", "cancelledAt")
    } == {
        "quantity": 2,
        "pointsSpent": 200,
        "cashAmount": "0.00",
        "status": "CONFIRMED",
        "cancelledAt": None,
    }
    assert redemption["confirmedAt"] == redemption["createdAt"]
    assert redemption["item"] == {"id": item["id"], "stock": 8}
    assert redemption["coupons"] == []  # a physical item issues no codes
    assert redemption["shippingAddress"] == SHOWN_ADDRESS
    assert redeemed["member"]["points"] == {"available": 300, "version": 2, "lifetimeRedeemed": 200}

    entry = await entry_of(redemption["id"])
    assert (entry.kind, entry.points, entry.balance_after, entry.version) == (
        LedgerKind.REDEEM,
        -200,
        300,
        2,
    )
    assert entry.description == "Redeemed 2 x Mug"
    (lot,) = await lots_of(member.id)
    assert await taken_by(entry) == [(lot.id, 200, 0)]
    assert (lot.points, lot.remaining) == (500, 300)
    assert await stock_of(item["id"]) == (8, 2)
    assert await member.me() == {
        "tier": {"code": "BASE"},
        "points": {"available": 300, "version": 2, "lifetimeRedeemed": 200},
    }
    await audit_clean(member.id)


async def test_a_redemption_spends_the_lots_that_expire_first(staff, shopper, clock):
    item = await create_item(staff, pointsPrice=150)
    member = await shopper(0)
    late = await staff.purchase(member.id, "100.00")
    soon = await staff.purchase(
        member.id, "100.00", occurredAt=iso(clock.now() - timedelta(days=20))
    )
    redeemed = await member.redeem(item["id"])
    assert codes(redeemed) == []
    late_lot, soon_lot = [await Lot.get(entry_id=pk(e["entry"]["id"])) for e in (late, soon)]
    assert soon_lot.expires_at < late_lot.expires_at
    assert await taken_by(await entry_of(redeemed["redemption"]["id"])) == [
        (soon_lot.id, 100, 0),
        (late_lot.id, 50, 0),
    ]
    assert [(lot.id, lot.remaining) for lot in await lots_of(member.id)] == [
        (late_lot.id, 50),
        (soon_lot.id, 0),
    ]
    await audit_clean(member.id)


async def test_the_tier_discount_lowers_the_price_rounded_down(staff, shopper, gql):
    saved = await staff.call(
        SAVE_TIER,
        {
            "code": "SILVER",
            "name": "Silver",
            "rank": 1,
            "qualifyingPoints": 100,
            "discountPercent": 10,
        },
    )
    assert saved["userErrors"] == []
    hundred = await create_item(staff, pointsPrice=100)
    odd = await create_item(staff, pointsPrice=99)
    silver = await shopper(500)  # 500 earned: SILVER at once
    base = await shopper(50, "Bea")
    assert (await silver.me())["tier"] == {"code": "SILVER"}
    assert (await silver.item(hundred["id"]))["memberPrice"] == 90
    assert (await silver.item(odd["id"]))["memberPrice"] == 89  # 89.1, in the member's favour

    first = await silver.redeem(hundred["id"])
    assert codes(first) == []
    assert first["redemption"]["pointsSpent"] == 90
    assert first["member"]["points"]["available"] == 410
    second = await silver.redeem(odd["id"], 2)
    assert second["redemption"]["pointsSpent"] == 178  # 89 each
    assert second["member"]["points"]["available"] == 232
    assert (await entry_of(second["redemption"]["id"])).points == -178

    assert (await base.item(odd["id"]))["memberPrice"] == 99
    await refused(base, odd["id"], ("INSUFFICIENT_POINTS", ["itemId"]))
    await audit_clean(silver.id, base.id)


# --- redeem: every refusal writes nothing ---------------------------------------------------


async def test_an_unknown_or_archived_item_is_not_found(staff, shopper):
    member = await shopper(1000)
    archived = await create_item(staff)
    payload = await staff.call(ARCHIVE_ITEM, {"id": archived["id"]})
    assert payload["userErrors"] == []
    await refused(member, archived["id"], ("NOT_FOUND", ["itemId"]))
    unknown = encode_id("CatalogItem", 2_000_000_000)
    before = await state(member.id)
    payload = await member.redeem(unknown)
    assert codes(payload) == [("NOT_FOUND", ["itemId"])]
    assert await state(member.id) == before
    not_an_item = await member.redeem(member.id)  # a Member's id
    assert codes(not_an_item) == [("INVALID_INPUT", ["itemId"])]
    assert await state(member.id) == before


async def test_another_brands_item_is_not_found(staff, shopper, gql, make_token):
    other_brand = await create_brand(unique_code(), "Other Brand", timezone=ZONE)
    theirs = await create_item(Staff(gql, make_token(other_brand, "ADMIN", "admin-1")), stock=5)
    member = await shopper(1000)
    await refused(member, theirs["id"], ("NOT_FOUND", ["itemId"]))
    assert await stock_of(theirs["id"]) == (5, 0)


async def test_an_item_before_its_window_is_not_started_and_after_it_ended(staff, shopper, clock):
    now = clock.now()
    early = await create_item(staff, availableFrom=iso(now + timedelta(days=1)))
    late = await create_item(
        staff,
        availableFrom=iso(now - timedelta(days=2)),
        availableUntil=iso(now - timedelta(seconds=1)),
    )
    member = await shopper(1000)
    await refused(member, early["id"], ("NOT_STARTED", ["itemId"]))
    await refused(member, late["id"], ("ENDED", ["itemId"]))
    clock.advance(timedelta(days=1, seconds=1))
    opened = await member.redeem(early["id"])
    assert codes(opened) == [] and opened["redemption"]["status"] == "CONFIRMED"


async def test_an_item_above_the_members_tier_needs_the_tier(staff, shopper):
    saved = await staff.call(
        SAVE_TIER, {"code": "GOLD", "name": "Gold", "rank": 1, "qualifyingPoints": 5000}
    )
    gold_only = await create_item(staff, minTierId=saved["tier"]["id"], pointsPrice=10)
    member = await shopper(1000)
    await refused(member, gold_only["id"], ("TIER_REQUIRED", ["itemId"]))
    gold = await shopper(5000, "Gil")
    assert codes(await gold.redeem(gold_only["id"])) == []


async def test_the_per_member_limit_counts_every_redemption_but_cancelled_ones(staff, shopper):
    item = await create_item(staff, perMemberLimit=3, pointsPrice=10, stock=100)
    member = await shopper(1000)
    other = await shopper(1000, "Bea")
    two = await member.redeem(item["id"], 2)
    assert codes(two) == []
    await refused(member, item["id"], ("LIMIT_REACHED", ["quantity"]), quantity=2)
    assert codes(await member.redeem(item["id"])) == []  # the third
    await refused(member, item["id"], ("LIMIT_REACHED", ["quantity"]))
    assert codes(await other.redeem(item["id"], 3)) == []  # the limit is per member

    cancelled = await cancel(member, two["redemption"]["id"])
    assert codes(cancelled) == []
    again = await member.redeem(item["id"], 2)  # the cancelled two no longer count
    assert codes(again) == []
    await refused(member, item["id"], ("LIMIT_REACHED", ["quantity"]))
    assert await stock_of(item["id"]) == (100 - 1 - 3 - 2, 6)
    assert (await member.me())["points"]["available"] == 1000 - 30
    await audit_clean(member.id, other.id)


async def test_an_item_out_of_stock_or_short_of_the_quantity_is_refused(staff, shopper):
    empty = await create_item(staff, stock=0)
    three = await create_item(staff, stock=3, pointsPrice=10)
    member = await shopper(1000)
    await refused(member, empty["id"], ("OUT_OF_STOCK", ["itemId"]))
    await refused(member, three["id"], ("OUT_OF_STOCK", ["itemId"]), quantity=4)
    last = await member.redeem(three["id"], 3)
    assert codes(last) == []
    assert last["redemption"]["item"]["stock"] == 0
    await refused(member, three["id"], ("OUT_OF_STOCK", ["itemId"]))
    assert await stock_of(three["id"]) == (0, 3)


async def test_a_member_short_of_points_is_refused_and_may_retry_the_same_key(staff, shopper):
    item = await create_item(staff, pointsPrice=300, stock=5)
    member = await shopper(299)
    retried = key()
    await refused(member, item["id"], ("INSUFFICIENT_POINTS", ["itemId"]), idempotency_key=retried)
    await refused(member, item["id"], ("INSUFFICIENT_POINTS", ["itemId"]), quantity=2)
    await staff.purchase(member.id, "1.00")
    # A refusal keeps no record of its key: the same call succeeds once the points are there.
    redeemed = await member.redeem(item["id"], idempotency_key=retried)
    assert codes(redeemed) == []
    assert redeemed["member"]["points"]["available"] == 0
    assert await stock_of(item["id"]) == (4, 1)
    await audit_clean(member.id)


async def test_a_frozen_member_cannot_redeem(staff, shopper):
    item = await create_item(staff, stock=5)
    member = await shopper(1000)
    frozen = await staff.call(
        SET_STATUS, {"memberId": member.id, "status": "FROZEN", "reason": "fraud check"}
    )
    assert frozen == {"member": {"status": "FROZEN"}, "userErrors": []}
    await refused(member, item["id"], ("MEMBER_FROZEN", ["memberId"]))


@pytest.mark.parametrize("quantity", [0, -1, 11])
async def test_a_quantity_outside_one_to_ten_is_invalid(staff, shopper, quantity):
    item = await create_item(staff, pointsPrice=1, stock=100)
    member = await shopper(1000)
    await refused(member, item["id"], ("INVALID_INPUT", ["quantity"]), quantity=quantity)


async def test_ten_is_the_largest_quantity(staff, shopper):
    item = await create_item(staff, pointsPrice=1, stock=100)
    member = await shopper(1000)
    redeemed = await member.redeem(item["id"], 10)
    assert codes(redeemed) == []
    assert (redeemed["redemption"]["pointsSpent"], redeemed["redemption"]["quantity"]) == (10, 10)


async def test_a_physical_item_needs_an_address_then_reuses_the_last_one(staff, shopper):
    mug = await create_item(staff, kind="PHYSICAL", pointsPrice=10, stock=10)
    cap = await create_item(staff, kind="PHYSICAL", pointsPrice=10, stock=10)
    coupon = await create_item(staff, kind="COUPON", pointsPrice=10, couponValue="5.00")
    member = await shopper(1000)
    await refused(member, mug["id"], ("INVALID_INPUT", ["shippingAddress"]))
    incomplete = {**ADDRESS, "city": "  "}
    await refused(
        member,
        mug["id"],
        ("INVALID_INPUT", ["shippingAddress", "city"]),
        shippingAddress=incomplete,
    )

    first = await member.redeem(mug["id"], shippingAddress={**ADDRESS, "region": " Pudong "})
    assert codes(first) == []
    assert first["redemption"]["shippingAddress"] == {**SHOWN_ADDRESS, "region": "Pudong"}
    # A coupon in between has no address and does not hide the last physical one.
    assert codes(await member.redeem(coupon["id"])) == []
    second = await member.redeem(cap["id"])
    assert codes(second) == []
    assert second["redemption"]["shippingAddress"] == {**SHOWN_ADDRESS, "region": "Pudong"}

    moved = {**ADDRESS, "line1": "2 Huaihai Road", "postalCode": "200000"}
    third = await member.redeem(mug["id"], shippingAddress=moved)
    assert third["redemption"]["shippingAddress"] == {**SHOWN_ADDRESS, **moved}
    fourth = await member.redeem(cap["id"])
    assert fourth["redemption"]["shippingAddress"] == {**SHOWN_ADDRESS, **moved}

    other = await shopper(1000, "Bea")  # another member's address is never used
    await refused(other, cap["id"], ("INVALID_INPUT", ["shippingAddress"]))


@pytest.mark.parametrize("role", ["STAFF", "ADMIN"])
async def test_staff_may_not_redeem(staff, shopper, gql, make_token, brand, role):
    item = await create_item(staff, stock=5)
    member = await shopper(1000)
    before = await state(member.id, item["id"])
    body = await gql(
        REDEEM,
        {"input": {"itemId": item["id"], "quantity": 1, "idempotencyKey": key()}},
        token=make_token(brand, role, "cashier-1"),
    )
    assert body["data"] is None
    assert top_level_code(body) == "FORBIDDEN"
    assert await state(member.id, item["id"]) == before


# --- idempotency ----------------------------------------------------------------------------


async def test_the_same_key_replays_the_redemption_without_a_second_debit(staff, shopper):
    item = await create_item(staff, kind="COUPON", pointsPrice=100, stock=10, couponValue="5.00")
    member = await shopper(1000)
    once = key()
    first = await member.redeem(item["id"], 2, idempotency_key=once)
    assert codes(first) == []
    after_first = await state(member.id, item["id"])
    replayed = await member.redeem(item["id"], 2, idempotency_key=once)
    assert codes(replayed) == []
    assert replayed["redemption"]["id"] == first["redemption"]["id"]
    assert replayed["redemption"]["pointsSpent"] == 200
    assert sorted(c["code"] for c in replayed["redemption"]["coupons"]) == sorted(
        c["code"] for c in first["redemption"]["coupons"]
    )
    assert replayed["member"]["points"]["available"] == 800
    assert await state(member.id, item["id"]) == after_first
    assert await stock_of(item["id"]) == (8, 2)
    assert [k for k, _, _ in await kinds_of(member.id)] == ["EARN", "REDEEM"]

    conflict = await member.redeem(item["id"], 3, idempotency_key=once)
    assert codes(conflict) == [("CONFLICT", ["idempotencyKey"])]
    assert await state(member.id, item["id"]) == after_first

    another = await member.redeem(item["id"], 2)  # a new key is a new redemption
    assert another["redemption"]["id"] != first["redemption"]["id"]
    assert another["member"]["points"]["available"] == 600
    await audit_clean(member.id)


async def test_one_members_key_is_not_another_members_replay(staff, shopper):
    item = await create_item(staff, pointsPrice=100, stock=10)
    ada, bea = await shopper(1000), await shopper(1000, "Bea")
    shared = key()
    first = await ada.redeem(item["id"], idempotency_key=shared)
    second = await bea.redeem(item["id"], idempotency_key=shared)
    assert codes(first) == codes(second) == []
    assert first["redemption"]["id"] != second["redemption"]["id"]
    assert second["member"]["points"]["available"] == 900
    assert await stock_of(item["id"]) == (8, 2)


# --- concurrency ----------------------------------------------------------------------------


async def test_two_hundred_members_racing_for_fifty_units_never_oversell(staff, shopper, brand):
    item = await create_item(staff, pointsPrice=100, stock=50)
    members: list[Shopper] = []
    for start in range(0, 200, 40):
        members += await asyncio.gather(*(shopper(100, f"M{n}") for n in range(start, start + 40)))
    assert len({member.id for member in members}) == 200

    outcomes = await asyncio.wait_for(
        asyncio.gather(*(member.redeem(item["id"]) for member in members)), timeout=DEADLINE
    )
    winners = [p for p in outcomes if not p["userErrors"]]
    losers = [p for p in outcomes if p["userErrors"]]
    assert len(winners) == 50
    assert {p["redemption"]["status"] for p in winners} == {"CONFIRMED"}
    assert [codes(p) for p in losers] == [[("OUT_OF_STOCK", ["itemId"])]] * 150
    assert await stock_of(item["id"]) == (0, 50)

    assert await Redemption.filter(item_id=pk(item["id"])).count() == 50
    redeemed = await LedgerEntry.filter(brand_id=brand.id, kind=LedgerKind.REDEEM)
    assert len(redeemed) == 50
    assert sum(entry.points for entry in redeemed) == -50 * 100
    balances = await Balance.filter(member__brand_id=brand.id)
    assert sorted(balance.available for balance in balances) == [0] * 50 + [100] * 150
    assert await audit(brand_id=brand.id) == []


async def test_one_member_hammering_a_once_per_member_item_gets_exactly_one(staff, shopper):
    item = await create_item(staff, perMemberLimit=1, pointsPrice=10, stock=100)
    member = await shopper(1000)
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(member.redeem(item["id"]) for _ in range(50))), timeout=DEADLINE
    )
    winners = [p for p in outcomes if not p["userErrors"]]
    assert len(winners) == 1
    assert winners[0]["redemption"]["status"] == "CONFIRMED"
    assert (
        sorted(codes(p) for p in outcomes if p["userErrors"])
        == [[("LIMIT_REACHED", ["quantity"])]] * 49
    )
    assert await stock_of(item["id"]) == (99, 1)
    assert await kinds_of(member.id) == [("EARN", 1000, 1000), ("REDEEM", -10, 990)]
    assert await Redemption.filter(member_id=pk(member.id)).count() == 1
    await audit_clean(member.id)


async def test_concurrent_repeats_of_one_key_redeem_once(staff, shopper):
    item = await create_item(staff, pointsPrice=10, stock=100)
    member = await shopper(1000)
    once = key()
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(member.redeem(item["id"], idempotency_key=once) for _ in range(20))),
        timeout=DEADLINE,
    )
    assert {codes(p) == [] for p in outcomes} == {True}
    assert len({p["redemption"]["id"] for p in outcomes}) == 1
    assert await stock_of(item["id"]) == (99, 1)
    assert await kinds_of(member.id) == [("EARN", 1000, 1000), ("REDEEM", -10, 990)]
    await audit_clean(member.id)


# --- cancelRedemption -----------------------------------------------------------------------


async def test_a_cancel_gives_the_points_back_to_the_lots_they_came_from(staff, shopper, clock):
    item = await create_item(staff, kind="PHYSICAL", pointsPrice=100, stock=5, name="Lamp")
    member = await shopper(0)
    soon = await staff.purchase(
        member.id, "60.00", occurredAt=iso(clock.now() - timedelta(days=20))
    )
    late = await staff.purchase(member.id, "100.00")
    soon_lot, late_lot = [await Lot.get(entry_id=pk(e["entry"]["id"])) for e in (soon, late)]
    redeemed = await member.redeem(item["id"], shippingAddress=ADDRESS)
    redemption_id = redeemed["redemption"]["id"]
    debit = await entry_of(redemption_id)
    assert await taken_by(debit) == [(soon_lot.id, 60, 0), (late_lot.id, 40, 0)]
    assert await stock_of(item["id"]) == (4, 1)

    cancelled = await cancel(member, redemption_id, "  wrong colour  ")
    assert codes(cancelled) == []
    shown = cancelled["redemption"]
    assert (shown["id"], shown["status"], shown["cancelReason"]) == (
        redemption_id,
        "CANCELLED",
        "wrong colour",
    )
    assert shown["cancelledAt"] is not None
    assert shown["item"]["stock"] == 5
    assert cancelled["member"]["points"] == {"available": 160, "version": 4, "lifetimeRedeemed": 0}
    assert await taken_by(debit) == [(soon_lot.id, 60, 60), (late_lot.id, 40, 40)]
    restored = {lot.id: (lot.remaining, lot.expires_at) for lot in await lots_of(member.id)}
    assert restored == {
        soon_lot.id: (60, soon_lot.expires_at),
        late_lot.id: (100, late_lot.expires_at),
    }  # no new lot: both lots still live
    refund = await LedgerEntry.get(member_id=pk(member.id), kind=LedgerKind.REFUND)
    assert (refund.points, refund.balance_after, refund.version, refund.expires_at) == (
        100,
        160,
        4,
        None,
    )
    assert (refund.description, refund.reason) == ("Cancelled: 1 x Lamp", "wrong colour")
    assert await stock_of(item["id"]) == (5, 0)
    stored = await Redemption.get(id=pk(redemption_id))
    assert (stored.status.value, stored.cancelled_by) == ("CANCELLED", f"MEMBER:{member.id}")
    # The points given back are spent again first-to-expire first, like any others.
    again = await member.redeem(item["id"])
    assert await taken_by(await entry_of(again["redemption"]["id"])) == [
        (soon_lot.id, 60, 0),
        (late_lot.id, 40, 0),
    ]
    await audit_clean(member.id)


async def test_points_of_a_lot_that_expired_meanwhile_come_back_in_a_grace_lot(
    gql, make_token, clock
):
    short_lived = await create_brand(unique_code(), "Short", timezone=ZONE, expiry_months=1)
    admin = Staff(gql, make_token(short_lived, "ADMIN", "admin-1"))
    member_id = (await admin.register())["id"]
    member = Shopper(gql, make_token(short_lived, "MEMBER", member_id), member_id)
    item = await create_item(admin, pointsPrice=100, stock=5)
    old = await admin.purchase(member_id, "60.00", occurredAt=iso(clock.now() - timedelta(days=25)))
    new = await admin.purchase(member_id, "100.00")
    redeemed = await member.redeem(item["id"])  # 60 from the old lot, 40 from the new
    redemption_id = redeemed["redemption"]["id"]
    # Earned after the redemption, as old as the first: it expires with 50 unspent.
    unspent = await admin.purchase(
        member_id, "50.00", occurredAt=iso(clock.now() - timedelta(days=25))
    )
    old_lot, new_lot, unspent_lot = [
        await Lot.get(entry_id=pk(e["entry"]["id"])) for e in (old, new, unspent)
    ]
    assert await taken_by(await entry_of(redemption_id)) == [
        (old_lot.id, 60, 0),
        (new_lot.id, 40, 0),
    ]

    clock.advance(timedelta(days=10))  # the old lots expire; the new one lives on
    assert old_lot.expires_at <= clock.now() < new_lot.expires_at
    cancelled = await cancel(admin, redemption_id, "out of stock at the warehouse")
    assert codes(cancelled) == []
    assert cancelled["redemption"]["status"] == "CANCELLED"
    assert cancelled["member"]["points"]["available"] == 100 + 60
    cancelled_at = datetime.fromisoformat(cancelled["redemption"]["cancelledAt"])
    # Through the brand's local day 30 (grace_days) days from the cancel.
    local_day = cancelled_at.astimezone(ZoneInfo(ZONE)).date() + timedelta(days=31)
    grace_expiry = datetime.combine(local_day, time.min, tzinfo=ZoneInfo(ZONE))
    assert grace_expiry - cancelled_at >= timedelta(days=30)

    assert await kinds_of(member_id) == [
        ("EARN", 60, 60),
        ("EARN", 100, 160),
        ("REDEEM", -100, 60),
        ("EARN", 50, 110),
        ("EXPIRE", -50, 60),
        ("REFUND", 100, 160),
    ]
    refund = await LedgerEntry.get(member_id=pk(member_id), kind=LedgerKind.REFUND)
    assert refund.expires_at == grace_expiry
    lots = {lot.id: lot for lot in await lots_of(member_id)}
    (grace,) = [lot for lot in lots.values() if lot.entry_id == refund.id]
    assert (grace.points, grace.remaining, grace.expires_at, grace.expired_at) == (
        60,
        60,
        grace_expiry,
        None,
    )
    assert lots[old_lot.id].remaining == 0  # an expired lot is never revived
    assert lots[new_lot.id].remaining == 100
    assert (lots[unspent_lot.id].remaining, lots[unspent_lot.id].expired_at) == (
        0,
        cancelled_at,
    )
    assert await stock_of(item["id"]) == (5, 0)
    assert await audit(brand_id=short_lived.id) == []


async def test_cancelling_twice_is_already_cancelled_and_the_same_key_replays(staff, shopper):
    item = await create_item(staff, pointsPrice=100, stock=5)
    member = await shopper(500)
    redemption_id = (await member.redeem(item["id"]))["redemption"]["id"]
    once = key()
    first = await cancel(member, redemption_id, idempotencyKey=once)
    assert codes(first) == []
    after = await state(member.id, item["id"])
    replayed = await cancel(member, redemption_id, idempotencyKey=once)
    assert codes(replayed) == []
    assert replayed["redemption"]["status"] == "CANCELLED"
    assert replayed["member"]["points"]["available"] == 500
    assert await state(member.id, item["id"]) == after
    conflict = await cancel(member, redemption_id, "another reason", idempotencyKey=once)
    assert codes(conflict) == [("CONFLICT", ["idempotencyKey"])]

    again = await cancel(member, redemption_id)
    assert codes(again) == [("ALREADY_CANCELLED", ["redemptionId"])]
    by_staff = await cancel(staff, redemption_id)
    assert codes(by_staff) == [("ALREADY_CANCELLED", ["redemptionId"])]
    assert (again["redemption"], again["member"]) == (None, None)
    assert await state(member.id, item["id"]) == after
    assert [k for k, _, _ in await kinds_of(member.id)] == ["EARN", "REDEEM", "REFUND"]
    assert await stock_of(item["id"]) == (5, 0)
    await audit_clean(member.id)


async def test_concurrent_cancels_give_back_once(staff, shopper):
    item = await create_item(staff, pointsPrice=100, stock=5)
    member = await shopper(500)
    redemption_id = (await member.redeem(item["id"], 2))["redemption"]["id"]
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(cancel(member, redemption_id) for _ in range(10))), timeout=DEADLINE
    )
    assert (
        sorted(codes(p) for p in outcomes) == [[]] + [[("ALREADY_CANCELLED", ["redemptionId"])]] * 9
    )
    assert await kinds_of(member.id) == [
        ("EARN", 500, 500),
        ("REDEEM", -200, 300),
        ("REFUND", 200, 500),
    ]
    assert await stock_of(item["id"]) == (5, 0)
    await audit_clean(member.id)


async def test_a_member_may_cancel_within_the_window_and_staff_after_it(
    staff, shopper, gql, make_token, brand, clock
):
    item = await create_item(staff, pointsPrice=100, stock=5)
    member = await shopper(500)
    early = (await member.redeem(item["id"]))["redemption"]["id"]
    late = (await member.redeem(item["id"]))["redemption"]["id"]
    clock.advance(timedelta(hours=23, minutes=59))
    assert codes(await cancel(member, early)) == []

    clock.advance(timedelta(minutes=1, seconds=1))  # 24 hours and a second after
    before = await state(member.id, item["id"])
    refused_ = await cancel(member, late)
    assert codes(refused_) == [("ENDED", ["redemptionId"])]
    assert await state(member.id, item["id"]) == before

    cashier = Staff(gql, make_token(brand, "STAFF", "cashier-1"))
    cancelled = await cancel(cashier, late, "customer called")
    assert codes(cancelled) == []
    assert cancelled["member"]["points"]["available"] == 500
    stored = await Redemption.get(id=pk(late))
    assert (stored.status.value, stored.cancelled_by) == ("CANCELLED", "STAFF:cashier-1")
    assert await stock_of(item["id"]) == (5, 0)
    await audit_clean(member.id)


async def test_a_member_cannot_cancel_another_members_redemption(staff, shopper):
    item = await create_item(staff, pointsPrice=100, stock=5)
    owner, other = await shopper(500), await shopper(500, "Bea")
    redemption_id = (await owner.redeem(item["id"]))["redemption"]["id"]
    before = await state(owner.id, item["id"])
    refused_ = await cancel(other, redemption_id)
    assert codes(refused_) == [("NOT_FOUND", ["redemptionId"])]
    unknown = await cancel(other, encode_id("Redemption", 2_000_000_000))
    assert codes(unknown) == [("NOT_FOUND", ["redemptionId"])]
    assert await state(owner.id, item["id"]) == before


async def test_another_brands_staff_cannot_cancel(staff, shopper, gql, make_token):
    other_brand = await create_brand(unique_code(), "Other Brand", timezone=ZONE)
    item = await create_item(staff, pointsPrice=100, stock=5)
    member = await shopper(500)
    redemption_id = (await member.redeem(item["id"]))["redemption"]["id"]
    before = await state(member.id, item["id"])
    outsider = Staff(gql, make_token(other_brand, "ADMIN", "admin-1"))
    assert codes(await cancel(outsider, redemption_id)) == [("NOT_FOUND", ["redemptionId"])]
    assert await state(member.id, item["id"]) == before


async def test_a_redemption_whose_coupon_was_used_cannot_be_cancelled(staff, shopper):
    item = await create_item(
        staff, kind="COUPON", pointsPrice=100, stock=10, couponValue="20.00", couponValidDays=30
    )
    member = await shopper(1000)
    redeemed = await member.redeem(item["id"], 2)
    redemption = redeemed["redemption"]
    assert [(c["value"], c["usedAt"], c["voidedAt"]) for c in redemption["coupons"]] == [
        ("20.00", None, None)
    ] * 2
    first_code, second_code = (c["code"] for c in redemption["coupons"])
    used = await staff.call(
        CONSUME_COUPON, {"code": first_code, "reference": "TILL-1", "idempotencyKey": key()}
    )
    assert used["userErrors"] == [] and used["coupon"]["usedAt"] is not None

    before = await state(member.id, item["id"])
    for caller in (member, staff):  # CONFIRMED still, but one code is spent
        assert codes(await cancel(caller, redemption["id"])) == [("CONFLICT", ["redemptionId"])]
    assert await state(member.id, item["id"]) == before

    used = await staff.call(
        CONSUME_COUPON, {"code": second_code, "reference": "TILL-2", "idempotencyKey": key()}
    )
    assert used["userErrors"] == []
    assert (await Redemption.get(id=pk(redemption["id"]))).status.value == "FULFILLED"
    before = await state(member.id, item["id"])
    assert codes(await cancel(staff, redemption["id"])) == [("CONFLICT", ["redemptionId"])]
    assert await state(member.id, item["id"]) == before
    assert (await member.me())["points"]["available"] == 800
    await audit_clean(member.id)


async def test_a_cancel_voids_the_unused_coupons(staff, shopper):
    item = await create_item(staff, kind="COUPON", pointsPrice=100, stock=10, couponValue="20.00")
    member = await shopper(1000)
    redemption = (await member.redeem(item["id"]))["redemption"]
    (code,) = (c["code"] for c in redemption["coupons"])
    cancelled = await cancel(member, redemption["id"])
    assert codes(cancelled) == []
    (coupon,) = cancelled["redemption"]["coupons"]
    assert coupon["code"] == code and coupon["usedAt"] is None
    assert coupon["voidedAt"] == cancelled["redemption"]["cancelledAt"]
    used = await staff.call(
        CONSUME_COUPON, {"code": code, "reference": "TILL-1", "idempotencyKey": key()}
    )
    assert codes(used) == [("NOT_FOUND", ["code"])]
    assert cancelled["member"]["points"]["available"] == 1000


async def post_body(gql, token: str, document: str, input: dict) -> dict:
    """The whole response body, top-level errors included (nothing asserted)."""
    return await gql(document, {"input": input}, token=token)


async def wait_until(probe, *, seconds: float = 10.0) -> bool:
    """Poll `probe` until it holds; False when it never did."""
    for _ in range(int(seconds / 0.05)):
        if await probe():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("quantity", [2, 1])
async def test_a_coupon_used_while_its_redemption_is_being_cancelled_is_one_or_the_other(
    staff, shopper, gql, settings, quantity
):
    """A till consumes a code while staff cancel its redemption: either the cancel sees the
    code used (CONFLICT) or the code is void when the till tries it, never both, and neither
    call fails. The cancel is held at the item's row, as a concurrent redemption of the same
    item holds it, so the till's consume lands between the cancel's coupon check and its
    commit."""
    item = await create_item(staff, kind="COUPON", pointsPrice=50, stock=10, couponValue="9.00")
    member = await shopper(500)
    redemption = (await member.redeem(item["id"], quantity))["redemption"]
    code = redemption["coupons"][0]["code"]
    holder = await asyncpg.connect(settings.database_url)
    try:
        hold = holder.transaction()
        await hold.start()
        await holder.execute("SELECT 1 FROM catalog_item WHERE id = $1 FOR UPDATE", pk(item["id"]))

        async def blocked() -> int:
            return await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0"
            )

        cancelling = asyncio.create_task(
            post_body(
                gql,
                staff.token,
                CANCEL,
                {"redemptionId": redemption["id"], "reason": "return", "idempotencyKey": key()},
            )
        )
        assert await wait_until(blocked), "the cancel never reached the item's row"
        consuming = asyncio.create_task(
            post_body(
                gql,
                staff.token,
                CONSUME_COUPON,
                {"code": code, "reference": "TILL-9", "idempotencyKey": key()},
            )
        )

        async def consume_done_or_waiting() -> bool:
            return consuming.done() or await blocked() >= 2

        await wait_until(consume_done_or_waiting, seconds=3)
        await hold.rollback()
    finally:
        await holder.close()
    cancelled, consumed = await asyncio.wait_for(
        asyncio.gather(cancelling, consuming), timeout=DEADLINE
    )
    assert "errors" not in cancelled, cancelled
    assert "errors" not in consumed, consumed
    cancel_codes = codes(cancelled["data"]["cancelRedemption"])
    consume_codes = codes(consumed["data"]["consumeCoupon"])
    stored = await Redemption.get(id=pk(redemption["id"]))
    coupon = await Coupon.get(code=code)
    points = (await member.me())["points"]["available"]
    if cancel_codes == []:  # the cancel won: the code is void and every point came back
        assert consume_codes == [("NOT_FOUND", ["code"])]
        assert (stored.status.value, coupon.used_at, points) == ("CANCELLED", None, 500)
        assert await stock_of(item["id"]) == (10, 0)
    else:  # the till won: the redemption stands and keeps its points
        assert (cancel_codes, consume_codes) == ([("CONFLICT", ["redemptionId"])], [])
        assert stored.status.value == ("FULFILLED" if quantity == 1 else "CONFIRMED")
        assert (coupon.used_at is not None, coupon.voided_at, points) == (
            True,
            None,
            500 - 50 * quantity,
        )
        assert await stock_of(item["id"]) == (10 - quantity, quantity)
    await audit_clean(member.id)


async def test_a_frozen_members_redemption_can_still_be_cancelled_by_staff(staff, shopper):
    item = await create_item(staff, pointsPrice=100, stock=5)
    member = await shopper(500)
    redemption_id = (await member.redeem(item["id"], 2))["redemption"]["id"]
    frozen = await staff.call(
        SET_STATUS, {"memberId": member.id, "status": "FROZEN", "reason": "fraud check"}
    )
    assert frozen["userErrors"] == []
    cancelled = await cancel(staff, redemption_id, "fraud check")
    assert codes(cancelled) == []
    assert cancelled["redemption"]["status"] == "CANCELLED"
    assert cancelled["member"]["points"]["available"] == 500
    assert await stock_of(item["id"]) == (5, 0)
    await audit_clean(member.id)


async def test_a_cancel_pays_off_a_shortfall_first_and_counts_nothing_redeemed(staff, shopper):
    """The member owes 50 from a refunded purchase: the cancel gives back all 150 points of
    the redemption, of which 50 pay the debt. Nothing stays redeemed, and what was earned
    is net of the refunded purchase."""
    item = await create_item(staff, pointsPrice=150, stock=5)
    member = await shopper(0)
    first = await staff.purchase(member.id, "100.00")
    await staff.purchase(member.id, "100.00", orderRef=f"REFUNDED-{member.id}")
    redemption_id = (await member.redeem(item["id"]))["redemption"]["id"]
    reversed_ = await staff.reverse(member.id, f"REFUNDED-{member.id}")
    assert (reversed_["entry"]["points"], reversed_["entry"]["shortfall"]) == (-50, 50)

    cancelled = await cancel(staff, redemption_id)
    assert codes(cancelled) == []
    assert await kinds_of(member.id) == [
        ("EARN", 100, 100),
        ("EARN", 100, 200),
        ("REDEEM", -150, 50),
        ("REVERSAL", -50, 0),
        ("REFUND", 100, 100),
    ]
    refund = await LedgerEntry.get(member_id=pk(member.id), kind=LedgerKind.REFUND)
    assert [(c["rule"], c["points"]) for c in refund.breakdown] == [("shortfall", -50)]
    assert (await Balance.get(member_id=pk(member.id))).shortfall == 0
    debit = await entry_of(redemption_id)
    assert [(points, returned) for _, points, returned in await taken_by(debit)] == [
        (100, 100),
        (50, 50),
    ]
    first_lot = await Lot.get(entry_id=pk(first["entry"]["id"]))
    assert sum(lot.remaining for lot in await lots_of(member.id)) == 100
    assert first_lot.remaining == 50  # the debt is paid from the first points given back
    assert await audit(member_id=pk(member.id)) == []
    # 200 earned less the 100 of the refunded purchase; the only redemption was cancelled.
    assert await staff.balance(member.id) == {
        "available": 100,
        "version": 5,
        "lifetimeEarned": 100,
        "lifetimeRedeemed": 0,
    }


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
async def test_a_cancel_needs_a_reason(staff, shopper, reason):
    item = await create_item(staff, pointsPrice=100, stock=5)
    member = await shopper(500)
    redemption_id = (await member.redeem(item["id"]))["redemption"]["id"]
    before = await state(member.id, item["id"])
    assert codes(await cancel(member, redemption_id, reason)) == [("INVALID_INPUT", ["reason"])]
    assert await state(member.id, item["id"]) == before
