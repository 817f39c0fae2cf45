"""The demo brand: stores, tiers and two members with some history (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from db.models import Brand, Member, Purchase
from domain.brands import TierSpec, create_brand, ensure_store, ensure_tier
from domain.ledger.movements import PurchaseRecord, record_purchase
from domain.members import NewMember, register
from domain.principal import Principal, Role
from domain.runtime import Backends

DEMO_BRAND_CODE = "demo"

DEMO_STORES = (
    ("SH-001", "Shanghai Nanjing Road"),
    ("BJ-001", "Beijing Sanlitun"),
    ("ONLINE", "Online shop"),
)

DEMO_TIERS = (
    TierSpec(code="SILVER", name="Silver", rank=1, qualifying_points=1_000,
             earn_multiplier=Decimal("1.00"), discount_percent=0, birthday_bonus_points=100),
    TierSpec(code="GOLD", name="Gold", rank=2, qualifying_points=5_000,
             earn_multiplier=Decimal("1.00"), discount_percent=5, birthday_bonus_points=300,
             flash_sale_early_access_minutes=10),
    TierSpec(code="PLATINUM", name="Platinum", rank=3, qualifying_points=20_000,
             earn_multiplier=Decimal("1.50"), discount_percent=10, birthday_bonus_points=800,
             flash_sale_early_access_minutes=30),
)  # fmt: skip

DEMO_MEMBERS = (
    (NewMember("Lin Wei", phone="+8613800000001", email="lin.wei@example.com",
               birthday=date(1992, 5, 17)), (("DEMO-1001", "SH-001", "268.00"),
                                              ("DEMO-1002", "ONLINE", "59.90"))),
    (NewMember("Sam Taylor", phone="+8613800000002"), (("DEMO-2001", "BJ-001", "1200.00"),)),
)  # fmt: skip


@dataclass(frozen=True)
class Demo:
    brand: Brand
    members: list[Member]


async def seed_demo(rt: Backends) -> Demo:
    """Create the demo brand with its stores, tiers and members, or bring them back in line."""
    brand = await Brand.get_or_none(code=DEMO_BRAND_CODE)
    if brand is None:
        brand = await create_brand(DEMO_BRAND_CODE, "Demo Coffee", timezone="Asia/Shanghai")
    for code, name in DEMO_STORES:
        await ensure_store(brand, code, name)
    for spec in DEMO_TIERS:
        await ensure_tier(brand, spec)
    seeder = Principal(Role.ADMIN, brand.id, brand.code, "demo-seed")
    members = []
    # Found by what identifies them (a phone, an order), not by idempotency keys, which expire.
    for number, (new_member, purchases) in enumerate(DEMO_MEMBERS, start=1):
        member = await Member.get_or_none(brand_id=brand.id, phone=new_member.phone)
        if member is None:
            member = await register(rt, seeder, new_member, key=f"demo-member-{number}")
        for order_ref, store_code, total in purchases:
            if not await Purchase.exists(brand_id=brand.id, order_ref=order_ref):
                purchase = PurchaseRecord(order_ref, Decimal(total), store_code=store_code)
                await record_purchase(rt, seeder, member.id, purchase, key=f"demo-{order_ref}")
        members.append(member)
    return Demo(brand, members)
