"""Fixtures for the member tests: a second brand, and tokens of registered members."""

from __future__ import annotations

import pytest

from db.models import Brand
from domain.brands import create_brand
from tests.conftest import unique_code
from tests.factories import Staff


@pytest.fixture
async def other_brand(app: object) -> Brand:
    return await create_brand(unique_code(), "Other Brand")


@pytest.fixture
def other_staff(gql, other_brand, make_token) -> Staff:
    """The other brand's admin."""
    return Staff(gql, make_token(other_brand, "ADMIN", "admin-2"))


@pytest.fixture
def member_token(brand, make_token):
    """The bearer token of a registered member (of `brand` unless told)."""

    def token(member: dict, of_brand: Brand | None = None) -> str:
        return make_token(of_brand or brand, "MEMBER", subject=member["id"])

    return token
