"""Pre-checks: a field may declare a check that can answer it before GraphQL execution.

At 10:00, thousands of members press "buy" on a sale of a hundred units: nearly every attempt is
refused (sold out, not started, the limit) by the entry script alone, and GraphQL execution
would cost more than the script. So `enterFlashSale` declares its check (`Precheck`, in the
field's metadata). A document whose one operation selects only such a field is planned when it
is registered (schema/documents.py): the operation, its variables' definitions (coerced by
graphql-core against the schema, defaults included), the field's arguments (converted by
strawberry, as its resolver gets them), and the response shape of a refusal, read from the
schema (aliases, `__typename`, fragments on the payload type). The server (server/prechecks.py)
then runs the check for a request of that document; a refusal is rendered from the plan as
execution would render it, anything else goes through execution with the check's verdict.
tests/flash_sales/test_prechecks.py runs every planned document both ways, byte for byte.

A query field's check may answer it whole (`answers`): its value is the field's value, and its
objects carry, as attributes, the values of the fields that declare PLANNED (fields with a
resolver that the check works out as the resolver would). Such a document is planned only if
every field it selects can be rendered so; the catalog's page, the member's own page (`me`) and
the brand's (`brand`) are (tests/catalog/test_planned_pages.py runs them both ways). A check
that declares `selected` gets which PLANNED fields the document selects, each with its
arguments as its resolver would get them, so it reads only what the page shows; the permission
classes of those fields are asked before the check, as execution would ask them.

Design: docs/architecture.md, "Planned documents"; docs/decisions.md, "Planned pages, not cached
responses".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableValues,
    get_argument_values,
    get_named_type,
    get_variable_values,
    is_abstract_type,
    is_leaf_type,
)
from strawberry import Info
from strawberry.permission import BasePermission, PermissionExtension

from domain.errors import DomainError, ErrorCode
from resolvers.ids import encode_id
from schema.safety import nul_in_variables
from schema.strawberry_internals import convert_arguments, field_definition, graphql_schema_of

Renderer = Callable[[Any], Any]
PRECHECK = "pointsmall.precheck"  # the key of a field's metadata that declares its pre-check
# The key of a field's metadata saying that an answering check's objects hold its value in the
# attribute of its Python name.
PLANNED = "pointsmall.planned"
# A refusal rendered once at plan time: a document whose refusal cannot be rendered is not planned.
MAX_REFUSALS_KEPT = 64  # rendered refusals kept per plan
SAMPLE_REFUSAL = DomainError(ErrorCode.SOLD_OUT, "sample", ["flashSaleId"])


@dataclass(frozen=True)
class Precheck:
    """What a field declares: `check(backends, principal, **arguments)` raises a DomainError
    to refuse (the field is then `refusal(error)`, as its resolver would return it) or returns
    the verdict its resolver goes on from (`context.flash_verdict`); a refusal's value depends
    on the error's code, message and field alone (it is rendered once for each). It assumes
    the caller passed exactly the permission classes `assumes`: the field must declare those
    and no others (`check_declarations` fails the schema's build otherwise).

    With `answers` (and no `refusal`), what the check returns is the field's value, rendered
    from the plan; a DomainError leaves the request to execution, which reports it."""

    check: Callable[..., Awaitable[Any]]
    assumes: tuple[type[BasePermission], ...]
    refusal: Callable[[DomainError], Any] | None = None
    answers: bool = False
    # The check takes `selected`: each PLANNED field selected, by its path of Python names
    # ("points.expiring"), with its arguments.
    selected: bool = False


Selected = Mapping[str, Mapping[str, Any]]  # what a check declaring `selected` gets


@dataclass(frozen=True, slots=True)
class _PlannedField:
    """A PLANNED field a document selects: where, and how to work out its arguments."""

    path: str
    field: GraphQLField
    node: FieldNode


class Unplannable(Exception):
    """A selection the plan does not render (directives on variables, a field that needs its
    resolver): the document goes through execution."""


def check_declarations(schema: Any) -> None:
    """Every field declaring a pre-check declares exactly the permissions the check assumes."""
    for root in (graphql_schema_of(schema).query_type, graphql_schema_of(schema).mutation_type):
        if root is None:
            continue
        for name, field in root.fields.items():
            definition = field_definition(field)
            precheck = definition.metadata.get(PRECHECK) if definition is not None else None
            if precheck is None:
                continue
            declared = tuple(definition.permission_classes)
            if declared != precheck.assumes:
                raise AssertionError(
                    f"{root.name}.{name} declares the permissions {declared} but its pre-check "
                    f"assumes {precheck.assumes}: they must agree."
                )


@dataclass(frozen=True, slots=True)
class FieldShape:
    key: str  # the response key (the alias, or the name)
    typename: bool  # `__typename`
    python_name: str | None  # the attribute a plain field reads; None: it needs its resolver
    type: GraphQLOutputType | None
    fields: tuple[FieldShape, ...] | None  # of an object-typed field's selection
    node_id: bool = False  # a Node's global id: its type's name and the object's `pk`


@dataclass(frozen=True, slots=True)
class PrecheckPlan:
    """A registered document's one field with a pre-check, worked out once."""

    operation_name: str | None
    root_key: str
    field_name: str
    precheck: Precheck
    permissions: tuple[BasePermission, ...]
    _schema: Any  # the strawberry schema
    _operation: OperationDefinitionNode
    _node: FieldNode
    _field: GraphQLField
    _shape: FieldShape
    _refusals: dict[tuple[Any, ...], dict[str, Any]] = dataclasses.field(default_factory=dict)
    renderer: Callable[[Any], Any] | None = None  # an answering plan's renderer of its value
    planned_fields: tuple[_PlannedField, ...] = ()  # for a check declaring `selected`
    # The arguments of a request without variables, worked out for the first (the same for
    # every such request: the check's to read, never to change).
    _without_variables: list[dict[str, Any] | None] = dataclasses.field(default_factory=list)

    def arguments(self, variables: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The check's arguments: the field's as its resolver gets them (and `selected`, for a
        check declaring it), or None for variables that execution would refuse (it reports
        why)."""
        if not variables:
            if not self._without_variables:
                self._without_variables.append(self._worked_out({}))
            return self._without_variables[0]
        return self._worked_out(variables)

    def _worked_out(self, variables: Mapping[str, Any]) -> dict[str, Any] | None:
        if nul_in_variables(dict(variables or {})):
            return None
        coerced = get_variable_values(
            graphql_schema_of(self._schema),
            self._operation.variable_definitions or (),
            dict(variables or {}),
        )
        if isinstance(coerced, list):
            return None
        try:
            arguments = self._converted(self._field, self._node, coerced)
            if self.precheck.selected:
                arguments["selected"] = {
                    planned.path: self._converted(planned.field, planned.node, coerced)
                    for planned in self.planned_fields
                }
            return arguments
        except (GraphQLError, DomainError):
            return None

    def _converted(
        self, field: GraphQLField, node: FieldNode, variables: VariableValues
    ) -> dict[str, Any]:
        values = get_argument_values(field, node, variables)
        return convert_arguments(
            values,
            field_definition(field).arguments,
            scalar_registry=self._schema.schema_converter.scalar_registry,
            config=self._schema.config,
        )

    def admits(self, context: Any) -> bool:
        """Whether the field's permissions let this caller through (else execution says no)."""
        # Permission classes read only `info.context` (their principal).
        info = cast(Info, _PermissionInfo(context))
        try:
            return all(permission.has_permission(None, info) for permission in self.permissions)
        except GraphQLError:
            return False

    def answer(self, value: Any) -> dict[str, Any]:
        """The response's data for an answering check's value, as execution writes it."""
        assert self.renderer is not None
        return {self.root_key: self.renderer(value)}

    def refusal(self, error: DomainError) -> dict[str, Any]:
        """The response's data for a refusal, as execution writes it (rendered once for each
        code, message and field: the script refuses in a few ways, thousands of times)."""
        key = (error.code, error.message, tuple(error.field or ()))
        data = self._refusals.get(key)
        if data is None:
            assert self.precheck.refusal is not None
            value = self.precheck.refusal(error)
            assert self._shape.type is not None
            data = {self.root_key: _complete(self._shape.type, value, self._shape.fields)}
            if len(self._refusals) < MAX_REFUSALS_KEPT:
                self._refusals[key] = data
        return data


@dataclass(frozen=True, slots=True)
class _PermissionInfo:
    """What permission classes read of `info`: the context (its principal)."""

    context: Any


def plan_of(schema: Any, document: DocumentNode) -> PrecheckPlan | None:
    """The plan of a valid document whose one operation selects one field with a pre-check."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        return None
    (operation,) = operations
    if operation.operation is OperationType.SUBSCRIPTION or operation.directives:
        return None
    graphql_schema: GraphQLSchema = graphql_schema_of(schema)
    root = graphql_schema.get_root_type(operation.operation)
    if root is None:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    try:
        selected = _collect(graphql_schema, root, [operation.selection_set], fragments)
        if len(selected) != 1:
            return None
        ((root_key, nodes),) = selected.items()
        if len(nodes) != 1 or nodes[0].name.value not in root.fields:
            return None
        (node,) = nodes
        graphql_field = root.fields[node.name.value]
        definition = field_definition(graphql_field)
        precheck = definition.metadata.get(PRECHECK) if definition is not None else None
        if precheck is None:
            return None
        planned = _Planned() if precheck.answers else None
        shape = _shape(
            graphql_schema, root_key, graphql_field.type, nodes, fragments, definition, planned
        )
        render = None
        if planned is not None:
            assert shape.type is not None
            render = _renderer(shape.type, shape.fields)
        plan = PrecheckPlan(
            operation.name.value if operation.name else None,
            root_key,
            node.name.value,
            precheck,
            tuple(permission() for permission in definition.permission_classes)
            + (planned.permissions if planned is not None else ()),
            schema,
            operation,
            node,
            graphql_field,
            shape,
            renderer=render,
            planned_fields=tuple(planned.fields.values()) if planned is not None else (),
        )
        if precheck.refusal is not None:
            plan.refusal(SAMPLE_REFUSAL)  # renders, or the document is not planned
    except Unplannable:
        return None
    return plan


def _included(directives: Sequence[DirectiveNode] | None) -> bool:
    """Whether literal @include/@skip keep a selection; any other directive, or one on a
    variable, is for execution to judge."""
    for directive in directives or ():
        name = directive.name.value
        if name not in ("include", "skip") or len(directive.arguments or ()) != 1:
            raise Unplannable(name)
        (argument,) = directive.arguments or ()
        if not isinstance(argument.value, BooleanValueNode):
            raise Unplannable(name)
        if argument.value.value != (name == "include"):
            return False
    return True


def _collect(
    schema: GraphQLSchema,
    type_: GraphQLObjectType,
    selection_sets: Sequence[SelectionSetNode | None],
    fragments: Mapping[str, FragmentDefinitionNode],
) -> dict[str, list[FieldNode]]:
    """Each response key's field nodes, in execution's order (graphql-core's CollectFields)."""
    fields: dict[str, list[FieldNode]] = {}

    def matches(condition: Any) -> bool:
        if condition is None or condition.name.value == type_.name:
            return True
        abstract = schema.get_type(condition.name.value)
        return is_abstract_type(abstract) and schema.is_sub_type(abstract, type_)

    def visit(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            if not _included(selection.directives):
                continue
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if matches(selection.type_condition):
                    visit(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments[selection.name.value]
                if matches(fragment.type_condition):
                    visit(fragment.selection_set)

    for selection_set in selection_sets:
        visit(selection_set)
    return fields


@dataclass
class _Planned:
    """What an answering plan collects of the PLANNED fields it selects."""

    fields: dict[str, _PlannedField] = dataclasses.field(default_factory=dict)
    permissions: tuple[BasePermission, ...] = ()

    def add(self, path: str, field: GraphQLField, nodes: list[FieldNode], definition: Any) -> None:
        if path in self.fields:
            if field.args:  # one path, one value: the field twice with arguments is execution's
                raise Unplannable(path)
            return
        for extension in definition.extensions:
            if not isinstance(extension, PermissionExtension) or extension.fail_silently:
                raise Unplannable(f"{path}: an extension")
            self.permissions += tuple(extension.permissions)
        self.fields[path] = _PlannedField(path, field, nodes[0])


def _shape(
    schema: GraphQLSchema,
    key: str,
    type_: GraphQLOutputType,
    nodes: list[FieldNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    definition: Any,
    planned: _Planned | None = None,
    parent: GraphQLObjectType | None = None,
    path: str = "",
) -> FieldShape:
    named = get_named_type(type_)
    fields = None
    if isinstance(named, GraphQLObjectType):
        selected = _collect(schema, named, [node.selection_set for node in nodes], fragments)
        shapes = []
        for sub_key, sub_nodes in selected.items():
            name = sub_nodes[0].name.value
            if name == "__typename":
                shapes.append(FieldShape(sub_key, True, None, None, None))
                continue
            sub_field = named.fields[name]
            sub_definition = field_definition(sub_field)
            shapes.append(
                _shape(
                    schema,
                    sub_key,
                    sub_field.type,
                    sub_nodes,
                    fragments,
                    sub_definition,
                    planned,
                    named,
                    f"{path}.{sub_definition.python_name}" if path else sub_definition.python_name,
                )
            )
        fields = tuple(shapes)
    is_planned = (
        planned is not None
        and parent is not None
        and definition is not None
        and (
            definition.metadata.get(PLANNED, False)
            # A field without a resolver that only its permission classes guard.
            or (definition.base_resolver is None and definition.extensions)
        )
    )
    if is_planned:
        assert planned is not None and parent is not None
        planned.add(path, parent.fields[nodes[0].name.value], nodes, definition)
    plain = definition is not None and (definition.is_basic_field or is_planned)
    answering = planned is not None
    node_id = (
        answering
        and parent is not None
        and definition is not None
        and definition.python_name == "id"
        and not definition.is_basic_field
        and not definition.arguments
        and any(interface.name == "Node" for interface in parent.interfaces)
    )
    python_name = definition.python_name if plain else None
    return FieldShape(key, False, python_name, type_, fields, bool(node_id))


def _renderer(type_: GraphQLOutputType, fields: tuple[FieldShape, ...] | None) -> Renderer:
    """`_complete` for one shape, worked out once (an answer is rendered on every request):
    Unplannable now for a selection it cannot render, and when rendering a null for a non-null
    field (execution then answers, with its error)."""
    if isinstance(type_, GraphQLNonNull):
        inner = _renderer(type_.of_type, fields)

        def non_null(value: Any) -> Any:
            if value is None:
                raise Unplannable("null for a non-null field")
            return inner(value)

        return non_null
    if isinstance(type_, GraphQLList):
        item = _renderer(type_.of_type, fields)
        return lambda value: None if value is None else [item(one) for one in value]
    if is_leaf_type(type_):
        serialize = type_.serialize
        return lambda value: None if value is None else serialize(value)
    if not isinstance(type_, GraphQLObjectType) or fields is None:
        raise Unplannable("an abstract type")
    name = type_.name
    parts: list[tuple[str, Renderer]] = []
    for field in fields:
        if field.typename:
            parts.append((field.key, lambda value: name))
        elif field.node_id and field.type is not None:
            parts.append((field.key, _node_id_reader(name, _renderer(field.type, None))))
        elif field.python_name is None or field.type is None:
            raise Unplannable("a field with a resolver")
        elif isinstance(field.type, GraphQLNonNull) and is_leaf_type(field.type.of_type):
            parts.append((field.key, _leaf_reader(field.python_name, field.type.of_type)))
        else:
            read = _renderer(field.type, field.fields)
            parts.append((field.key, _attribute_reader(field.python_name, read)))

    def render(value: Any) -> Any:
        if value is None:
            return None
        return {key: part(value) for key, part in parts}

    return render


def _node_id_reader(type_name: str, as_id: Renderer) -> Renderer:
    return lambda value: as_id(encode_id(type_name, value.pk))


def _attribute_reader(attribute: str, read: Renderer) -> Renderer:
    return lambda value: read(getattr(value, attribute))


def _leaf_reader(attribute: str, type_: Any) -> Renderer:
    """A non-null leaf field's renderer, in one call (most of a page's fields are such)."""
    serialize = type_.serialize

    def read(value: Any) -> Any:
        leaf = getattr(value, attribute)
        if leaf is None:
            raise Unplannable("null for a non-null field")
        return serialize(leaf)

    return read


def _complete(type_: GraphQLOutputType, value: Any, fields: tuple[FieldShape, ...] | None) -> Any:
    """graphql-core's completion of a value, for values read from plain attributes."""
    if isinstance(type_, GraphQLNonNull):
        if value is None:
            raise Unplannable("null for a non-null field")
        return _complete(type_.of_type, value, fields)
    if value is None:
        return None
    if isinstance(type_, GraphQLList):
        return [_complete(type_.of_type, item, fields) for item in value]
    if is_leaf_type(type_):
        return type_.serialize(value)
    if not isinstance(type_, GraphQLObjectType) or fields is None:
        raise Unplannable("an abstract type")
    completed: dict[str, Any] = {}
    for field in fields:
        if field.typename:
            completed[field.key] = type_.name
        elif field.node_id and field.type is not None:
            completed[field.key] = _complete(field.type, encode_id(type_.name, value.pk), None)
        elif field.python_name is None or field.type is None:
            raise Unplannable("a field with a resolver")
        else:
            completed[field.key] = _complete(
                field.type, getattr(value, field.python_name), field.fields
            )
    return completed
