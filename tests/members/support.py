"""Small readers of GraphQL answers and ids, shared by the member tests."""

from __future__ import annotations

from db.models import Member
from resolvers.ids import parse_id


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
