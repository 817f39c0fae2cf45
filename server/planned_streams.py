"""Subscriptions whose events a socket renders itself, after strawberry has sent the first.

A `balanceChanged` subscriber waits for hours between two changes of its balance, and while
it waits strawberry's pipeline keeps its operation's state alive: graphql-core's executor, the
extensions' contexts, the generators of the map from events to results, some 10 KB a
subscriber. For a document whose selection is read from plain attributes (`available`,
`version`, the entry's and the member's fields without a resolver, Node ids, `__typename`,
fields guarded only by permission classes, through fragments, literal @include/@skip and keys
selected twice alike), the socket takes the stream over once strawberry has sent the first
message: the field's permission checks, the resolver's refusals and the first result are
strawberry's, as for any operation. strawberry's pipeline then ends without a `complete` and
what it kept is freed at once (`release_executor` breaks the executor's reference cycle: left
to the collector, an executor old enough to be in its oldest generation would hold its memory
long after, where no later subscriber can use it). Each later event is rendered from the
resolver's value as execution renders it, by the renderer the pre-checks' plans use
(schema/plans.py), and sent as strawberry sends a `next`, by the operation's task
(server/sockets.py `after_results`): its end, a failure of its stream, a `complete` from the
client and the socket's close are those of strawberry's pipeline. Permission classes that
refuse with an error are asked before the takeover and before each event; those that
`fail_silently` make their field null, as strawberry's do. A null for a non-null field ends
the stream as a failure of the stream does, with its error.

Any other selection (a field with a resolver, an abstract type, a directive on a variable)
stays in strawberry's pipeline for the subscription's whole life.
tests/clients/test_taken_over_streams.py compares both, byte for byte.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
)
from strawberry.permission import BasePermission

from schema.documents import DocumentRegistry
from schema.plans import (
    PermissionInfo,
    Planner,
    Renderer,
    Unplannable,
    admitted,
    fragments_of,
    only_field,
)
from schema.strawberry_internals import graphql_schema_of, release_executor

# The subscription fields whose later events a socket may render itself.
TAKEN_OVER_FIELDS = frozenset({"balanceChanged"})
PLANS_KEPT = 1024  # documents' plans (or their absence) kept per process


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
        if not admitted(self.permissions, value, info):
            raise PermissionError("A field's permission no longer admits the caller.")
        return {self.root_key: self.render_value(value, info)}


class StreamPlans:
    """Each document's plan, by operation name, worked out once (None: not taken over)."""

    def __init__(self, documents: DocumentRegistry) -> None:
        self._documents = documents
        self._plans: OrderedDict[tuple[str, str | None], StreamPlan | None] = OrderedDict()

    def plan_of(self, text: str, operation_name: str | None) -> StreamPlan | None:
        try:
            document = self._documents.document(text)
        except GraphQLError:
            return None
        key = (document.sha256, operation_name)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        plan = None
        schema = self._documents.schema
        if document.valid and schema is not None:
            operation = get_operation_ast(document.parsed, operation_name)
            if operation is not None:
                try:
                    plan = plan_of(graphql_schema_of(schema), document.parsed, operation)
                except Unplannable:
                    plan = None
        self._plans[key] = plan
        if len(self._plans) > PLANS_KEPT:
            self._plans.popitem(last=False)
        return plan


def plan_of(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> StreamPlan | None:
    """The plan of a subscription selecting one field of TAKEN_OVER_FIELDS, alone."""
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


class Takeover:
    """One operation's stream, handed over by its resolver (`after_first`) once strawberry has
    had its first value; `rest` is what is left of it then."""

    __slots__ = ("info", "plan", "rest", "value_of")

    def __init__(self, plan: StreamPlan) -> None:
        self.plan = plan
        self.info: Any = None  # the resolver's, until the stream is handed over
        self.rest: AsyncIterator[Any] | None = None
        self.value_of: Callable[[Any], Any] = _itself

    def after_first(
        self, values: AsyncIterator[Any], value_of: Callable[[Any], Any], info: Any
    ) -> AsyncIterator[Any]:
        """What strawberry iterates: the field's value of the first of `values`, then the
        end, leaving the rest here."""
        self.value_of = value_of
        self.info = info
        return _FirstOnly(values, self)

    def hand_over(self, rest: AsyncIterator[Any]) -> None:
        self.rest = rest
        info, self.info = self.info, None
        release_executor(info)


async def aclose(values: AsyncIterator[Any]) -> None:
    """Close an async iterator that can be closed (a generator, say)."""
    close = getattr(values, "aclose", None)
    if close is not None:
        await close()


def _itself(value: Any) -> Any:
    return value


class _FirstOnly:
    """An async iterator of the first of `values` alone; its second step hands `values` to the
    takeover instead of taking one."""

    __slots__ = ("_first_taken", "_takeover", "_values")

    def __init__(self, values: AsyncIterator[Any], takeover: Takeover) -> None:
        self._values: AsyncIterator[Any] | None = values
        self._takeover = takeover
        self._first_taken = False

    def __aiter__(self) -> _FirstOnly:
        return self

    async def __anext__(self) -> Any:
        if self._values is None:
            raise StopAsyncIteration
        if self._first_taken:
            values, self._values = self._values, None
            self._takeover.hand_over(values)
            raise StopAsyncIteration
        value = await anext(self._values)
        self._first_taken = True
        return self._takeover.value_of(value)

    async def aclose(self) -> None:
        if self._values is not None:  # not handed over
            await aclose(self._values)
