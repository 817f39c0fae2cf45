"""Every API process keeps a brand's rules and tiers in memory (domain/rules/config.py): a
change made through one process must shape the very next earn on another, with no wait.

Server A takes the admin's changes; this test process (the app over ASGI) records purchases,
its copy of the rules warmed by a purchase before each change.
"""

from __future__ import annotations

import asyncio

from tests.support.factories import Staff
from tests.support.live import admin_of, start_live_server, stop_live_server
from tests.support.rules import RULES, UPDATE_RULE, create_rule, earned, parts, save_tier

ARCHIVE_RULE = """
mutation ($input: ArchiveEarningRuleInput!) {
  archiveEarningRule(input: $input) { rule { id } userErrors { field message code } }
}
"""


async def base_rule_id(staff: Staff) -> str:
    body = await staff.gql(RULES, token=staff.token)
    (base,) = [rule for rule in body["data"]["earningRules"] if rule["code"] == "BASE"]
    return base["id"]


async def test_rule_and_tier_changes_on_one_process_apply_at_once_on_another(
    settings, brand, staff, make_token
):
    server = await asyncio.to_thread(start_live_server, settings)
    try:
        async with admin_of(server, brand, make_token) as remote:
            member = await staff.register()
            assert parts((await earned(staff, member["id"], "100.00"))["breakdown"]) == [
                ("BASE", 100)
            ]

            payload = await remote.call(
                UPDATE_RULE,
                {
                    "id": await base_rule_id(remote),
                    "code": "BASE",
                    "name": "Base rate",
                    "kind": "BASE_RATE",
                    "rate": "0.5",
                },
            )
            assert payload["userErrors"] == [], payload
            assert parts((await earned(staff, member["id"], "100.00"))["breakdown"]) == [
                ("BASE", 50)
            ]

            bonus = await create_rule(
                remote, "BIG_BASKET", "THRESHOLD_BONUS", threshold="50", points=7
            )
            assert parts((await earned(staff, member["id"], "100.00"))["breakdown"]) == [
                ("BASE", 50),
                ("BIG_BASKET", 7),
            ]

            archived = await remote.call(ARCHIVE_RULE, {"id": bonus["id"]})
            assert archived["userErrors"] == [], archived
            assert parts((await earned(staff, member["id"], "100.00"))["breakdown"]) == [
                ("BASE", 50)
            ]

            # The member has earned 257 points: a new tier at 200 takes them up on their next
            # earn, and its multiplier applies to the earns after it.
            await save_tier(remote, "GOLD", "Gold", 1, 200, earnMultiplier="2")
            assert parts((await earned(staff, member["id"], "100.00"))["breakdown"]) == [
                ("BASE", 50)
            ]
            assert parts((await earned(staff, member["id"], "100.00"))["breakdown"]) == [
                ("BASE", 50),
                ("tier", 50),
            ]
    finally:
        await asyncio.to_thread(stop_live_server, server)
