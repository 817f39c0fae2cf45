"""Pre-checks: a field may declare a check that can answer it before GraphQL execution.

At 10:00, thousands of members press "buy" on a sale of a hundred units: nearly every attempt is
refused (sold out, not started, the limit) by the entry script alone, and GraphQL execution
would cost more than the script. So `enterFlashSale` declares its check (`Precheck`, in the
field's metadata). A document whose one operation selects only such a field is planned when it
is registered (schema/documents.py): the operation, its variables' definitions (coerced by
graphql-core against the schema, defaults included), the field's arguments (converted by
strawberry, as its resolver gets them), and a renderer of a refusal, compiled from the schema
(schema/plans.py: aliases, `__typename`, fragments on the payload type). The server
(server/prechecks.py) then runs the check for a request of that document; a refusal is rendered
from the plan as execution would render it, anything else goes through execution with the
check's verdict.
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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableValues,
    get_argument_values,
    get_variable_values,
)
from strawberry.permission import BasePermission

from domain.errors import DomainError, ErrorCode
from schema.plans import (
    PermissionInfo,
    PlannedField,
    Planner,
    Renderer,
    Unplannable,
    admitted,
    fragments_of,
    only_field,
)
from schema.safety import nul_in_variables
from schema.strawberry_internals import convert_arguments, field_definition, graphql_schema_of

__all__ = ["Unplannable"]  # re-exported for server/prechecks.py

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
    # The check takes `reads`: the attributes the plan renders of the objects at each path
    # ("ledger.edges.node"), None where a permission class may read any; so it reads only
    # the columns a page shows. A path not there: nothing of its objects is read.
    reads: bool = False


Selected = Mapping[str, Mapping[str, Any]]  # what a check declaring `selected` gets
Reads = Mapping[str, frozenset[str] | None]  # what a check declaring `reads` gets


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
    _refusals: dict[tuple[Any, ...], dict[str, Any]] = dataclasses.field(default_factory=dict)
    refusal_renderer: Renderer | None = None  # a refusing check's renderer of its payload
    renderer: Renderer | None = None  # an answering plan's renderer of its value
    planned_fields: tuple[PlannedField, ...] = ()  # for a check declaring `selected`
    reads: Reads = dataclasses.field(default_factory=dict)  # for a check declaring `reads`
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
            if self.precheck.reads:
                arguments["reads"] = self.reads
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
        return admitted(self.permissions, None, PermissionInfo(context))

    def answer(self, value: Any) -> dict[str, Any]:
        """The response's data for an answering check's value, as execution writes it."""
        assert self.renderer is not None
        return {self.root_key: self.renderer(value, None)}

    def refusal(self, error: DomainError) -> dict[str, Any]:
        """The response's data for a refusal, as execution writes it (rendered once for each
        code, message and field: the script refuses in a few ways, thousands of times)."""
        key = (error.code, error.message, tuple(error.field or ()))
        data = self._refusals.get(key)
        if data is None:
            assert self.precheck.refusal is not None and self.refusal_renderer is not None
            data = {self.root_key: self.refusal_renderer(self.precheck.refusal(error), None)}
            if len(self._refusals) < MAX_REFUSALS_KEPT:
                self._refusals[key] = data
        return data


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
    fragments = fragments_of(document)
    try:
        only = only_field(graphql_schema, root, operation, fragments)
        if only is None:
            return None
        root_key, node = only
        graphql_field = root.fields[node.name.value]
        definition = field_definition(graphql_field)
        precheck = definition.metadata.get(PRECHECK) if definition is not None else None
        if precheck is None:
            return None
        answering = Planner(graphql_schema, fragments, planned=_planned)
        render = render_refusal = None
        if precheck.answers:
            render = answering.renderer(graphql_field.type, [node])
        if precheck.refusal is not None:
            refusing = Planner(graphql_schema, fragments, lazy=True)
            render_refusal = refusing.renderer(graphql_field.type, [node])
        plan = PrecheckPlan(
            operation.name.value if operation.name else None,
            root_key,
            node.name.value,
            precheck,
            tuple(permission() for permission in definition.permission_classes)
            + tuple(answering.permissions),
            schema,
            operation,
            node,
            graphql_field,
            refusal_renderer=render_refusal,
            renderer=render,
            planned_fields=tuple(answering.planned_fields.values()),
            reads={
                path: None if read is None else frozenset(read)
                for path, read in answering.reads.items()
            },
        )
        if precheck.refusal is not None:
            plan.refusal(SAMPLE_REFUSAL)  # renders, or the document is not planned
    except Unplannable:
        return None
    return plan


def _planned(definition: Any) -> bool:
    """Whether an answering check's objects hold the field's value: it declares PLANNED, or it
    has no resolver and only its permission classes guard it."""
    return bool(
        definition.metadata.get(PLANNED, False)
        or (definition.base_resolver is None and definition.extensions)
    )
