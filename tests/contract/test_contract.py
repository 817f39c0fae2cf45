"""The exported schema honours the public contract, except for items explicitly pending."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema

from schema.build import export_sdl
from tests.contract.checker import MISSING, OK, verdicts
from tests.support.contract import CONTRACT

COMMITTED_SDL = Path(__file__).parents[2] / "schema.graphql"

# A missing type is one key; a field some other issue adds to a type is a key of its own.
PENDING: set[str] = set()


def exported_verdicts() -> dict[str, str]:
    return verdicts(CONTRACT, build_schema(export_sdl()))


def test_every_item_not_pending_holds():
    broken = {
        key: verdict
        for key, verdict in exported_verdicts().items()
        if key not in PENDING and verdict != OK
    }
    assert not broken, "contract broken:\n" + "\n".join(f"{k}: {v}" for k, v in broken.items())


def test_no_pending_item_exists_yet():
    built = sorted(key for key in PENDING if exported_verdicts().get(key, MISSING) != MISSING)
    assert not built, f"built, so remove from PENDING: {built}"


def test_every_pending_key_is_a_contract_item():
    unknown = sorted(PENDING - verdicts(CONTRACT, CONTRACT).keys())
    assert not unknown, f"not contract items: {unknown}"


def test_the_checker_reports_breaks():
    wanted = build_schema("type Query { f(a: Int = 1): Int! }  enum E { A B }")
    have = build_schema("type Query { f(a: Int = 2, b: ID!): Int }  enum E { A }")
    found = verdicts(wanted, have)
    assert found["Query.f"] == (
        "type Int, contract says Int!; argument a: default 2, contract says 1; "
        "extra required argument b breaks clients"
    )
    assert found["enum E.B"] == MISSING
    assert found["enum E.A"] == OK


def test_committed_schema_is_current():
    assert COMMITTED_SDL.read_text(encoding="utf-8") == export_sdl(), (
        "schema.graphql is stale: run `pointsmall export-schema > schema.graphql`"
    )
