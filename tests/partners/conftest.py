"""Fixtures of the partner tests (tests/cluster runs the rate limit's again on a cluster)."""

from __future__ import annotations

import pytest

from tests.support.partners import create_partner


@pytest.fixture
async def partner(staff) -> dict:
    """A partner of the brand, its points worth 0.05 each."""
    return await create_partner(staff, name="Acme Coffee", pointValue="0.05")
