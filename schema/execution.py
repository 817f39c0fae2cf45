"""Shortcuts around work strawberry and graphql-core repeat on every request; each gives the
same result as the work it skips, worked out once instead of per request.

Measured on recordPurchase in one process (server side, no database): reading its input took
about 65 µs, looking for `@stream` on its two list fields about 35 µs, of some 550 µs; its
payload's plain fields, read through strawberry's wrappers, 2% of the instructions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import MISSING
from functools import partial
from weakref import WeakKeyDictionary

import orjson
import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    ExperimentalIncrementalExecutionResults,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
)
from graphql.pyutils import AwaitableOrValue
from strawberry.scalars import is_scalar
from strawberry.schema.name_converter import NameConverter

from schema.graphql_core_internals import StreamsOnlyWithDirectives, fragment_definition
from schema.strawberry_internals import (
    InputContext,
    StrawberryEnumDefinition,
    StrawberryGraphQLCoreExecutionContext,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
    field_definition,
)


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


# Field metadata: the field's value is the same whoever asks (it reads no caller, and has no
# permission of its own), so a subscription event may be executed once for all its subscribers.
SAME_FOR_EVERY_CALLER = {"same_for_every_caller": True}
# A subscription field's metadata: its events are the same for every subscriber (each gets the
# same object), so a process may render each once for all of them (`shares_events`).
SAME_FOR_EVERY_SUBSCRIBER = {"same_for_every_subscriber": True}

# What executing an operation gives: its result, or with @defer and @stream the first of several.
Outcome = ExecutionResult | ExperimentalIncrementalExecutionResults


class PlainListsExecutor(StreamsOnlyWithDirectives, StrawberryGraphQLCoreExecutionContext):
    """Lists without directives are not looked up for `@stream`; a subscription event that is
    the same for every subscriber is executed once per document and variables
    (`shared_event_result`)."""

    def execute_operation(self, serially: bool | None = None) -> AwaitableOrValue[Outcome]:
        if (
            serially is False
            and getattr(self.root_value, "same_for_every_subscriber", False)
            and self.operation.operation is OperationType.SUBSCRIPTION
            and same_for_every_caller(self)
        ):
            return shared_event_result(self, partial(super().execute_operation, serially))
        return super().execute_operation(serially)


# Per event (a payload its stream marks `same_for_every_subscriber`, as flashSaleStock's
# watchers in a process share one): its result per (operation, variables), or its execution
# in flight. At 5,000 watchers of a sale, one execution instead of 5,000 per change.
_event_results: WeakKeyDictionary[object, dict[tuple[int, bytes], asyncio.Future[Outcome]]] = (
    WeakKeyDictionary()
)


async def shared_event_result(
    executor: StrawberryGraphQLCoreExecutionContext,
    execute: Callable[[], AwaitableOrValue[Outcome]],
) -> Outcome:
    """The event's result for the executor's operation and variables, executed by the first
    subscriber to ask; a result with errors is not shared (each subscriber executes its own:
    an error may carry its request's id)."""
    results = _event_results.setdefault(executor.root_value, {})
    key = (id(executor.operation), orjson.dumps(executor.variable_values, default=str))
    shared = results.get(key)
    if shared is None:
        shared = results[key] = asyncio.ensure_future(_awaited(execute()))
        return await shared
    result = shared.result() if shared.done() else await asyncio.shield(shared)
    first = result if isinstance(result, ExecutionResult) else result.initial_result
    return await _awaited(execute()) if first.errors else result


async def _awaited(outcome: AwaitableOrValue[Outcome]) -> Outcome:
    if isinstance(outcome, ExecutionResult | ExperimentalIncrementalExecutionResults):
        return outcome
    return await outcome


# Whether an operation selects only fields the same for every caller, by id of its node (the
# document registry keeps the node, so its id is not reused meanwhile).
_caller_independent: dict[int, tuple[OperationDefinitionNode, bool]] = {}
CALLER_INDEPENDENT_KEPT = 1000


def same_for_every_caller(executor: StrawberryGraphQLCoreExecutionContext) -> bool:
    operation = executor.operation
    known = _caller_independent.get(id(operation))
    if known is None or known[0] is not operation:
        if len(_caller_independent) >= CALLER_INDEPENDENT_KEPT:
            _caller_independent.clear()
        root = executor.schema.subscription_type
        fragments = executor.fragments
        verdict = root is not None and _selects_caller_independent(
            executor.schema,
            lambda name: fragment_definition(fragments, name),
            root,
            operation.selection_set,
            root=True,
        )
        known = _caller_independent[id(operation)] = (operation, verdict)
    return known[1]


def shares_events(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> bool:
    """Whether every subscriber of this operation (with the same variables) gets the same
    messages after its first: a subscription of one field whose events are the same for every
    subscriber (SAME_FOR_EVERY_SUBSCRIBER), selecting only fields the same for every caller.
    The first message is each subscriber's own: it carries the field's permission checks."""
    operation = get_operation_ast(document, operation_name)
    root = schema.subscription_type
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION or not root:
        return False
    fields = [
        selection
        for selection in operation.selection_set.selections
        if not (isinstance(selection, FieldNode) and selection.name.value == "__typename")
    ]
    if len(fields) != 1 or not isinstance(fields[0], FieldNode) or fields[0].directives:
        return False
    field = root.fields.get(fields[0].name.value)
    definition = field_definition(field) if field is not None else None
    if definition is None or not definition.metadata.get("same_for_every_subscriber"):
        return False
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    return _selects_caller_independent(
        schema, fragments.get, root, operation.selection_set, root=True
    )


def _selects_caller_independent(
    schema: GraphQLSchema,
    fragment_of: Callable[[str], FragmentDefinitionNode | None],
    parent: GraphQLObjectType,
    selection_set: SelectionSetNode,
    *,
    root: bool = False,
) -> bool:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name == "__typename":
                continue
            field = parent.fields.get(name)
            if field is None or not (
                (root and field.subscribe is not None) or _caller_independent_field(parent, field)
            ):
                return False
            if selection.selection_set is not None:
                named = get_named_type(field.type)
                if not isinstance(named, GraphQLObjectType) or not _selects_caller_independent(
                    schema, fragment_of, named, selection.selection_set
                ):
                    return False
            continue
        condition: NamedTypeNode | None
        if isinstance(selection, FragmentSpreadNode):
            definition = fragment_of(selection.name.value)
            if definition is None:
                return False
            condition, inner = definition.type_condition, definition.selection_set
        else:
            assert isinstance(selection, InlineFragmentNode)
            condition, inner = selection.type_condition, selection.selection_set
        if inner is None or (condition is not None and condition.name.value != parent.name):
            return False
        if not _selects_caller_independent(schema, fragment_of, parent, inner, root=root):
            return False
    return True


def _caller_independent_field(parent: GraphQLObjectType, field: GraphQLField) -> bool:
    definition = field_definition(field)
    if definition is None or definition.permission_classes:
        return False
    if definition.is_basic_field or definition.metadata.get("same_for_every_caller"):
        return True
    # A node's global id is its type's name and its key.
    return definition.python_name == "id" and any(i.name == "Node" for i in parent.interfaces)


def attribute_reader(name: str) -> Callable[[object, GraphQLResolveInfo], object]:
    def read(source: object, info: GraphQLResolveInfo) -> object:
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
        assert isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType)
        for field in definition.fields:
            graphql_field = graphql_type.fields.get(names.from_field(field))
            if field.is_basic_field and graphql_field is not None:
                graphql_field.resolve = attribute_reader(field.python_name)


# A field's value as graphql-core coerced it, to its Python value.
Convert = Callable[[object, InputContext], object]


class InputBuilder:
    """Builds an input type's value as strawberry would, with each field's conversion worked
    out once: strawberry resolves every field's annotation again on every request.

    Scalars and enums (graphql-core has parsed them already) are taken as they are; anything
    else (lists, nested inputs) is converted by strawberry.
    """

    def __init__(self, definition: StrawberryObjectDefinition) -> None:
        self.definition = definition
        # Fields without a default are None unless given, as strawberry builds inputs.
        self.unset: dict[str, object] = {
            field.python_name: None
            for field in definition.fields
            if field.default_value is MISSING and field.default_factory is MISSING
        }
        self._fields: list[tuple[str, str, Convert | None]] | None = None

    def __call__(self, cls: type, value: Mapping[str, object], context: InputContext) -> object:
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


def _converter(
    field_type: StrawberryType | type, graphql_name: str, context: InputContext
) -> Convert | None:
    leaf = field_type.of_type if isinstance(field_type, StrawberryOptional) else field_type
    if isinstance(leaf, StrawberryEnumDefinition) or (
        leaf is not strawberry.relay.GlobalID and is_scalar(leaf, context.scalar_registry)
    ):
        return None

    def convert(value: object, context: InputContext) -> object:
        return context.convert(value, field_type, graphql_name)

    return convert


def build_inputs_directly(schema: strawberry.Schema) -> None:
    """Give every input type of the schema its InputBuilder."""
    for concrete in schema.schema_converter.type_map.values():
        definition = concrete.definition
        if isinstance(definition, StrawberryObjectDefinition) and definition.is_input:
            if not isinstance(definition.from_input, InputBuilder):
                definition.from_input = InputBuilder(definition)
