"""Every field that reports user errors answers with a payload view (resolvers/payloads.py)
naming exactly the fields of its payload type: mypy checks that a resolver builds its view
whole; this, that each view and the type it shows agree."""

from __future__ import annotations

import dataclasses
from typing import get_type_hints

from strawberry.types.base import StrawberryObjectDefinition, StrawberryOptional

from resolvers.payloads import PayloadView
from schema.build import build_schema


def payload_fields() -> dict[str, tuple[type, type]]:
    """Each root field answering a type with userErrors: (its payload type, its Python one)."""
    schema = build_schema()
    found = {}
    for root in ("Query", "Mutation"):
        definition = schema.get_type_by_name(root)
        assert isinstance(definition, StrawberryObjectDefinition)
        for field in definition.fields:
            shown = field.type
            shown = shown.of_type if isinstance(shown, StrawberryOptional) else shown
            shown_definition = getattr(shown, "__strawberry_definition__", None)
            if shown_definition is None or "user_errors" not in {
                each.python_name for each in shown_definition.fields
            }:
                continue
            assert field.base_resolver is not None
            returned = get_type_hints(field.base_resolver.wrapped_func)["return"]
            found[f"{root}.{field.python_name}"] = (shown, returned)
    return found


def test_each_payload_type_is_shown_from_a_view_of_its_fields():
    found = payload_fields()
    assert "Mutation.create_partner" in found and "Query.settlement" in found
    disagreeing = {}
    for name, (shown, returned) in found.items():
        if not (isinstance(returned, type) and issubclass(returned, PayloadView)):
            disagreeing[name] = f"returns {returned!r}, not a PayloadView"
            continue
        wanted = {each.python_name for each in shown.__strawberry_definition__.fields}
        given = {each.name for each in dataclasses.fields(returned)}
        if wanted != given:
            disagreeing[name] = (
                f"{shown.__name__} {sorted(wanted)}, {returned.__name__} {sorted(given)}"
            )
    assert disagreeing == {}
