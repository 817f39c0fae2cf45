"""Ledger fixtures: brands with the expiry policy a test needs, and callers of each role."""

from __future__ import annotations

from decimal import Decimal

import pytest

from db.models import Brand, ExpiryPolicy
from domain.brands import create_brand
from tests.support.factories import Staff, unique_code


@pytest.fixture
def make_brand(app):
    """A brand of the test's own with the given policy; other columns are set on its row."""

    async def make(
        *,
        timezone: str = "Asia/Shanghai",
        expiry_policy: ExpiryPolicy = ExpiryPolicy.ROLLING,
        expiry_months: int = 24,
        earn_rate: Decimal = Decimal(1),
        **row,
    ) -> Brand:
        brand = await create_brand(
            unique_code(),
            "Ledger Brand",
            timezone=timezone,
            expiry_policy=expiry_policy,
            expiry_months=expiry_months,
            earn_rate=earn_rate,
        )
        if row:
            await Brand.filter(id=brand.id).update(**row)
        return await Brand.get(id=brand.id)

    return make


@pytest.fixture
def caller(gql, make_token):
    """Staff calling the API for a brand, as ADMIN unless told otherwise."""

    def make(brand: Brand, role: str = "ADMIN", subject: str = "admin-1") -> Staff:
        return Staff(gql, make_token(brand, role, subject))

    return make
