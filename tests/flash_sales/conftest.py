"""Fixtures of the flash sale tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def member_with(staff, make_token, brand):
    """A registered member with `points` points (a purchase at the base rate) and their token."""

    async def make(points: int = 1000, name: str = "Ada") -> tuple[dict, str]:
        member = await staff.register(name)
        if points:
            await staff.purchase(member["id"], f"{points}.00")
        return member, make_token(brand, "MEMBER", member["id"])

    return make
