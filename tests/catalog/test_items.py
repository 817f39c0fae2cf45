"""Catalog items: admins create, update, archive and restock them; everyone of the brand browses
the active ones, each caller seeing whether they can redeem an item now and what they would pay."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta, timezone

import pytest

from db.models import Brand, CatalogItem, Member
from domain.tiers import TierSpec, ensure_tier
from resolvers.ids import encode_id, parse_id
from tests.support.catalog import error_codes, top_level_codes, when
from tests.support.factories import Staff, key, with_key
from tests.support.ledger import iso, pk
from tests.support.members import stored
from tests.support.statements import queries

ITEM_FIELDS = """
id sku name description kind status category pointsPrice cashPrice stock perMemberLimit
imageUrls availableFrom availableUntil couponValue couponValidDays minTier { code }
available memberPrice
"""

CREATE = f"""
mutation ($input: CreateCatalogItemInput!) {{
  createCatalogItem(input: $input) {{
    item {{ {ITEM_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

UPDATE = f"""
mutation ($input: UpdateCatalogItemInput!) {{
  updateCatalogItem(input: $input) {{
    item {{ {ITEM_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

ARCHIVE = f"""
mutation ($input: ArchiveCatalogItemInput!) {{
  archiveCatalogItem(input: $input) {{
    item {{ {ITEM_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

RESTOCK = f"""
mutation ($input: RestockCatalogItemInput!) {{
  restockCatalogItem(input: $input) {{
    item {{ {ITEM_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

NODE = f"""
query ($id: ID!) {{
  node(id: $id) {{ ... on CatalogItem {{ {ITEM_FIELDS} }} }}
}}
"""

CATALOG = """
query ($first: Int, $after: String, $last: Int, $before: String, $category: String,
       $kind: CatalogItemKind, $affordableOnly: Boolean) {
  catalog(first: $first, after: $after, last: $last, before: $before, category: $category,
          kind: $kind, affordableOnly: $affordableOnly) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { sku status available memberPrice } }
  }
}
"""


# ---------------------------------------------------------------- helpers


def spec(**fields) -> dict:
    """A create input: a 100-point PHYSICAL item of unlimited stock unless told."""
    return {
        "sku": f"SKU-{key()[:12]}",
        "name": "Mug",
        "kind": "PHYSICAL",
        "category": "home",
        "pointsPrice": 100,
        **fields,
    }


async def create(staff: Staff, **fields) -> dict:
    payload = await staff.call(CREATE, spec(**fields))
    assert payload["userErrors"] == [], payload
    return payload["item"]


async def items_of(brand: Brand) -> int:
    """The brand's items, every status, read past the API."""
    return await CatalogItem.filter(brand_id=brand.id).count()


async def node(gql, item_id: str, **caller) -> dict | None:
    body = await gql(NODE, {"id": item_id}, **caller)
    assert "errors" not in body, body
    return body["data"]["node"]


async def catalog(gql, *, token: str | None = None, brand: str | None = None, **arguments):
    body = await gql(CATALOG, arguments, token=token, brand=brand)
    assert "errors" not in body, body
    return body["data"]["catalog"]


def skus(connection: dict) -> list[str]:
    return [edge["node"]["sku"] for edge in connection["edges"]]


def tier_id(tier) -> str:
    return encode_id("Tier", tier.id)


async def registered(staff: Staff, tier=None, name: str = "Ada") -> dict:
    """A member registered by the brand's staff, placed in `tier` (past the API) when given."""
    member = await staff.register(name)
    if tier is not None:
        await Member.filter(id=(await stored(member)).id).update(tier_id=tier.id)
    return member


async def member_in(staff: Staff, make_token, brand: Brand, tier=None, name: str = "Ada") -> str:
    """The token of a new member of `brand` (in `tier` when given)."""
    member = await registered(staff, tier, name)
    return make_token(brand, "MEMBER", subject=member["id"])


@pytest.fixture
async def tiers(brand) -> dict:
    """BASE (rank 0, no discount) and three tiers above it, out of reach of small purchases."""
    base = await ensure_tier(brand, TierSpec("BASE", "Member", rank=0))
    silver = await ensure_tier(
        brand, TierSpec("SILVER", "Silver", rank=1, qualifying_points=100_000, discount_percent=5)
    )
    gold = await ensure_tier(
        brand, TierSpec("GOLD", "Gold", rank=2, qualifying_points=200_000, discount_percent=10)
    )
    platinum = await ensure_tier(
        brand,
        TierSpec("PLATINUM", "Platinum", rank=3, qualifying_points=300_000, discount_percent=20),
    )
    return {"BASE": base, "SILVER": silver, "GOLD": gold, "PLATINUM": platinum}


# ---------------------------------------------------------------- creating


def normalised(item: dict) -> dict:
    """An item with its DateTimes as instants, so a +08:00 and a UTC rendering compare equal."""
    return {
        **item,
        "availableFrom": when(item["availableFrom"]),
        "availableUntil": when(item["availableUntil"]),
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {
                "kind": "PHYSICAL",
                "name": "Travel mug",
                "description": "Keeps tea hot.",
                "category": "home",
                "pointsPrice": 1200,
                "stock": 10,
                "perMemberLimit": 2,
                "imageUrls": ["https://cdn.example.com/mug.png", "https://cdn.example.com/b.jpg"],
            },
            {
                "kind": "PHYSICAL",
                "name": "Travel mug",
                "description": "Keeps tea hot.",
                "category": "home",
                "pointsPrice": 1200,
                "cashPrice": "0.00",
                "stock": 10,
                "perMemberLimit": 2,
                "imageUrls": ["https://cdn.example.com/mug.png", "https://cdn.example.com/b.jpg"],
                "couponValue": "0.00",
                "couponValidDays": None,
            },
        ),
        (
            {
                "kind": "COUPON",
                "name": "Coffee coupon",
                "category": "drinks",
                "pointsPrice": 300,
                "couponValue": "20.00",
                "couponValidDays": 30,
            },
            {
                "kind": "COUPON",
                "name": "Coffee coupon",
                "description": "",
                "category": "drinks",
                "pointsPrice": 300,
                "cashPrice": "0.00",
                "stock": None,
                "perMemberLimit": None,
                "imageUrls": [],
                "couponValue": "20.00",
                "couponValidDays": 30,
            },
        ),
        (
            {
                "kind": "CASH_VOUCHER",
                "name": "50 off",
                "category": "vouchers",
                "pointsPrice": 5000,
                "couponValue": "50.5",
                "couponValidDays": 365,
                "stock": 0,
            },
            {
                "kind": "CASH_VOUCHER",
                "name": "50 off",
                "description": "",
                "category": "vouchers",
                "pointsPrice": 5000,
                "cashPrice": "0.00",
                "stock": 0,
                "perMemberLimit": None,
                "imageUrls": [],
                "couponValue": "50.50",
                "couponValidDays": 365,
            },
        ),
        (
            {
                "kind": "PARTNER_OFFER",
                "name": "Cinema ticket",
                "category": "partners",
                "pointsPrice": 150,
                "cashPrice": "9.9",
                "perMemberLimit": 1,
            },
            {
                "kind": "PARTNER_OFFER",
                "name": "Cinema ticket",
                "description": "",
                "category": "partners",
                "pointsPrice": 150,
                "cashPrice": "9.90",
                "stock": None,
                "perMemberLimit": 1,
                "imageUrls": [],
                "couponValue": "0.00",
                "couponValidDays": None,
            },
        ),
    ],
    ids=["physical", "coupon", "cash-voucher", "partner-offer"],
)
async def test_an_admin_creates_each_kind_and_reads_it_back(
    gql, brand, staff, tiers, clock, fields, expected
):
    now = clock.now()
    starts = (now - timedelta(days=1)).astimezone(UTC).replace(microsecond=0)
    ends = (now + timedelta(days=30)).astimezone(UTC).replace(microsecond=0)
    sku = f"SKU-{key()[:12]}"
    payload = await staff.call(
        CREATE,
        spec(
            sku=sku,
            minTierId=tier_id(tiers["SILVER"]),
            availableFrom=iso(starts.astimezone(timezone(timedelta(hours=8)))),
            availableUntil=iso(ends),
            **fields,
        ),
    )
    assert payload["userErrors"] == []
    created = payload["item"]
    assert pk(created["id"]) > 0 and parse_id(created["id"])[0] == "CatalogItem"
    whole = {
        "id": created["id"],
        "sku": sku,
        "status": "ACTIVE",
        "availableFrom": starts,
        "availableUntil": ends,
        "minTier": {"code": "SILVER"},
        # The admin is no member: no price of their own, and no tier to reach.
        "available": fields.get("stock") != 0,
        "memberPrice": None,
        **expected,
    }
    assert normalised(created) == whole
    assert normalised(await node(gql, created["id"], token=staff.token)) == whole
    assert await items_of(brand) == 1


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"sku": "has space"}, "sku", "INVALID_INPUT"),
        ({"sku": ""}, "sku", "INVALID_INPUT"),
        ({"sku": "x" * 65}, "sku", "INVALID_INPUT"),
        ({"name": ""}, "name", "INVALID_INPUT"),
        ({"name": "   "}, "name", "INVALID_INPUT"),
        ({"category": " "}, "category", "INVALID_INPUT"),
        ({"pointsPrice": -1}, "pointsPrice", "INVALID_INPUT"),
        ({"cashPrice": "-0.01"}, "cashPrice", "INVALID_INPUT"),
        ({"pointsPrice": 0, "cashPrice": "0.00"}, "pointsPrice", "INVALID_INPUT"),
        ({"stock": -1}, "stock", "INVALID_INPUT"),
        ({"perMemberLimit": 0}, "perMemberLimit", "INVALID_INPUT"),
        (
            {
                "availableFrom": "2030-01-02T00:00:00+00:00",
                "availableUntil": "2030-01-01T00:00:00Z",
            },
            "availableUntil",
            "INVALID_INPUT",
        ),
        (
            # The same instant written in two offsets: a window of no length.
            {
                "availableFrom": "2030-01-01T08:00:00+08:00",
                "availableUntil": "2030-01-01T00:00:00+00:00",
            },
            "availableUntil",
            "INVALID_INPUT",
        ),
        ({"imageUrls": ["http://cdn.example.com/a.png"]}, "imageUrls", "INVALID_INPUT"),
        (
            {"imageUrls": ["https://cdn.example.com/a.png", "ftp://cdn.example.com/b.png"]},
            "imageUrls",
            "INVALID_INPUT",
        ),
        ({"couponValidDays": 0}, "couponValidDays", "INVALID_INPUT"),
        ({"minTierId": encode_id("Tier", 2**31 - 1)}, "minTierId", "NOT_FOUND"),
    ],
)
async def test_bad_items_are_refused_by_field_and_nothing_is_written(
    brand, staff, fields, field, code
):
    payload = await staff.call(CREATE, spec(**fields))
    assert payload["item"] is None
    assert error_codes(payload) == [(code, ["input", field])]
    assert await items_of(brand) == 0


async def test_a_tier_of_another_brand_is_not_found(brand, staff, other_brand):
    theirs = await ensure_tier(other_brand, TierSpec("GOLD", "Gold", rank=1, qualifying_points=9))
    payload = await staff.call(CREATE, spec(minTierId=tier_id(theirs)))
    assert error_codes(payload) == [("NOT_FOUND", ["input", "minTierId"])]
    assert await items_of(brand) == 0


async def test_a_sku_is_the_brands_own_once(gql, brand, staff, other_staff):
    first = await create(staff, sku="MUG-1")
    again = await staff.call(CREATE, spec(sku="MUG-1", name="Another mug"))
    assert again["item"] is None
    assert error_codes(again) == [("DUPLICATE", ["input", "sku"])]
    assert await items_of(brand) == 1
    # Another brand may use the same SKU.
    assert (await create(other_staff, sku="MUG-1"))["sku"] == "MUG-1"
    assert (await node(gql, first["id"], token=staff.token))["name"] == "Mug"


@pytest.mark.parametrize("role", ["STAFF", "ANALYST", "MEMBER"])
async def test_only_admins_create_items(gql, brand, staff, make_token, role):
    subject = (await staff.register("Eve"))["id"] if role == "MEMBER" else "someone"
    body = await gql(
        CREATE, {"input": with_key(CREATE, spec())}, token=make_token(brand, role, subject)
    )
    assert top_level_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None
    assert await items_of(brand) == 0


@pytest.mark.parametrize("visitor", [False, True])
async def test_callers_without_a_token_must_sign_in_to_create(gql, brand, visitor):
    body = await gql(
        CREATE, {"input": with_key(CREATE, spec())}, brand=brand.code if visitor else None
    )
    assert top_level_codes(body) == ["UNAUTHENTICATED"]
    assert await items_of(brand) == 0


@pytest.mark.parametrize("document", [UPDATE, ARCHIVE, RESTOCK])
async def test_staff_may_not_change_items_either(gql, brand, staff, make_token, document):
    item = await create(staff, stock=3)
    inputs = {
        UPDATE: spec(id=item["id"], name="Changed"),
        ARCHIVE: {"id": item["id"]},
        RESTOCK: {"id": item["id"], "quantity": 5},
    }
    input = with_key(document, inputs[document])
    body = await gql(document, {"input": input}, token=make_token(brand, "STAFF"))
    assert top_level_codes(body) == ["FORBIDDEN"]
    unchanged = await node(gql, item["id"], token=staff.token)
    assert (unchanged["name"], unchanged["status"], unchanged["stock"]) == ("Mug", "ACTIVE", 3)


# ---------------------------------------------------------------- updating


async def test_an_update_replaces_every_setting_but_the_kind(gql, brand, staff, tiers, clock):
    item = await create(
        staff,
        sku="MUG-1",
        description="Blue",
        stock=5,
        perMemberLimit=2,
        minTierId=tier_id(tiers["GOLD"]),
        imageUrls=["https://cdn.example.com/a.png"],
        availableUntil=iso(clock.now() + timedelta(days=10)),
        couponValidDays=10,
    )
    payload = await staff.call(
        UPDATE,
        {
            "id": item["id"],
            "sku": "MUG-2",
            "name": "Big mug",
            "kind": "PHYSICAL",
            "category": "kitchen",
            "pointsPrice": 250,
            "cashPrice": "5.00",
        },
    )
    assert payload["userErrors"] == []
    expected = {
        "id": item["id"],
        "sku": "MUG-2",
        "name": "Big mug",
        # Settings left out of the input go back to their defaults: the input replaces them all.
        "description": "",
        "kind": "PHYSICAL",
        "status": "ACTIVE",
        "category": "kitchen",
        "pointsPrice": 250,
        "cashPrice": "5.00",
        "stock": None,
        "perMemberLimit": None,
        "imageUrls": [],
        "availableFrom": None,
        "availableUntil": None,
        "couponValue": "0.00",
        "couponValidDays": None,
        "minTier": None,
        "available": True,
        "memberPrice": None,
    }
    assert payload["item"] == expected
    assert await node(gql, item["id"], token=staff.token) == expected
    assert await items_of(brand) == 1


async def test_an_item_keeps_its_kind(gql, staff):
    item = await create(staff, kind="COUPON")
    payload = await staff.call(UPDATE, spec(id=item["id"], kind="PHYSICAL", name="Changed"))
    assert payload["item"] is None
    assert error_codes(payload) == [("INVALID_INPUT", ["input", "kind"])]
    unchanged = await node(gql, item["id"], token=staff.token)
    assert (unchanged["kind"], unchanged["name"]) == ("COUPON", "Mug")


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"name": ""}, "name", "INVALID_INPUT"),
        ({"pointsPrice": -5}, "pointsPrice", "INVALID_INPUT"),
        ({"stock": -1}, "stock", "INVALID_INPUT"),
        ({"minTierId": encode_id("Tier", 2**31 - 1)}, "minTierId", "NOT_FOUND"),
    ],
)
async def test_a_bad_update_changes_nothing(gql, staff, fields, field, code):
    item = await create(staff, stock=4)
    payload = await staff.call(UPDATE, spec(id=item["id"], sku=item["sku"], **fields))
    assert error_codes(payload) == [(code, ["input", field])]
    assert await node(gql, item["id"], token=staff.token) == item


async def test_an_update_may_not_take_another_items_sku(gql, staff):
    first = await create(staff, sku="MUG-1")
    second = await create(staff, sku="MUG-2", name="Second")
    payload = await staff.call(UPDATE, spec(id=second["id"], sku="MUG-1", name="Renamed"))
    assert error_codes(payload) == [("DUPLICATE", ["input", "sku"])]
    assert (await node(gql, second["id"], token=staff.token)) == second
    assert (await node(gql, first["id"], token=staff.token)) == first


async def test_an_archived_item_cannot_change(gql, staff):
    item = await create(staff)
    await staff.call(ARCHIVE, {"id": item["id"]})
    payload = await staff.call(UPDATE, spec(id=item["id"], sku=item["sku"], name="Back again"))
    assert payload["item"] is None
    assert error_codes(payload) == [("CONFLICT", ["input", "id"])]
    archived = await node(gql, item["id"], token=staff.token)
    assert (archived["name"], archived["status"]) == ("Mug", "ARCHIVED")


async def test_items_of_another_brand_are_not_found(gql, staff, other_staff):
    theirs = await create(other_staff, stock=2)
    update = await staff.call(UPDATE, spec(id=theirs["id"], sku=theirs["sku"], name="Mine"))
    archive = await staff.call(ARCHIVE, {"id": theirs["id"]})
    restock = await staff.call(RESTOCK, {"id": theirs["id"], "quantity": 1})
    for payload in (update, archive, restock):
        assert payload["item"] is None
        assert error_codes(payload) == [("NOT_FOUND", ["input", "id"])]
    assert await node(gql, theirs["id"], token=other_staff.token) == theirs


# ---------------------------------------------------------------- archiving and restocking


async def test_archiving_takes_an_item_out_of_the_catalog_for_good(gql, brand, staff):
    kept = await create(staff, sku="KEPT")
    gone = await create(staff, sku="GONE")
    archived = await staff.call(ARCHIVE, {"id": gone["id"]})
    assert archived["userErrors"] == []
    assert (archived["item"]["status"], archived["item"]["available"]) == ("ARCHIVED", False)
    # Again: nothing more happens, and it says so without an error.
    again = await staff.call(ARCHIVE, {"id": gone["id"]})
    assert again == archived
    listed = await catalog(gql, brand=brand.code)
    assert (skus(listed), listed["totalCount"]) == (["KEPT"], 1)
    assert kept["status"] == "ACTIVE"
    assert await items_of(brand) == 2


async def test_restocking_adds_units(gql, staff):
    item = await create(staff, stock=3)
    payload = await staff.call(RESTOCK, {"id": item["id"], "quantity": 5})
    assert payload["userErrors"] == []
    assert payload["item"]["stock"] == 8
    again = await staff.call(RESTOCK, {"id": item["id"], "quantity": 1})
    assert again["item"]["stock"] == 9
    assert (await node(gql, item["id"], token=staff.token))["stock"] == 9


async def test_restocking_brings_a_sold_out_item_back(gql, brand, staff):
    item = await create(staff, stock=0)
    assert (await node(gql, item["id"], brand=brand.code))["available"] is False
    await staff.call(RESTOCK, {"id": item["id"], "quantity": 2})
    restocked = await node(gql, item["id"], brand=brand.code)
    assert (restocked["stock"], restocked["available"]) == (2, True)


@pytest.mark.parametrize("quantity", [0, -3, 10_000_001])
async def test_a_restock_needs_a_sensible_quantity(gql, staff, quantity):
    item = await create(staff, stock=3)
    payload = await staff.call(RESTOCK, {"id": item["id"], "quantity": quantity})
    assert payload["item"] is None
    assert error_codes(payload) == [("INVALID_INPUT", ["input", "quantity"])]
    assert (await node(gql, item["id"], token=staff.token))["stock"] == 3


async def test_stock_never_passes_its_ceiling(gql, staff):
    item = await create(staff, stock=10_000_000 - 2)
    payload = await staff.call(RESTOCK, {"id": item["id"], "quantity": 3})
    assert error_codes(payload) == [("INVALID_INPUT", ["input", "quantity"])]
    assert (await node(gql, item["id"], token=staff.token))["stock"] == 9_999_998
    up_to = await staff.call(RESTOCK, {"id": item["id"], "quantity": 2})
    assert up_to["item"]["stock"] == 10_000_000


async def test_an_unlimited_item_cannot_be_restocked(gql, staff):
    item = await create(staff, stock=None)
    payload = await staff.call(RESTOCK, {"id": item["id"], "quantity": 5})
    assert payload["item"] is None
    assert error_codes(payload) == [("CONFLICT", ["input", "id"])]
    assert (await node(gql, item["id"], token=staff.token))["stock"] is None


# ---------------------------------------------------------------- the catalog query


async def test_the_catalog_lists_active_items_oldest_first(gql, brand, staff, make_token):
    for sku in ("A", "B", "C", "D"):
        await create(staff, sku=sku)
    archived = await create(staff, sku="E")
    await staff.call(ARCHIVE, {"id": archived["id"]})
    member = await member_in(staff, make_token, brand)
    callers = [
        {"brand": brand.code},
        {"token": member},
        {"token": staff.token},
        {"token": make_token(brand, "STAFF")},
        {"token": make_token(brand, "ANALYST")},
    ]
    for caller in callers:
        listed = await catalog(gql, **caller)
        assert skus(listed) == ["A", "B", "C", "D"], caller
        assert listed["totalCount"] == 4
        assert {edge["node"]["status"] for edge in listed["edges"]} == {"ACTIVE"}


async def test_the_catalog_needs_a_brand(gql):
    body = await gql(CATALOG, {})
    assert top_level_codes(body) == ["UNAUTHENTICATED"]


async def test_the_catalog_shows_only_the_callers_brand(gql, brand, staff, other_staff):
    await create(staff, sku="OURS")
    await create(other_staff, sku="THEIRS")
    assert skus(await catalog(gql, brand=brand.code)) == ["OURS"]
    assert skus(await catalog(gql, token=other_staff.token)) == ["THEIRS"]


async def test_the_catalog_filters_by_category_and_kind(gql, brand, staff):
    await create(staff, sku="MUG", kind="PHYSICAL", category="home")
    await create(staff, sku="TEA", kind="COUPON", category="drinks")
    await create(staff, sku="LAMP", kind="PHYSICAL", category="home")
    await create(staff, sku="FIFTY", kind="CASH_VOUCHER", category="home")
    await create(staff, sku="JUICE", kind="COUPON", category="drinks")
    gone = await create(staff, sku="OLD", kind="PHYSICAL", category="home")
    await staff.call(ARCHIVE, {"id": gone["id"]})

    def listed(connection):
        return skus(connection), connection["totalCount"]

    visitor = {"brand": brand.code}
    assert listed(await catalog(gql, **visitor, category="home")) == (["MUG", "LAMP", "FIFTY"], 3)
    assert listed(await catalog(gql, **visitor, category="drinks")) == (["TEA", "JUICE"], 2)
    assert listed(await catalog(gql, **visitor, category="toys")) == ([], 0)
    assert listed(await catalog(gql, **visitor, kind="PHYSICAL")) == (["MUG", "LAMP"], 2)
    assert listed(await catalog(gql, **visitor, kind="PARTNER_OFFER")) == ([], 0)
    assert listed(await catalog(gql, **visitor, category="home", kind="CASH_VOUCHER")) == (
        ["FIFTY"],
        1,
    )


async def test_the_catalog_pages_forward_and_back_by_keyset(gql, brand, staff):
    names = [f"I{number:02}" for number in range(7)]
    for sku in names:
        await create(staff, sku=sku)
    visitor = {"brand": brand.code}

    seen: list[str] = []
    pages = []
    after = None
    while True:
        page = await catalog(gql, **visitor, first=3, after=after)
        pages.append(page)
        seen += skus(page)
        assert page["totalCount"] == 7
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == names
    assert [skus(page) for page in pages] == [names[0:3], names[3:6], names[6:7]]
    assert [page["pageInfo"]["hasPreviousPage"] for page in pages] == [False, True, True]
    first_page = pages[0]
    assert first_page["pageInfo"]["startCursor"] == first_page["edges"][0]["cursor"]
    assert first_page["pageInfo"]["endCursor"] == first_page["edges"][-1]["cursor"]

    # A page does not shift when items come and go before its cursor.
    await staff.call(ARCHIVE, {"id": await global_id_of(brand, "I01")})
    await create(staff, sku="I07")
    second = await catalog(gql, **visitor, first=3, after=pages[0]["pageInfo"]["endCursor"])
    assert (skus(second), second["totalCount"]) == (["I03", "I04", "I05"], 7)

    # Backwards from the end.
    last = await catalog(gql, **visitor, last=2)
    assert skus(last) == ["I06", "I07"]
    assert last["pageInfo"]["hasPreviousPage"] is True
    before = await catalog(gql, **visitor, last=2, before=last["pageInfo"]["startCursor"])
    assert skus(before) == ["I04", "I05"]


async def global_id_of(brand: Brand, sku: str) -> str:
    item = await CatalogItem.get(brand_id=brand.id, sku=sku)
    return encode_id("CatalogItem", item.id)


async def test_a_bad_cursor_is_refused(gql, brand):
    body = await gql(CATALOG, {"first": 2, "after": "not-a-cursor"}, brand=brand.code)
    assert top_level_codes(body) == ["BAD_REQUEST"]


async def test_affordable_only_counts_the_members_discount(gql, brand, staff, make_token, tiers):
    for sku, price in (("P50", 50), ("P95", 95), ("P100", 100), ("P101", 101), ("P102", 102)):
        await create(staff, sku=sku, pointsPrice=price)
    await create(staff, sku="CASH", pointsPrice=0, cashPrice="30.00")
    await create(staff, sku="P200", pointsPrice=200)

    discounted = await registered(staff, tiers["SILVER"], "Dee")  # 5% off
    plain = await registered(staff, None, "Pat")  # the base tier: no discount
    for member in (discounted, plain):
        earned = await staff.purchase(member["id"], "95.00")
        assert earned["member"]["points"]["available"] == 95

    discounted_token = make_token(brand, "MEMBER", subject=discounted["id"])
    plain_token = make_token(brand, "MEMBER", subject=plain["id"])
    # 100 * 95 // 100 = 95 and 101 * 95 // 100 = 95 are within 95 points; 102 -> 96 is not.
    affordable = await catalog(gql, token=discounted_token, affordableOnly=True)
    assert skus(affordable) == ["P50", "P95", "P100", "P101", "CASH"]
    assert affordable["totalCount"] == 5
    assert [edge["node"]["memberPrice"] for edge in affordable["edges"]] == [47, 90, 95, 95, 0]

    without_discount = await catalog(gql, token=plain_token, affordableOnly=True)
    assert skus(without_discount) == ["P50", "P95", "CASH"]
    assert without_discount["totalCount"] == 3

    # affordableOnly false (or left out) lists everything, whatever the member can pay.
    everything = ["P50", "P95", "P100", "P101", "P102", "CASH", "P200"]
    assert skus(await catalog(gql, token=plain_token, affordableOnly=False)) == everything
    assert skus(await catalog(gql, token=plain_token)) == everything


async def test_affordable_only_means_nothing_to_visitors_and_staff(gql, brand, staff):
    await create(staff, sku="CHEAP", pointsPrice=1)
    await create(staff, sku="DEAR", pointsPrice=1_000_000)
    for caller in ({"brand": brand.code}, {"token": staff.token}):
        listed = await catalog(gql, **caller, affordableOnly=True)
        assert (skus(listed), listed["totalCount"]) == (["CHEAP", "DEAR"], 2)


async def test_a_member_without_points_affords_only_cash_items(gql, brand, staff, make_token):
    await create(staff, sku="ONE", pointsPrice=1)
    await create(staff, sku="CASH", pointsPrice=0, cashPrice="1.00")
    token = await member_in(staff, make_token, brand)
    assert skus(await catalog(gql, token=token, affordableOnly=True)) == ["CASH"]


# ---------------------------------------------------------------- available


async def test_an_item_is_available_only_inside_its_window(gql, brand, staff, clock):
    now = clock.now()
    later = await create(staff, sku="LATER", availableFrom=iso(now + timedelta(seconds=30)))
    ending = await create(staff, sku="ENDING", availableUntil=iso(now + timedelta(seconds=30)))
    ended = await create(
        staff,
        sku="ENDED",
        availableFrom=iso(now - timedelta(hours=2)),
        availableUntil=iso(now - timedelta(hours=1)),
    )
    always = await create(staff, sku="ALWAYS")

    async def availability() -> dict[str, bool]:
        listed = await catalog(gql, brand=brand.code)
        return {edge["node"]["sku"]: edge["node"]["available"] for edge in listed["edges"]}

    # Items outside their window are still listed: the catalog shows them, not as available.
    assert await availability() == {"LATER": False, "ENDING": True, "ENDED": False, "ALWAYS": True}
    assert (await node(gql, later["id"], token=staff.token))["available"] is False
    assert (await node(gql, ended["id"], token=staff.token))["available"] is False

    clock.advance(timedelta(seconds=31))
    assert await availability() == {"LATER": True, "ENDING": False, "ENDED": False, "ALWAYS": True}
    assert (await node(gql, ending["id"], brand=brand.code))["available"] is False
    assert (await node(gql, always["id"], brand=brand.code))["available"] is True


async def test_an_item_out_of_stock_is_not_available(gql, brand, staff, make_token):
    empty = await create(staff, sku="EMPTY", stock=0)
    one = await create(staff, sku="ONE", stock=1)
    member = await member_in(staff, make_token, brand)
    for caller in ({"brand": brand.code}, {"token": staff.token}, {"token": member}):
        assert (await node(gql, empty["id"], **caller))["available"] is False
        assert (await node(gql, one["id"], **caller))["available"] is True


async def test_a_minimum_tier_limits_only_members_below_it(gql, brand, staff, make_token, tiers):
    item = await create(staff, sku="GOLDEN", minTierId=tier_id(tiers["GOLD"]))
    open_item = await create(staff, sku="OPEN")
    members = {
        code: await member_in(staff, make_token, brand, tiers[code], name=code.title())
        for code in ("BASE", "SILVER", "GOLD", "PLATINUM")
    }
    expected = {"BASE": False, "SILVER": False, "GOLD": True, "PLATINUM": True}
    for code, token in members.items():
        seen = await node(gql, item["id"], token=token)
        assert (seen["minTier"], seen["available"]) == ({"code": "GOLD"}, expected[code]), code
        assert (await node(gql, open_item["id"], token=token))["available"] is True
        listed = await catalog(gql, token=token)
        assert [edge["node"]["available"] for edge in listed["edges"]] == [expected[code], True]
    others = [
        {"brand": brand.code},
        {"token": staff.token},
        {"token": make_token(brand, "STAFF")},
        {"token": make_token(brand, "ANALYST")},
    ]
    for caller in others:
        assert (await node(gql, item["id"], **caller))["available"] is True, caller


# ---------------------------------------------------------------- memberPrice


async def test_member_price_takes_off_the_tiers_discount(gql, brand, staff, make_token, tiers):
    diamond = await ensure_tier(
        brand,
        TierSpec("DIAMOND", "Diamond", rank=4, qualifying_points=400_000, discount_percent=100),
    )
    item = await create(staff, pointsPrice=999)
    free = await create(staff, sku="FREEBIE", pointsPrice=0, cashPrice="3.00")
    expected = {
        "BASE": 999,  # 0%: the list price
        "SILVER": 949,  # 5%: 949.05 rounded down
        "GOLD": 899,  # 10%: 899.1 rounded down
        "PLATINUM": 799,  # 20%: 799.2 rounded down
    }
    for code, price in expected.items():
        token = await member_in(staff, make_token, brand, tiers[code], name=code.title())
        assert (await node(gql, item["id"], token=token))["memberPrice"] == price, code
        assert (await node(gql, free["id"], token=token))["memberPrice"] == 0, code
    everything_free = await member_in(staff, make_token, brand, diamond, name="Dia")
    assert (await node(gql, item["id"], token=everything_free))["memberPrice"] == 0


async def test_member_price_is_null_for_everyone_else(gql, brand, staff, make_token):
    item = await create(staff, pointsPrice=999)
    for caller in (
        {"token": staff.token},
        {"token": make_token(brand, "STAFF")},
        {"token": make_token(brand, "ANALYST")},
        {"brand": brand.code},
    ):
        assert (await node(gql, item["id"], **caller))["memberPrice"] is None, caller
        listed = await catalog(gql, **caller)
        assert [edge["node"]["memberPrice"] for edge in listed["edges"]] == [None]


# ---------------------------------------------------------------- node(id:)


async def test_node_shows_active_items_to_anyone_of_the_brand(gql, brand, staff, make_token):
    item = await create(staff, sku="SEEN")
    member = await member_in(staff, make_token, brand)
    for caller in (
        {"brand": brand.code},
        {"token": member},
        {"token": staff.token},
        {"token": make_token(brand, "STAFF")},
        {"token": make_token(brand, "ANALYST")},
    ):
        seen = await node(gql, item["id"], **caller)
        assert (seen["id"], seen["sku"], seen["status"]) == (item["id"], "SEEN", "ACTIVE"), caller


async def test_node_shows_archived_items_only_to_the_brands_staff(gql, brand, staff, make_token):
    item = await create(staff, sku="OLD")
    await staff.call(ARCHIVE, {"id": item["id"]})
    member = await member_in(staff, make_token, brand)
    for caller in (
        {"token": staff.token},
        {"token": make_token(brand, "STAFF")},
        {"token": make_token(brand, "ANALYST")},
    ):
        seen = await node(gql, item["id"], **caller)
        assert (seen["sku"], seen["status"], seen["available"]) == ("OLD", "ARCHIVED", False)
    for caller in ({"brand": brand.code}, {"token": member}):
        assert await node(gql, item["id"], **caller) is None, caller


async def test_node_hides_items_of_other_brands(gql, staff, other_brand, other_staff, make_token):
    item = await create(staff, sku="OURS")
    for caller in (
        {"brand": other_brand.code},
        {"token": other_staff.token},
        {"token": make_token(other_brand, "ANALYST")},
    ):
        assert await node(gql, item["id"], **caller) is None, caller
    assert await node(gql, encode_id("CatalogItem", 2**31 - 1), token=staff.token) is None


# ---------------------------------------------------------------- statements per page


CATALOG_PAGE = """
query ($first: Int!) {
  catalog(first: $first) {
    edges { node { minTier { name } available memberPrice } }
  }
}
"""


async def page_statements(gql, token: str, statements: list[str], size: int) -> list[str]:
    """The statements one page of `size` items, with tiers, availability and prices, sends."""
    await gql(CATALOG_PAGE, {"first": size}, token=token)  # the brand cache warms
    statements.clear()
    body = await gql(CATALOG_PAGE, {"first": size}, token=token)
    sent = list(statements)
    assert "errors" not in body, body
    nodes = [edge["node"] for edge in body["data"]["catalog"]["edges"]]
    assert len(nodes) == size, body
    assert {(node["minTier"] or {}).get("name") for node in nodes} == {
        None,
        "Silver",
        "Gold",
        "Platinum",
    }
    # A Gold member: items up to Gold are theirs, Platinum ones are not.
    assert {(node["minTier"] or {}).get("name"): node["available"] for node in nodes} == {
        None: True,
        "Silver": True,
        "Gold": True,
        "Platinum": False,
    }
    assert {node["memberPrice"] for node in nodes} == {90}  # 100 less Gold's 10%
    return sent


async def test_a_page_of_items_costs_the_same_statements_for_5_or_100(
    gql, brand, staff, make_token, tiers, statements
):
    cycle = [None, tiers["SILVER"], tiers["GOLD"], tiers["PLATINUM"]]
    for number in range(100):
        minimum = cycle[number % 4]
        await create(
            staff,
            sku=f"ITEM-{number:03}",
            minTierId=tier_id(minimum) if minimum is not None else None,
        )
    member = await member_in(staff, make_token, brand, tiers["GOLD"])

    five = await page_statements(gql, member, statements, 5)
    hundred = await page_statements(gql, member, statements, 100)
    assert len(hundred) == len(five), "\n".join(hundred)
    # The caller as a shopper (member, tier, balance and the brand's tiers' version) in one
    # statement; the items and their tiers come from the process's copy of the catalog.
    assert len(queries(hundred)) == 1, "\n".join(hundred)


async def test_the_calling_member_is_read_once_per_request(
    gql, brand, staff, make_token, tiers, statements
):
    """node(id:) fields resolve side by side: each item costs its own look-up, but the member's
    tier, discount and points (the shopper) are read once for the whole request."""
    ids = [(await create(staff, sku=f"N{number}"))["id"] for number in range(3)]
    member = await member_in(staff, make_token, brand, tiers["GOLD"])

    async def sent_reading(count: int) -> int:
        fields = " ".join(
            f'n{n}: node(id: "{item_id}") {{ ... on CatalogItem {{ available memberPrice }} }}'
            for n, item_id in enumerate(ids[:count])
        )
        await gql(f"{{ {fields} }}", token=member)  # the brand cache warms
        statements.clear()
        body = await gql(f"{{ {fields} }}", token=member)
        assert "errors" not in body, body
        assert list(body["data"].values()) == [{"available": True, "memberPrice": 90}] * count
        return len(queries(statements))

    # One item: its look-up, then the member with their tier and balance (one statement).
    assert await sent_reading(1) == 2
    assert await sent_reading(3) == 4


async def test_two_admins_racing_for_one_sku_get_one_item(brand, staff):
    both = await asyncio.gather(
        staff.call(CREATE, spec(sku="RACE", name="First")),
        staff.call(CREATE, spec(sku="RACE", name="Second")),
    )
    outcomes = sorted(
        "created" if payload["item"] else error_codes(payload)[0][0] for payload in both
    )
    assert outcomes == ["DUPLICATE", "created"]
    assert await CatalogItem.filter(brand_id=brand.id, sku="RACE").count() == 1
