"""Shortcuts around work strawberry and graphql-core repeat on every request; each gives the
same result as the work it skips, worked out once instead of per request.

Measured on recordPurchase in one process (server side, no database): reading its input took
about 65 µs, looking for `@stream` on its two list fields about 35 µs, of some 550 µs; its
payload's plain fields, read through strawberry's wrappers, 2% of the instructions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

import strawberry
from strawberry.scalars import is_scalar
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryObjectDefinition, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition


class RememberingNameConverter(NameConverter):
    """strawberry's names, each worked out once: it converts every input field's name on
    every request that passes the input."""

    def __init__(self) -> None:
        super().__init__()
        self._converted: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._converted.get(name)
        if converted is None:
            converted = self._converted[name] = super().apply_naming_config(name)
        return converted


class PlainListsExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core looks up `@stream` for every list field it completes, each time; a field
    with no directive at all cannot be streamed."""

    def get_stream_usage(self, field_details_list: Any, path: Any) -> Any:
        if not field_details_list[0].node.directives:
            return None
        return super().get_stream_usage(field_details_list, path)


def attribute_reader(name: str) -> Callable[..., Any]:
    def read(source: Any, info: Any) -> Any:
        return getattr(source, name)

    return read


def resolve_plain_fields_directly(schema: strawberry.Schema) -> None:
    """A field with no resolver and no extension reads the attribute of its name: strawberry
    gets there through three calls of its own per field and object."""
    if schema.config.default_resolver is not getattr:
        return
    names = schema.config.name_converter
    for concrete in schema.schema_converter.type_map.values():
        definition, graphql_type = concrete.definition, concrete.implementation
        if not isinstance(definition, StrawberryObjectDefinition) or definition.is_input:
            continue
        for field in definition.fields:
            graphql_field = graphql_type.fields.get(names.from_field(field))
            if field.is_basic_field and graphql_field is not None:
                graphql_field.resolve = attribute_reader(field.python_name)


# A field's value as graphql-core coerced it, to its Python value.
Convert = Callable[[Any, InputContext], Any]


class InputBuilder:
    """Builds an input type's value as strawberry would, with each field's conversion worked
    out once: strawberry resolves every field's annotation again on every request.

    Scalars and enums (graphql-core has parsed them already) are taken as they are; anything
    else (lists, nested inputs) is converted by strawberry.
    """

    def __init__(self, definition: StrawberryObjectDefinition) -> None:
        self.definition = definition
        # Fields without a default are None unless given, as strawberry builds inputs.
        self.unset = {
            field.python_name: None
            for field in definition.fields
            if field.default_value is MISSING and field.default_factory is MISSING
        }
        self._fields: list[tuple[str, str, Convert | None]] | None = None

    def __call__(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        fields = self._fields if self._fields is not None else self._plan(context)
        kwargs = dict(self.unset)
        for graphql_name, python_name, convert in fields:
            if graphql_name in value:
                given = value[graphql_name]
                kwargs[python_name] = given if convert is None else convert(given, context)
        return cls(**kwargs)

    def _plan(self, context: InputContext) -> list[tuple[str, str, Convert | None]]:
        names = context.config.name_converter
        fields = []
        for field in self.definition.fields:
            field_type = field.resolve_type(type_definition=self.definition)
            graphql_name = names.from_field(field)
            convert = _converter(field_type, graphql_name, context)
            fields.append((graphql_name, field.python_name, convert))
        self._fields = fields
        return fields


def _converter(field_type: Any, graphql_name: str, context: InputContext) -> Convert | None:
    leaf = field_type.of_type if isinstance(field_type, StrawberryOptional) else field_type
    if isinstance(leaf, StrawberryEnumDefinition) or (
        leaf is not strawberry.relay.GlobalID and is_scalar(leaf, context.scalar_registry)
    ):
        return None

    def convert(value: Any, context: InputContext) -> Any:
        return context.convert(value, field_type, graphql_name)

    return convert


def build_inputs_directly(schema: strawberry.Schema) -> None:
    """Give every input type of the schema its InputBuilder."""
    for concrete in schema.schema_converter.type_map.values():
        definition = concrete.definition
        if isinstance(definition, StrawberryObjectDefinition) and definition.is_input:
            if not isinstance(definition.from_input, InputBuilder):
                definition.from_input = InputBuilder(definition)
