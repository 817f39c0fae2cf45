"""Query safety and error hygiene, assembled once per schema.

Each document is parsed (under the token limit) and validated (under the depth, alias and
cost limits) once, when the schema's DocumentRegistry registers it (schema/documents.py):
doing it again is most of what a request costs strawberry (docs/architecture.md, "Work done
once, not per request").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import (
    ArgumentNode,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    StringValueNode,
    ValidationRule,
    ValueNode,
)
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from domain.errors import AccessDenied, DomainError
from schema.cost import build_cost_rule
from schema.strawberry_internals import (
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
    aliases_rule,
    depth_rule,
)

if TYPE_CHECKING:
    from schema.documents import DocumentRegistry

log = logging.getLogger("pointsmall.graphql")

NUL = "\x00"
NUL_REFUSED = "Strings may not hold the NUL character (\\u0000)"


class NoNulInStrings(ValidationRule):
    """A string literal of the document holding a NUL: PostgreSQL stores no such text, so it
    is refused before any field runs (variables are checked by `nul_in_variables`)."""

    def enter_string_value(self, node: StringValueNode, *_args: object) -> None:
        if NUL in node.value:
            self.report_error(GraphQLError(f"{NUL_REFUSED}.", node))


# How deep a variable's value may nest (JSON allows 1,024 levels; no input of ours has 10).
MAX_VARIABLE_DEPTH = 64
TOO_DEEP = "A variable's value nests too deeply"


def nul_path(value: object, path: str, depth: int = 0) -> str | None:
    """Where in `value` (decoded JSON) a string holds a NUL, as `$input.lines.0.sku`; raises
    ValueError for a value nested deeper than MAX_VARIABLE_DEPTH."""
    if isinstance(value, str):
        return path if NUL in value else None
    if depth > MAX_VARIABLE_DEPTH:
        raise ValueError(TOO_DEEP)
    items: Iterable[tuple[object, object]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = nul_path(item, f"{path}.{key}", depth + 1)
        if found is not None:
            return found
    return None


def nul_in_variables(variables: Mapping[str, object] | None) -> list[GraphQLError]:
    """The request's error if a variable's string holds a NUL (see NoNulInStrings), or its
    value nests too deeply."""
    for name, value in (variables or {}).items():
        try:
            found = nul_path(value, f"${name}")
        except ValueError:
            return [GraphQLError(f"{TOO_DEEP}: ${name}, past {MAX_VARIABLE_DEPTH} levels.")]
        if found is not None:
            return [GraphQLError(f"{NUL_REFUSED}: {found}.")]
    return []


def build_validation_rules(
    max_depth: int, max_aliases: int, max_cost: int, introspection: bool = True
) -> list[type[ValidationRule]]:
    """The limiter rules and the NUL check, as classes built once; without `introspection`,
    `__schema` and `__type` are refused (`__typename` stays)."""
    rules = [
        depth_rule(max_depth, should_ignore=None),
        aliases_rule(max_aliases),
        build_cost_rule(max_cost),
        NoNulInStrings,
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


class CheckedDocuments(SchemaExtension):
    """Parses and validates through the schema's DocumentRegistry (schema/documents.py), and
    times each operation for `observe` (the metrics) when given. One extension for both:
    strawberry's bookkeeping of a second one cost about 1% of a mutation's instructions."""

    def __init__(
        self,
        documents: DocumentRegistry,
        observe: Callable[[str | None, float], None] | None = None,
    ) -> None:
        self.documents = documents
        self.observe = observe

    def on_operation(self) -> Iterator[None]:
        if self.observe is None:
            yield
            return
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(self.execution_context.operation_name, time.perf_counter() - started)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            if self.documents.schema is None:
                self.documents.bind(context.schema)
            context.graphql_document = self.documents.document(context.query).parsed
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.pre_execution_errors = [
            *self.documents.errors(context),
            *nul_in_variables(context.variables),
        ]
        yield


# What strawberry reports a request it cannot run with, with no path and no node.
REQUEST_FAULTS = (
    GraphQLError,
    MissingQueryError,
    CannotGetOperationTypeError,
    InvalidOperationTypeError,
)


def error_code(error: GraphQLError) -> str:
    """The `extensions.code` an error is reported with."""
    if error.extensions and "code" in error.extensions:
        return str(error.extensions["code"])
    original = error.original_error
    if isinstance(original, AccessDenied):
        return "FORBIDDEN"
    if isinstance(original, DomainError) or is_argument_error(original):
        return "BAD_REQUEST"  # bad query arguments
    if error.path is None and (
        original is None or error.nodes or isinstance(original, REQUEST_FAULTS)
    ):
        # Parse and validation (a literal's own error included: it points at the literal),
        # variable coercion, no operation to run.
        return "BAD_REQUEST"
    # A field's fault, or what fails with neither path nor node: a subscription's stream.
    return "INTERNAL"


def is_argument_error(original: Exception | None) -> bool:
    """graphql-core's own error on a field's arguments, which it coerces as it reaches the field
    (an explicit null sent where null cannot go, say): it points at the argument's value. (An
    output it cannot serialize, our fault, points nowhere.)"""
    return (
        isinstance(original, GraphQLError)
        and bool(original.nodes)
        and all(isinstance(node, ArgumentNode | ValueNode) for node in original.nodes or ())
    )


class GuardedSchema(strawberry.Schema):
    """A schema whose every error carries a code; internal faults are logged and can be masked.

    strawberry hands every error, from parsing to execution, to `process_errors` exactly once,
    before the response is built: the one place where no error can slip past unclassified.
    """

    def __init__(
        self,
        *args: Any,
        mask_internal: bool = False,
        count_error: Callable[[str], None] | None = None,
        documents: DocumentRegistry | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.mask_internal = mask_internal
        self.count_error = count_error
        self.documents = documents  # the one its CheckedDocuments extension uses
        if documents is not None:
            documents.bind(self)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        request_id = getattr(getattr(execution_context, "context", None), "request_id", "-")
        for error in errors:
            code = error_code(error)
            extensions = {**(error.extensions or {}), "code": code}
            original = error.original_error
            if isinstance(original, DomainError) and original.field:
                extensions["field"] = original.field
            if code == "INTERNAL":
                log.error(
                    "internal error in GraphQL field %s",
                    ".".join(str(key) for key in (error.path or ())),
                    exc_info=original,
                    extra={"request_id": request_id},
                )
                extensions["requestId"] = request_id
                if self.mask_internal:
                    error.message = f"Internal error (request {request_id})."
                    error.original_error = None
            error.extensions = extensions
            if self.count_error is not None:
                self.count_error(code)


def build_extensions(
    documents: DocumentRegistry,
    observe: Callable[[str | None, float], None] | None = None,
    tracing: Callable[[], SchemaExtension] | None = None,
) -> list[Callable[[], SchemaExtension]]:
    """The schema's extension factories: one parsing, validating and timing operations, and
    `tracing`'s (server/tracing.py) before it, so that its spans hold that work."""
    checked: list[Callable[[], SchemaExtension]] = [lambda: CheckedDocuments(documents, observe)]
    return checked if tracing is None else [tracing, *checked]
