"""The contract's scalars: Decimal only from strings with at most 2 places; DateTime with offset;
each names its specification (@specifiedBy) as the contract does."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from graphql import GraphQLScalarType, build_schema, specified_scalar_types

from schema.build import export_sdl
from schema.scalars import (
    parse_date,
    parse_datetime,
    parse_decimal,
    serialize_datetime,
    serialize_decimal,
)
from tests.support.contract import CONTRACT


def specifications(sdl_schema) -> dict[str, str | None]:
    return {
        name: kind.specified_by_url
        for name, kind in sdl_schema.type_map.items()
        if isinstance(kind, GraphQLScalarType) and name not in specified_scalar_types
    }


def test_every_custom_scalar_names_the_contracts_specification():
    exported = specifications(build_schema(export_sdl()))
    assert exported == specifications(CONTRACT)
    assert all(url and url.startswith("https://") for url in exported.values()), exported


@pytest.mark.parametrize("text", ["12.5", "12.50", "0", "-3.10", "999999999999999.99"])
def test_decimal_accepts_finite_strings_with_two_places_at_most(text):
    assert parse_decimal(text) == Decimal(text)


@pytest.mark.parametrize(
    "value",
    [12.5, 12, None, "NaN", "Infinity", "-inf", "1.005", "abc", "", " 7 ", "1E3",
     "1E+999999999", "+5", "1_000", "١٢", "1.", ".5", "1234567890123456"],
)  # fmt: skip
def test_decimal_refuses_floats_non_finite_and_extra_places(value):
    with pytest.raises(ValueError):
        parse_decimal(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("12.1"), "12.10"), (Decimal("3"), "3.00"), (0, "0.00"), (Decimal("-0.5"), "-0.50")],
)
def test_decimal_is_always_sent_with_two_places(value, text):
    assert serialize_decimal(value) == text


def test_datetime_needs_an_offset():
    moment = parse_datetime("2026-11-24T10:00:00+08:00")
    assert moment.utcoffset() == dt.timedelta(hours=8)
    with pytest.raises(ValueError):
        parse_datetime("2026-11-24T10:00:00")
    with pytest.raises(ValueError):
        parse_datetime(1700000000)
    assert serialize_datetime(moment) == "2026-11-24T10:00:00+08:00"
    with pytest.raises(ValueError):
        serialize_datetime(dt.datetime(2026, 11, 24))


def test_date_is_iso():
    assert parse_date("2026-02-28") == dt.date(2026, 2, 28)
    with pytest.raises(ValueError):
        parse_date("28/02/2026")


async def test_decimal_output_through_graphql(gql, brand):
    from domain.tiers import TierSpec, ensure_tier

    await ensure_tier(brand, TierSpec("GOLD", "Gold", 1, earn_multiplier=Decimal("1.5")))
    body = await gql("{ tiers { code benefits { earnMultiplier } } }", brand=brand.code)
    assert body["data"]["tiers"][1] == {"code": "GOLD", "benefits": {"earnMultiplier": "1.50"}}
