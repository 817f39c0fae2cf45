"""The query cost rule: a document may ask for at most so many objects.

Each field costs one; a field that takes `first` or `last` (a connection, or a list with a
size) multiplies what it selects by that many — by the page maximum when the size comes from
a variable, since validation runs before variables are known (and is cached without them).
Depth and alias limits alone let `members(first: 100) { ledger(first: 100) { … } }` through.

Introspection counts like any field (`__schema`, `__type` and all they select), and a document
may introspect the whole schema once: one full introspection holds the event loop for tens of
milliseconds, so thirty aliased copies of it would stall a worker for a second.
"""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    ValidationContext,
    ValidationRule,
    get_named_type,
)

from domain.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

SIZE_ARGUMENTS = ("first", "last")
SCHEMA_FIELD = "__schema"


def _size(field: FieldNode, takes_size: bool) -> int:
    """How many objects a field may return per parent."""
    if not takes_size:
        return 1
    for argument in field.arguments or ():
        if argument.name.value in SIZE_ARGUMENTS:
            if isinstance(argument.value, IntValueNode):
                return max(int(argument.value.value), 1)
            return MAX_PAGE_SIZE  # a variable: assume the most it may be
    return DEFAULT_PAGE_SIZE


def build_cost_rule(max_cost: int) -> type[ValidationRule]:
    """A validation rule class (built once, so the validation cache keeps hitting)."""

    class QueryCostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> None:
            context: ValidationContext = self.context
            root = context.schema.get_root_type(node.operation)
            self._schema_fields = 0
            cost = self._cost(node.selection_set, root, set())
            if self._schema_fields > 1:
                self.report_error(
                    GraphQLError(
                        f"The operation asks for {SCHEMA_FIELD} {self._schema_fields} times: "
                        "introspect the schema once per operation.",
                        node,
                    )
                )
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"Query cost {cost} exceeds the maximum of {max_cost}: ask for fewer "
                        "objects (smaller first/last) or split the query.",
                        node,
                    )
                )

        def _cost(
            self,
            selection_set: SelectionSetNode | None,
            parent: GraphQLNamedType | None,
            seen: set[str],
        ) -> int:
            if selection_set is None or parent is None:
                return 0
            total = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    definition = self._field(parent, selection.name.value)
                    if definition is None:
                        continue  # unknown fields are reported by the standard rules
                    takes_size = any(name in definition.args for name in SIZE_ARGUMENTS)
                    child = get_named_type(definition.type)
                    total += 1 + _size(selection, takes_size) * self._cost(
                        selection.selection_set, child, seen
                    )
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    target = (
                        self.context.schema.get_type(condition.name.value) if condition else parent
                    )
                    total += self._cost(selection.selection_set, target, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.context.get_fragment(name)
                    if fragment is None or name in seen:
                        continue  # cycles are reported by the standard rules
                    target = self.context.schema.get_type(fragment.type_condition.name.value)
                    total += self._cost(fragment.selection_set, target, seen | {name})
            return total

        def _field(self, parent: GraphQLNamedType, name: str) -> GraphQLField | None:
            """The field `name` of `parent`, the introspection meta fields included."""
            if name == "__typename":
                return TypeNameMetaFieldDef
            if parent is self.context.schema.query_type and name == SCHEMA_FIELD:
                self._schema_fields += 1
                return SchemaMetaFieldDef
            if parent is self.context.schema.query_type and name == "__type":
                return TypeMetaFieldDef
            if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
                return parent.fields.get(name)
            return None

    return QueryCostRule
