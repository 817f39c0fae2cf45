"""A member token of one brand never reads a member of another."""

from __future__ import annotations

from domain.brands import create_brand
from resolvers.ids import encode_id
from tests.support.catalog import create_catalog_item
from tests.support.factories import Staff, unique_code

CATALOG = """
{ catalog(first: 10, affordableOnly: true) { edges { node { name memberPrice available } } } }
"""


async def test_another_brands_member_is_not_read_through_the_catalog(
    gql, brand, make_token, member_with_points
):
    """A MEMBER token of brand B naming brand A's member once showed that member's balance
    (what affordableOnly kept) and tier discount (memberPrice) to brand B."""
    victim, _ = await member_with_points(1000)
    other = await create_brand(unique_code(), "Other Brand", timezone="Asia/Shanghai")
    other_admin = Staff(gql, make_token(other, "ADMIN", "admin-1"))
    await create_catalog_item(other_admin, name="Cheap", pointsPrice=500)
    await create_catalog_item(other_admin, name="Dear", pointsPrice=5000)
    forged = make_token(other, "MEMBER", victim["id"])
    body = await gql(CATALOG, token=forged)
    assert "errors" not in body, body
    nodes = [edge["node"] for edge in body["data"]["catalog"]["edges"]]
    assert sorted(node["name"] for node in nodes) == ["Cheap", "Dear"]
    assert all(node["memberPrice"] is None for node in nodes)


async def test_a_token_naming_a_missing_member_is_answered_as_a_visitor(gql, brand, make_token):
    staff = Staff(gql, make_token(brand, "ADMIN", "admin-1"))
    await create_catalog_item(staff, name="Anything", pointsPrice=10)
    body = await gql(CATALOG, token=make_token(brand, "MEMBER", encode_id("Member", 999_999_999)))
    assert "errors" not in body, body
    (edge,) = body["data"]["catalog"]["edges"]
    assert edge["node"]["memberPrice"] is None
