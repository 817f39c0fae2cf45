"""Tiers and balances of members come through loaders: a page costs the same at any size."""

from __future__ import annotations

from db.models import Member
from domain.tiers import TierSpec, ensure_tier
from tests.support.members import stored
from tests.support.statements import queries

MEMBERS_WITH_TIER_AND_POINTS = """
query ($first: Int!) {
  members(first: $first) {
    totalCount
    edges { node { tier { name } points { available } } }
  }
}
"""


async def page_statements(gql, staff, statements: list[str], size: int) -> list[str]:
    """The statements one page of `size` members with tiers and points sends."""
    await gql(
        MEMBERS_WITH_TIER_AND_POINTS, {"first": size}, token=staff.token
    )  # the brand cache warms
    statements.clear()
    body = await gql(MEMBERS_WITH_TIER_AND_POINTS, {"first": size}, token=staff.token)
    sent = list(statements)
    edges = body["data"]["members"]["edges"]
    assert len(edges) == size, body
    assert {edge["node"]["tier"]["name"] for edge in edges} == {"Member", "Gold"}
    assert {edge["node"]["points"]["available"] for edge in edges} == {0, 10}
    return sent


async def test_a_page_of_members_costs_the_same_statements_for_5_or_100(
    gql, brand, staff, statements
):
    gold = await ensure_tier(brand, TierSpec("GOLD", "Gold", rank=1, qualifying_points=1000))
    for number in range(100):
        member = await staff.register(f"Member {number:03}")
        if number % 4 == 0:
            await Member.filter(id=(await stored(member)).id).update(tier_id=gold.id)
        if number % 3 == 0:
            await staff.purchase(member["id"], "10.00")

    five = await page_statements(gql, staff, statements, 5)
    hundred = await page_statements(gql, staff, statements, 100)
    assert len(hundred) == len(five), "\n".join(hundred)
    # The count, the page, the tiers, the balances.
    assert len(queries(hundred)) == 4, "\n".join(hundred)


async def test_the_counter_sees_statements_that_grow_with_the_members_read(gql, staff, statements):
    """A control: one member(id:) field per member costs one look-up each, and it shows."""
    ids = [(await staff.register(f"Member {number}"))["id"] for number in range(6)]

    async def sent_reading(count: int) -> int:
        fields = " ".join(
            f'm{n}: member(id: "{member_id}") {{ displayName }}'
            for n, member_id in enumerate(ids[:count])
        )
        statements.clear()
        body = await gql(f"{{ {fields} }}", token=staff.token)
        assert "errors" not in body, body
        return len(queries(statements))

    assert await sent_reading(6) - await sent_reading(2) == 4
