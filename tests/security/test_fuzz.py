"""Documents generated from the exported schema (schema.graphql), valid ones and ones with one
violation each, sent by every kind of caller: never an HTTP 5xx, never an INTERNAL error, and
no internals (tracebacks, Python exception names, SQL) in any answer."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import graphql
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from domain.partners import Scope
from tests.support.factories import unique_code
from tests.support.partners import create_partner, issue

SCHEMA = graphql.build_schema((Path(__file__).parents[2] / "schema.graphql").read_text())
SCHEMA_TYPE_NAMES = set(SCHEMA.type_map)

# Custom scalars take strings: good ones (as their parsers take them) mixed with any text.
SCALAR_VALUES = {
    "Date": st.dates().map(str),
    "DateTime": st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    "Decimal": st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
}
CUSTOM_SCALARS = {
    name: (SCALAR_VALUES.get(name, st.nothing()) | st.text(max_size=40)).map(nodes.String)
    for name, type_ in SCHEMA.type_map.items()
    if isinstance(type_, graphql.GraphQLScalarType)
    and name not in graphql.specified_scalar_types
    and not name.startswith("__")
}

TRACEBACK = re.compile(r'Traceback \(most recent call last\)|File "[^"]+", line \d+')
EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b")
SQL = re.compile(
    r"\b(?:SELECT\s.+\sFROM|INSERT INTO|DELETE FROM|UPDATE\s+\S+\s+SET)\b|asyncpg|tortoise"
    r"|violates \w+ constraint|relation \"|\bSQLSTATE\b",
    re.IGNORECASE,
)


def internals_in(text: str) -> list[str]:
    """What of the Python process or the database an answer shows (schema type names aside)."""
    found = [match.group() for pattern in (TRACEBACK, SQL) for match in pattern.finditer(text)]
    found += [name for name in EXCEPTION_NAME.findall(text) if name not in SCHEMA_TYPE_NAMES]
    return found


@pytest.fixture
async def callers(brand, make_token, staff, member_with_points) -> dict[str, dict[str, str]]:
    """The headers of every kind of caller of one brand."""
    _, member_token = await member_with_points(1000)
    partner = await create_partner(staff, code=f"p-{unique_code()}")
    key = await issue(staff, partner["id"], [scope.name for scope in Scope])
    bearer = {
        role: {"Authorization": f"Bearer {make_token(brand, role, f'fuzz-{role.lower()}')}"}
        for role in ("ADMIN", "STAFF", "ANALYST")
    }
    return {
        **bearer,
        "MEMBER": {"Authorization": f"Bearer {member_token}"},
        "PARTNER": {"X-Api-Key": key["secret"]},
        "VISITOR": {"X-Brand": brand.code},
    }


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
async def test_no_document_from_any_caller_gets_a_server_error(client, callers, mode):
    loop = asyncio.get_running_loop()

    async def send(document: str, caller: str) -> None:
        response = await client.post("/graphql", json={"query": document}, headers=callers[caller])
        assert response.status_code < 500, response.text
        errors = response.json().get("errors") or []
        codes = [error.get("extensions", {}).get("code") for error in errors]
        assert "INTERNAL" not in codes, errors
        # A message may quote the caller's own input back (a string that is not a DateTime).
        shown = [leak for leak in internals_in(str(errors)) if leak.lower() not in document.lower()]
        assert shown == [], errors

    @settings(
        max_examples=500,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        document=from_schema(SCHEMA, custom_scalars=CUSTOM_SCALARS, mode=mode),
        caller=st.sampled_from(sorted(callers)),
    )
    def answers_safely(document: str, caller: str) -> None:
        note(f"{caller} sent:\n{document}")
        asyncio.run_coroutine_threadsafe(send(document, caller), loop).result(60)

    await asyncio.to_thread(answers_safely)


def test_the_check_for_internals_sees_them_and_nothing_else():
    leaks = [
        'Traceback (most recent call last):\n  File "/app/domain/members.py", line 3',
        "tortoise.exceptions.ValidationError: member_code: Length of '0' 17 > 16",
        'relation "member" does not exist',
        "SELECT id FROM member WHERE code = $1",
    ]
    assert all(internals_in(leak) for leak in leaks)
    assert internals_in("Fragment cannot be spread here: 'UserError' is not 'Member'.") == []
