"""The schema's shortcuts (schema/execution.py) give what strawberry and graphql-core would."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import GraphQLInputObjectType, coerce_input_value
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from schema.build import build_schema
from schema.execution import InputBuilder, attribute_reader

SCHEMA = build_schema()

# Input values as a client sends them in variables: nested inputs, lists of them, enums,
# scalars parsed by our own types, explicit nulls, and fields left to their defaults.
CLIENT_INPUTS = [
    (
        "RecordPurchaseInput",
        {
            "memberId": "TWVtYmVyOjE=",
            "storeCode": None,
            "orderRef": "A-1",
            "total": "25.50",
            "lines": [
                {"sku": "S1", "category": "beauty", "quantity": 2, "unitPrice": "10.00"},
                {"sku": "S2", "category": "food", "quantity": 1, "unitPrice": "5.50"},
            ],
            "occurredAt": "2026-11-24T10:00:00+08:00",
            "idempotencyKey": "k-1",
        },
    ),
    (
        "RecordPurchaseInput",
        {"memberId": "x", "orderRef": "A", "total": "1", "idempotencyKey": "k"},
    ),
    (
        "RedeemInput",
        {
            "itemId": "SXRlbTox",
            "idempotencyKey": "k",
            "shippingAddress": {
                "recipient": "Ada",
                "phone": "+8613800000000",
                "line1": "1 Road",
                "city": "Shanghai",
                "country": "CN",
            },
        },
    ),
    (
        "SetMemberStatusInput",
        {"memberId": "x", "status": "FROZEN", "reason": "fraud check", "idempotencyKey": "k"},
    ),
    (
        "CreateCatalogItemInput",
        {
            "sku": "S",
            "name": "Mug",
            "kind": "PHYSICAL",
            "category": "home",
            "pointsPrice": 100,
            "imageUrls": ["https://example.com/a.png"],
            "idempotencyKey": "k",
        },
    ),
    ("UpdateMyProfileInput", {"idempotencyKey": "k"}),
    (
        "UpdateMyProfileInput",
        {"birthday": "1990-05-01", "marketingSms": False, "idempotencyKey": "k"},
    ),
]


@contextlib.contextmanager
def strawberry_building_inputs() -> Iterator[None]:
    """strawberry's own way to build inputs, for the time of the block."""
    definitions = [
        concrete.definition
        for concrete in SCHEMA.schema_converter.type_map.values()
        if isinstance(concrete.definition, StrawberryObjectDefinition)
        and isinstance(concrete.definition.from_input, InputBuilder)
    ]
    builders = [definition.from_input for definition in definitions]
    for definition in definitions:
        definition.from_input = None
    try:
        yield
    finally:
        for definition, builder in zip(definitions, builders, strict=True):
            definition.from_input = builder


def converted(type_name: str, client_value: dict[str, Any]) -> Any:
    """The value a resolver receives for this input, as graphql-core and strawberry make it."""
    graphql_type = SCHEMA._schema.type_map[type_name]
    assert isinstance(graphql_type, GraphQLInputObjectType)
    coerced = coerce_input_value(client_value, graphql_type)
    python_type = SCHEMA.schema_converter.type_map[type_name].definition.origin
    converter = SCHEMA.schema_converter
    return convert_argument(coerced, python_type, converter.scalar_registry, SCHEMA.config)


@pytest.mark.parametrize(("type_name", "client_value"), CLIENT_INPUTS)
def test_inputs_are_built_as_strawberry_builds_them(type_name, client_value):
    ours = converted(type_name, client_value)
    with strawberry_building_inputs():
        theirs = converted(type_name, client_value)
    assert ours == theirs
    assert type(ours) is type(theirs)


def test_every_input_type_has_its_builder():
    inputs = [
        concrete.definition
        for concrete in SCHEMA.schema_converter.type_map.values()
        if isinstance(concrete.definition, StrawberryObjectDefinition)
        and concrete.definition.is_input
    ]
    assert len(inputs) > 30
    assert all(isinstance(definition.from_input, InputBuilder) for definition in inputs)


async def test_list_fields_with_directives_are_completed_as_they_say(staff, member_with_points):
    member, _ = await member_with_points(100)
    query = """
    query ($id: ID!, $show: Boolean!) {
      member(id: $id) {
        shown: ledger(first: 5) @include(if: $show) { edges { node { breakdown { points } } } }
        hidden: ledger(first: 5) @skip(if: $show) { totalCount }
        points { expiring(withinDays: 3650) @include(if: $show) { points } }
      }
    }
    """
    body = await staff.gql(query, {"id": member["id"], "show": True}, token=staff.token)
    assert "errors" not in body, body
    found = body["data"]["member"]
    assert "hidden" not in found
    assert [edge["node"]["breakdown"][0]["points"] for edge in found["shown"]["edges"]] == [100]
    assert found["points"]["expiring"] == [{"points": 100}]


def test_only_fields_without_resolver_or_extension_read_their_attribute_directly():
    names = SCHEMA.config.name_converter
    direct = guarded = 0
    for concrete in SCHEMA.schema_converter.type_map.values():
        definition = concrete.definition
        if not isinstance(definition, StrawberryObjectDefinition) or definition.is_input:
            continue
        for field in definition.fields:
            resolve = concrete.implementation.fields[names.from_field(field)].resolve
            reads_directly = resolve.__qualname__.startswith(attribute_reader.__qualname__)
            assert reads_directly == field.is_basic_field, (definition.name, field.python_name)
            direct += reads_directly
            guarded += bool(field.extensions)
    assert direct > 100 and guarded > 5
