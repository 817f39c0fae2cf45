"""The demo brand: stores, tiers, earning rules and tasks, members with some history, a
catalog, a flash sale and a partner (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from db.models import (
    ApiKey,
    Brand,
    CatalogItem,
    FlashSale,
    ItemKind,
    Member,
    Partner,
    Purchase,
    RuleKind,
    TaskProof,
    Tier,
)
from domain.brands import create_brand, ensure_store
from domain.catalog.items import ItemSpec, create_item
from domain.flash_sales.sales import SaleSpec, create_sale
from domain.ledger.movements import record_purchase
from domain.members import NewMember, register
from domain.partners import IssuedKey, Scope, create_partner, issue_key, revoke_key
from domain.principal import Principal, Role
from domain.rules.admin import EarnSettings, RuleSpec, ensure_rule, save_earn_settings
from domain.rules.engine import PurchaseRecord
from domain.runtime import Backends
from domain.tiers import TierSpec, ensure_tier

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
    # Only the brand's own system knows a review was written: it signs the proof.
    RuleSpec(
        "REVIEW",
        "Review a purchase",
        RuleKind.TASK,
        task_code="WRITE_REVIEW",
        proof=TaskProof.SIGNED,
        points=10,
        daily_limit=3,
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


# One of each kind of item a member meets; the minimum tier is set by code when seeding.
DEMO_ITEMS = (
    ItemSpec(sku="DEMO-LATTE", name="Free latte coupon", kind=ItemKind.COUPON,
             category="drinks", points_price=60, coupon_value=Decimal("32.00"),
             coupon_valid_days=30, description="One latte of any size, in any store."),
    ItemSpec(sku="DEMO-TUMBLER", name="Steel tumbler", kind=ItemKind.PHYSICAL,
             category="merch", points_price=300, stock=200, per_member_limit=2),
    ItemSpec(sku="DEMO-BEANS", name="House blend beans 250 g", kind=ItemKind.PHYSICAL,
             category="beans", points_price=40, cash_price=Decimal("29.90"), stock=500,
             description="40 points plus 29.90 paid at the checkout."),
    ItemSpec(sku="DEMO-GRINDER", name="Hand grinder", kind=ItemKind.PHYSICAL,
             category="merch", points_price=1500, stock=20, per_member_limit=1,
             description="For Gold members and above."),
    ItemSpec(sku="DEMO-MUG", name="Limited edition mug", kind=ItemKind.PHYSICAL,
             category="merch", points_price=800, description="In the flash sale for 99 points."),
)  # fmt: skip
DEMO_TIER_ONLY = {"DEMO-GRINDER": "GOLD"}
DEMO_FLASH_SALE_SKU = "DEMO-MUG"
# Opens two minutes after the seeding (Gold members may enter ten minutes early, so at once).
DEMO_FLASH_SALE_OPENS_IN = timedelta(minutes=2)
DEMO_FLASH_SALE_LASTS = timedelta(hours=1)
DEMO_FLASH_SALE_PRICE, DEMO_FLASH_SALE_STOCK = 99, 20

DEMO_PARTNER_CODE = "lanes-bakery"
DEMO_PARTNER_SCOPES = (Scope.POINTS_EARN, Scope.COUPONS_VERIFY, Scope.OFFERS_WRITE,
                       Scope.MEMBERS_LOOKUP)  # fmt: skip


@dataclass(frozen=True)
class Demo:
    brand: Brand
    members: list[Member]
    flash_sale: FlashSale
    partner: Partner
    partner_key: IssuedKey


async def seed_demo(rt: Backends) -> Demo:
    """Create the demo brand with its stores, tiers, rules, members, catalog, flash sale and
    partner, or bring them back in line; the partner gets a new API key each time."""
    brand = await Brand.get_or_none(code=DEMO_BRAND_CODE)
    if brand is None:
        brand = await create_brand(DEMO_BRAND_CODE, "Demo Coffee", timezone="Asia/Shanghai")
    for code, name in DEMO_STORES:
        await ensure_store(brand, code, name)
    tiers = {spec.code: await ensure_tier(brand, spec) for spec in DEMO_TIERS}
    for rule in DEMO_RULES:
        await ensure_rule(brand.id, rule, rt.clock.now())
    seeder = Principal(Role.ADMIN, brand.id, brand.code, "demo-seed")
    await save_earn_settings(rt, seeder, DEMO_CAPS)
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
    items = [await _ensure_item(seeder, spec, tiers, rt) for spec in DEMO_ITEMS]
    sale = await _upcoming_flash_sale(rt, seeder, items)
    partner, key = await _partner_with_new_key(seeder, rt)
    return Demo(brand, members, sale, partner, key)


async def _ensure_item(
    seeder: Principal, spec: ItemSpec, tiers: dict[str, Tier], rt: Backends
) -> CatalogItem:
    """The demo item of this SKU, created if it is not there (an admin's edits stay)."""
    item = await CatalogItem.get_or_none(brand_id=seeder.brand_id, sku=spec.sku)
    if item is None:
        tier_code = DEMO_TIER_ONLY.get(spec.sku)
        if tier_code is not None:
            spec = replace(spec, min_tier_id=tiers[tier_code].id)
        item = await create_item(seeder, spec, rt.clock.now())
    return item


async def _upcoming_flash_sale(
    rt: Backends, seeder: Principal, items: list[CatalogItem]
) -> FlashSale:
    """The demo sale not open yet, or a new one opening two minutes from now."""
    (item,) = [item for item in items if item.sku == DEMO_FLASH_SALE_SKU]
    now = rt.clock.now()
    upcoming = await FlashSale.filter(item_id=item.id, cancelled_at=None, starts_at__gt=now).first()
    if upcoming is not None:
        return upcoming
    starts_at = now + DEMO_FLASH_SALE_OPENS_IN
    spec = SaleSpec(item.id, DEMO_FLASH_SALE_PRICE, starts_at,
                    starts_at + DEMO_FLASH_SALE_LASTS, DEMO_FLASH_SALE_STOCK)  # fmt: skip
    return await create_sale(rt, seeder, spec)


async def _partner_with_new_key(seeder: Principal, rt: Backends) -> tuple[Partner, IssuedKey]:
    """The demo partner, with a new API key to print: a key is shown only when issued, so the
    demo partner's earlier keys are revoked."""
    now = rt.clock.now()
    partner = await Partner.get_or_none(brand_id=seeder.brand_id, code=DEMO_PARTNER_CODE)
    if partner is None:
        partner = await create_partner(
            seeder, DEMO_PARTNER_CODE, "Lane's Bakery", Decimal("0.10"), now
        )
    for api_key in await ApiKey.filter(partner_id=partner.id, revoked_at=None):
        await revoke_key(seeder, api_key.id, now)
    return partner, await issue_key(seeder, partner.id, DEMO_PARTNER_SCOPES, now)
