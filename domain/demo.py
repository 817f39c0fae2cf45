"""The demo brand: stores and tiers to explore the API with (idempotent)."""

from __future__ import annotations

from decimal import Decimal

from db.models import Brand
from domain.brands import TierSpec, create_brand, ensure_store, ensure_tier

DEMO_BRAND_CODE = "demo"

DEMO_STORES = (
    ("SH-001", "Shanghai Nanjing Road"),
    ("BJ-001", "Beijing Sanlitun"),
    ("ONLINE", "Online shop"),
)

DEMO_TIERS = (
    TierSpec(
        code="SILVER",
        name="Silver",
        rank=1,
        qualifying_points=1_000,
        earn_multiplier=Decimal("1.00"),
        discount_percent=0,
        birthday_bonus_points=100,
    ),
    TierSpec(
        code="GOLD",
        name="Gold",
        rank=2,
        qualifying_points=5_000,
        earn_multiplier=Decimal("1.00"),
        discount_percent=5,
        birthday_bonus_points=300,
        flash_sale_early_access_minutes=10,
    ),
    TierSpec(
        code="PLATINUM",
        name="Platinum",
        rank=3,
        qualifying_points=20_000,
        earn_multiplier=Decimal("1.50"),
        discount_percent=10,
        birthday_bonus_points=800,
        flash_sale_early_access_minutes=30,
    ),
)


async def seed_demo() -> Brand:
    """Create the demo brand with its stores and tiers, or bring them back in line."""
    brand = await Brand.get_or_none(code=DEMO_BRAND_CODE)
    if brand is None:
        brand = await create_brand(DEMO_BRAND_CODE, "Demo Coffee", timezone="Asia/Shanghai")
    for code, name in DEMO_STORES:
        await ensure_store(brand, code, name)
    for spec in DEMO_TIERS:
        await ensure_tier(brand, spec)
    return brand
