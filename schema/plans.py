"""Plans of plain selections: graphql-core's completion of a value whose selected fields are
read from plain attributes, worked out once from the schema and the document.

Two kinds of plan render with it: a pre-check's (schema/prechecks.py: a refusal's payload, an
answering check's page) and a socket's taken-over subscription (server/planned_streams.py). A
selection is collected as graphql-core's CollectFields collects it (fragments, inline
fragments, literal @include/@skip, a response key selected twice merged); a renderer writes
`__typename`, basic fields, lists, a Node's `id` (from `pk`) and, where the plan says so,
fields with a resolver whose value the rendered object holds under the field's Python name. A
field guarded by permission classes that refuse with an error is rendered and its classes
listed, for the plan to ask before rendering; one whose classes `fail_silently` is null for a
caller they refuse, where the plan renders with the caller's `info`. Anything else (a field
that needs its resolver, an abstract type, another field extension, a directive on a variable)
is `Unplannable`: the document goes through execution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from keyword import iskeyword
from typing import Any

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    is_abstract_type,
    is_leaf_type,
)
from strawberry.permission import BasePermission, PermissionExtension

from resolvers.ids import encode_id
from schema.strawberry_internals import field_definition

Renderer = Callable[[Any, Any], Any]  # of a value, and what permission classes read of `info`
NULL_FOR_NON_NULL = "null for a non-null field"


class Unplannable(Exception):
    """A selection a plan does not render (raised while planning: the document goes through
    execution), or a value it cannot write (raised while rendering: a null for a non-null
    field, which each plan's caller handles its own way)."""


@dataclass(frozen=True, slots=True)
class PermissionInfo:
    """What permission classes read of `info`: the context (its principal)."""

    context: Any


def admitted(permissions: Sequence[BasePermission], source: Any, info: Any) -> bool:
    """Whether every permission class lets the caller through (one that raises says no)."""
    try:
        return all(permission.has_permission(source, info) is True for permission in permissions)
    except GraphQLError:
        return False


@dataclass(frozen=True, slots=True)
class PlannedField:
    """A field with a resolver that a plan reads from an attribute: where, and the node its
    arguments are worked out from."""

    path: str  # Python names from the plan's root field ("points.expiring")
    field: GraphQLField
    node: FieldNode


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def only_field(
    schema: GraphQLSchema,
    root: GraphQLObjectType,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> tuple[str, FieldNode] | None:
    """The response key and node of an operation's one root field, selected once."""
    selected = collect(schema, root, [operation.selection_set], fragments)
    if len(selected) != 1:
        return None
    ((key, nodes),) = selected.items()
    if len(nodes) != 1 or nodes[0].name.value not in root.fields:
        return None
    return key, nodes[0]


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


def collect(
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


class Planner:
    """Compiles renderers of one document's selections, and lists what its plan must know.

    `planned` says which fields with a resolver (or guarded by permission classes) the
    rendered objects hold as attributes: each is listed in `planned_fields`. With
    `silent_permissions` the renderers are given the caller's `info`, and a field whose
    permission classes `fail_silently` is rendered. `lazy`: a selection it cannot render fails
    only when a value reaches it (a refusal's payload, whose objects are mostly null) rather
    than now; a field with permission classes is then such a selection, since a field that may
    never be reached cannot have its classes asked first."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        *,
        planned: Callable[[Any], bool] | None = None,
        silent_permissions: bool = False,
        lazy: bool = False,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.planned = planned
        self.silent_permissions = silent_permissions
        self.lazy = lazy
        # The permission classes that refuse with an error, of the fields rendered: execution
        # would put a refused field's error in the result, so the plan asks them first.
        self.permissions: list[BasePermission] = []
        self.planned_fields: dict[str, PlannedField] = {}
        # The attributes the renderers read of the objects at each path (Python names from the
        # root field: "ledger.edges.node"); None where a permission class may read any.
        self.reads: dict[str, set[str] | None] = {}
        self._listed: set[int] = set()  # the extensions whose permission classes are listed

    def renderer(
        self, type_: GraphQLOutputType, nodes: Sequence[FieldNode], path: str = ""
    ) -> Renderer:
        """graphql-core's completion of a value of `type_` selected by `nodes` (one field's,
        merged) at `path`; it raises Unplannable when it meets a null for a non-null field."""
        if isinstance(type_, GraphQLNonNull):
            inner = self.renderer(type_.of_type, nodes, path)

            def non_null(value: Any, info: Any) -> Any:
                if value is None:
                    raise Unplannable(NULL_FOR_NON_NULL)
                return inner(value, info)

            return non_null
        if isinstance(type_, GraphQLList):
            item = self.renderer(type_.of_type, nodes, path)
            return lambda value, info: None if value is None else [item(one, info) for one in value]
        if is_leaf_type(type_):
            serialize = serializer(type_)
            return lambda value, info: None if value is None else serialize(value)
        if not isinstance(type_, GraphQLObjectType):
            return self._unrenderable("an abstract type")
        selected = collect(
            self.schema, type_, [node.selection_set for node in nodes], self.fragments
        )
        return _object_renderer(
            [(key, self._field(type_, nodes, path)) for key, nodes in selected.items()]
        )

    def _field(
        self, parent: GraphQLObjectType, nodes: list[FieldNode], path: str
    ) -> Renderer | Leaf:
        name = nodes[0].name.value
        if name == "__typename":
            typename = parent.name
            return lambda value, info: typename
        field = parent.fields[name]
        definition = field_definition(field)
        where = f"{parent.name}.{name}"
        if definition is None:
            return self._unrenderable(f"{where}: a resolver")
        parent_path = path
        path = f"{path}.{definition.python_name}" if path else definition.python_name
        if _is_node_id(parent, definition):
            self._read(parent_path, "pk")
            typename = parent.name
            id_type = field.type.of_type if isinstance(field.type, GraphQLNonNull) else None
            if id_type is not None and id_type.serialize is GraphQLID.serialize:
                return Leaf("pk", partial(encode_id, typename))  # a str, as ID writes it
            as_id = self.renderer(field.type, nodes, path)
            return lambda value, info: as_id(encode_id(typename, value.pk), info)
        planned = self.planned is not None and self.planned(definition)
        if definition.base_resolver is not None and not planned:
            return self._unrenderable(f"{where}: a resolver")
        extensions = definition.extensions
        if extensions and (
            self.lazy or not all(isinstance(one, PermissionExtension) for one in extensions)
        ):
            return self._unrenderable(f"{where}: an extension")
        silent = [one for one in extensions if one.fail_silently]
        if silent and (
            not self.silent_permissions
            or len(extensions) > 1
            or isinstance(field.type, GraphQLNonNull)
        ):
            return self._unrenderable(f"{where}: a permission that fails silently")
        for extension in extensions:
            if not extension.fail_silently and id(extension) not in self._listed:
                self._listed.add(id(extension))
                self.permissions.extend(extension.permissions)
        if planned:
            self._plan(path, field, nodes[0])
        attribute = definition.python_name
        self._read(parent_path, None if silent else attribute)
        if (
            not silent
            and isinstance(field.type, GraphQLNonNull)
            and is_leaf_type(field.type.of_type)
            and attribute.isidentifier()
            and not iskeyword(attribute)
        ):
            return Leaf(attribute, serializer(field.type.of_type))
        read = self.renderer(field.type, nodes, path)
        if not silent:
            return lambda value, info: read(getattr(value, attribute), info)
        # Null for a caller its permission classes refuse (strawberry's `fail_silently`).
        guards = tuple(silent[0].permissions)
        return lambda value, info: (
            read(getattr(value, attribute), info) if admitted(guards, value, info) else None
        )

    def _read(self, path: str, attribute: str | None) -> None:
        """Note that the object at `path` is read `attribute` (None: any attribute)."""
        read = self.reads.setdefault(path, set())
        if attribute is None:
            self.reads[path] = None
        elif read is not None:
            read.add(attribute)

    def _plan(self, path: str, field: GraphQLField, node: FieldNode) -> None:
        if path in self.planned_fields:
            if field.args:  # one path, one value: the field twice with arguments is execution's
                raise Unplannable(path)
            return
        self.planned_fields[path] = PlannedField(path, field, node)

    def _unrenderable(self, why: str) -> Renderer:
        """Unplannable now; planning lazily, once a value reaches it."""
        if not self.lazy:
            raise Unplannable(why)

        def fail(value: Any, info: Any) -> None:
            if value is not None:
                raise Unplannable(why)

        return fail


def _is_node_id(parent: GraphQLObjectType, definition: Any) -> bool:
    """A Node's global id: its type's name and the object's `pk`."""
    return (
        definition.python_name == "id"
        and not definition.is_basic_field
        and not definition.arguments
        and not definition.extensions
        and any(interface.name == "Node" for interface in parent.interfaces)
    )


GRAPHQL_INT_MIN, GRAPHQL_INT_MAX = -(2**31), 2**31 - 1


def serializer(type_: Any) -> Callable[[Any], Any]:
    """The leaf type's `serialize`, with a shortcut for the values a page holds (an int in
    range, a str, a bool, a member of a strawberry enum) that gives what `serialize` gives;
    any other value still goes through `serialize`."""
    serialize: Callable[[Any], Any] = type_.serialize
    if serialize is GraphQLInt.serialize:
        return lambda value: (
            value
            if type(value) is int and GRAPHQL_INT_MIN <= value <= GRAPHQL_INT_MAX
            else serialize(value)
        )
    if serialize is GraphQLString.serialize or serialize is GraphQLID.serialize:
        return lambda value: value if type(value) is str else serialize(value)
    if serialize is GraphQLBoolean.serialize:
        return lambda value: value if type(value) is bool else serialize(value)
    enum = getattr(type_, "wrapped_cls", None)
    if isinstance(type_, GraphQLEnumType) and enum is not None:
        # strawberry's enum writes the first name whose value is the member's value.
        names: dict[Any, str] = {}
        for name, definition in type_.values.items():
            for member in enum:
                if member.value == definition.value:
                    names.setdefault(member, name)

        def serialize_member(value: Any) -> Any:
            name = names.get(value) if type(value) is enum else None
            return name if name is not None else serialize(value)

        return serialize_member
    return serialize


@dataclass(frozen=True, slots=True)
class Leaf:
    """A non-null leaf field read from an attribute (most of a page's fields are such): its
    object's renderer reads and writes it in its own code."""

    attribute: str  # a Python name
    serialize: Callable[[Any], Any]


def _object_renderer(parts: Sequence[tuple[str, Renderer | Leaf]]) -> Renderer:
    """graphql-core's completion of an object: each response key's value, in order, in one
    function compiled for the selection (a page renders thousands of objects a second, and a
    comprehension over the parts' renderers cost it a call and a frame for each field). The
    keys are GraphQL names (written by repr) and a Leaf's attribute an identifier."""
    namespace: dict[str, Any] = {"Unplannable": Unplannable, "NULL": NULL_FOR_NON_NULL}
    lines = ["def render(value, info):", "    if value is None:", "        return None"]
    for at, (_, part) in enumerate(parts):
        if isinstance(part, Leaf):
            namespace[f"serialize{at}"] = part.serialize
            lines += [
                f"    value{at} = value.{part.attribute}",
                f"    if value{at} is None:",
                "        raise Unplannable(NULL)",
                f"    value{at} = serialize{at}(value{at})",
            ]
        else:
            namespace[f"part{at}"] = part
            lines.append(f"    value{at} = part{at}(value, info)")
    items = ", ".join(f"{key!r}: value{at}" for at, (key, _) in enumerate(parts))
    lines.append(f"    return {{{items}}}")
    exec("\n".join(lines), namespace)
    render: Renderer = namespace["render"]
    return render


# ---------------------------------------------------------------- taken-over subscriptions

# The subscription fields whose later events a socket may render itself.
TAKEN_OVER_FIELDS = frozenset({"balanceChanged"})


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """How to render a taken-over subscription's later results."""

    root_key: str
    render_value: Renderer
    # The permission classes of the fields it renders that refuse with an error (execution
    # would put a refused field's error in the result): asked before taking a stream over,
    # and before each event.
    permissions: tuple[BasePermission, ...]

    def admits(self, context: Any) -> bool:
        return admitted(self.permissions, None, PermissionInfo(context))

    def render(self, value: Any, context: Any) -> dict[str, Any]:
        """A result's `data`, as graphql-core completes the field's value; a null for a
        non-null field raises, and the stream reports it as a failure."""
        info = PermissionInfo(context)
        for permission in self.permissions:
            if not admitted((permission,), value, info):
                permission.on_unauthorized()  # raises the error execution would report
        return {self.root_key: self.render_value(value, info)}


def stream_plan_of(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> StreamPlan | None:
    """The plan of a subscription selecting one field of TAKEN_OVER_FIELDS, alone, whose later
    events a socket renders itself (server/planned_streams.py); None for any other operation,
    Unplannable for a selection that needs execution."""
    root = schema.subscription_type
    if operation.operation is not OperationType.SUBSCRIPTION or operation.directives or not root:
        return None
    fragments = fragments_of(document)
    only = only_field(schema, root, operation, fragments)
    if only is None or only[1].name.value not in TAKEN_OVER_FIELDS:
        return None
    key, node = only
    planner = Planner(schema, fragments, silent_permissions=True)
    render = planner.renderer(root.fields[node.name.value].type, [node])
    return StreamPlan(key, render, tuple(planner.permissions))
