"""Shared by the member tests: small readers of GraphQL answers and ids, and the members'
import files (as a spreadsheet saves them) and imports."""

from __future__ import annotations

import io
from datetime import date
from zoneinfo import ZoneInfo

from db.models import Member
from domain.member_import import COLUMNS, plan_import, write_import
from resolvers.ids import parse_id

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the timezone of the tests' brands
HEADER = ",".join(COLUMNS)  # an import file's first line
SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) { tier { id code } userErrors { field code } }
}
"""


def error_code(body: dict) -> str:
    """The code of a top-level error (a permission refusal), asserting there is one."""
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


def user_errors(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


async def stored(member: dict) -> Member:
    """The member's row, read past the API."""
    parsed = parse_id(member["id"])
    assert parsed is not None and parsed[0] == "Member", member
    return await Member.get(id=parsed[1])


def today(clock) -> date:
    """Today in the brand's timezone (the tests' brands are Shanghai's), by the shared clock."""
    return clock.now().astimezone(SHANGHAI).date()


def csv_file(*rows: str, bom: bool = True) -> io.BytesIO:
    """A CSV as a spreadsheet saves it: UTF-8 (with a BOM), CRLF, the header first."""
    text = "\r\n".join([HEADER, *rows]) + "\r\n"
    return io.BytesIO(("\ufeff" if bom else "").encode() + text.encode())


async def gold_tier(staff) -> None:
    """The brand's GOLD tier, from 5000 qualifying points."""
    payload = await staff.call(
        SAVE_TIER, {"code": "GOLD", "name": "Gold", "rank": 1, "qualifyingPoints": 5000}
    )
    assert payload["userErrors"] == [], payload


async def imported(brand, clock, source: io.BytesIO, **options):
    """Plan and write an import as the command does; (plan, outcome)."""
    plan = await plan_import(brand, source, clock.now(), "members.csv")
    return plan, await write_import(plan, **options)


async def member_of(brand, external_id: str) -> Member:
    """The row of the brand's member imported with this external id."""
    return await Member.get(brand_id=brand.id, external_id=external_id)
