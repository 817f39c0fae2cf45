"""The demo brand: stores, tiers, earning rules and two members with some history (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from db.models import Brand, Member, Purchase, RuleKind
from domain.brands import TierSpec, create_brand, ensure_store, ensure_tier
from domain.ledger.movements import record_purchase
from domain.members import NewMember, register
from domain.principal import Principal, Role
from domain.rules.admin import EarnSettings, RuleSpec, ensure_rule, save_earn_settings
from domain.rules.engine import PurchaseRecord
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

# Members earn 3 points per 100 spent, Gold and Platinum 5 (Platinum's x1.5 on top).
DEMO_RULES = (
    RuleSpec("BASE", "Base rate", RuleKind.BASE_RATE, rate=Decimal("0.03")),
    RuleSpec(
        "GOLD_RATE",
        "Gold rate",
        RuleKind.BASE_RATE,
        priority=10,
        rate=Decimal("0.05"),
        tier_codes=("GOLD", "PLATINUM"),
    ),
    RuleSpec(
        "BEANS_X2",
        "Double on coffee beans",
        RuleKind.CATEGORY_MULTIPLIER,
        category="beans",
        multiplier=Decimal("2"),
    ),
    RuleSpec(
        "BIG_ORDER",
        "Big order bonus",
        RuleKind.THRESHOLD_BONUS,
        threshold=Decimal("500"),
        points=20,
    ),
    RuleSpec("WELCOME", "Welcome bonus", RuleKind.REGISTRATION_BONUS, points=50),
    RuleSpec("FIRST_ORDER", "First purchase bonus", RuleKind.FIRST_PURCHASE_BONUS, points=30),
    RuleSpec(
        "REFER_A_FRIEND",
        "Refer a friend",
        RuleKind.REFERRAL_BONUS,
        points=100,
        referrer_points=200,
        referrer_monthly_cap=10,
    ),
    RuleSpec(
        "CHECK_IN",
        "Daily check-in",
        RuleKind.TASK,
        task_code="DAILY_CHECK_IN",
        points=2,
        daily_limit=1,
    ),
    RuleSpec(
        "PROFILE",
        "Complete your profile",
        RuleKind.TASK,
        task_code="COMPLETE_PROFILE",
        points=20,
        lifetime_limit=1,
    ),
)
DEMO_CAPS = EarnSettings(cap_per_purchase=10_000, cap_per_day=20_000, purchase_max_age_days=30)

DEMO_MEMBERS = (
    (NewMember("Lin Wei", phone="+8613800000001", email="lin.wei@example.com",
               birthday=date(1992, 5, 17)), (("DEMO-1001", "SH-001", "268.00"),
                                              ("DEMO-1002", "ONLINE", "59.90"))),
    (NewMember("Sam Taylor", phone="+8613800000002"), (("DEMO-2001", "BJ-001", "1200.00"),)),
    # One large order makes Mei a Gold member: she earns 5 points per 100 where others earn 3.
    (NewMember("Mei Chen", phone="+8613800000003"), (("DEMO-3001", "ONLINE", "170000.00"),)),
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
    for rule in DEMO_RULES:
        await ensure_rule(brand.id, rule, rt.clock.now())
    seeder = Principal(Role.ADMIN, brand.id, brand.code, "demo-seed")
    await save_earn_settings(seeder, DEMO_CAPS)
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
