"""tierChanged over graphql-transport-ws: the upgrade reaches the member live, once."""

from __future__ import annotations

import json

from domain.tiers import TierSpec, ensure_tier
from tests.support.live import (
    admin_of,
    bearer,
    codes,
    connected,
    nothing_more,
    receive,
)

TIER_CHANGED = """
subscription ($memberId: ID) {
  tierChanged(memberId: $memberId) {
    member { id }
    previous { code }
    current { code }
    changedAt
  }
}
"""


async def subscribe(socket, **variables) -> None:
    await socket.send(
        json.dumps(
            {
                "id": "t",
                "type": "subscribe",
                "payload": {"query": TIER_CHANGED, "variables": variables},
            }
        )
    )


async def test_an_upgrade_reaches_the_member_and_the_staff_watching(live_server, brand, make_token):
    await ensure_tier(brand, TierSpec("SILVER", "Silver", 1, qualifying_points=100))
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        own = bearer(make_token(brand, "MEMBER", subject=member["id"]))
        async with (
            connected(live_server, own) as mine,
            connected(live_server, bearer(staff.token)) as watching,
        ):
            await subscribe(mine)
            await subscribe(watching, memberId=member["id"])
            await staff.purchase(member["id"], "50.00")  # not enough: nothing is sent
            await nothing_more(mine)
            await staff.purchase(member["id"], "60.00")
            for socket in (mine, watching):
                message = await receive(socket)
                assert message["type"] == "next", message
                change = message["payload"]["data"]["tierChanged"]
                assert change["member"] == {"id": member["id"]}
                assert (change["previous"], change["current"]) == (
                    {"code": "BASE"},
                    {"code": "SILVER"},
                )
                await nothing_more(socket)


async def test_the_same_access_rules_as_balance_changed(live_server, brand, make_token):
    async with admin_of(live_server, brand, make_token) as staff:
        member, other = await staff.register("Ada"), await staff.register("Bob")
    token = make_token(brand, "MEMBER", subject=member["id"])
    async with connected(live_server, bearer(token)) as socket:
        await subscribe(socket, memberId=other["id"])
        message = await receive(socket)
        assert message["type"] == "error" and codes(message["payload"]) == {"FORBIDDEN"}
    async with connected(live_server, bearer(make_token(brand, "ANALYST"))) as socket:
        await subscribe(socket, memberId=member["id"])
        message = await receive(socket)
        assert message["type"] == "error" and codes(message["payload"]) == {"FORBIDDEN"}
