"""A short way through the endpoint for the flash-sale stampede: enterFlashSale's refusals.

At 10:00, thousands of members press "buy" on a sale of a hundred units: nearly every attempt
is refused (sold out, not started, the limit) by the entry script alone, and its cost is the
GraphQL layer's (DESIGN.md, performance notes). So a request that is exactly such an attempt
skips GraphQL execution until the script has answered:

- its document is one the schema has executed without a request error (so it is valid, under
  every limit), and is a single `enterFlashSale(input: $var)` mutation whose selections are
  plain fields (aliases allowed; no fragments, directives or repeated keys);
- it is a JSON POST with variables of exactly the input's shape, from a member.

The script is then asked (domain.flash_sales.entry.decide). A refusal is rendered from the
document's selection as execution would render it: `redemption` and `member` null, the user
errors. Anything else (a hold, a replay of a purchase, any doubt about the request) goes
through strawberry as usual, with the script's verdict handed to the resolver so that it is not
asked twice. tests/flash_sales/test_hot_path.py checks both ways answer alike, and
tests/flash_sales/test_entry_documents.py that documents of any other shape pass untouched. A
document is learnt after its operation committed, so nothing here may fail a response: its
failures are logged and counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    parse,
)
from starlette.requests import Request
from starlette.responses import Response

from domain.errors import DomainError
from domain.flash_sales.entry import decide
from domain.principal import Principal, Role
from resolvers.ids import decode_id
from resolvers.payloads import user_error
from schema.observability import OperationMetrics

log = logging.getLogger(__name__)

INPUT_TYPE = "EnterFlashSaleInput"
PAYLOAD_TYPE = "EnterFlashSalePayload"
INPUT_FIELDS = {"flashSaleId", "quantity", "idempotencyKey"}
DEFAULT_QUANTITY = 1  # the input's default, as the contract gives it
PAYLOAD_FIELDS = {"__typename", "redemption", "member", "userErrors"}
USER_ERROR_FIELDS = {"__typename", "field", "message", "code"}
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # GraphQL Int
DOCUMENTS_KEPT = 1000
# Bodies that may hold such a document; any other goes its way without being decoded here.
MARKER = b"enterFlashSale"


@dataclass(frozen=True, slots=True)
class EntryDocument:
    """What a refusal's response needs of an enterFlashSale document: (response key, field)
    pairs of the payload's selection and of its userErrors' selection."""

    operation_name: str | None
    variable: str
    root_key: str
    payload: tuple[tuple[str, str], ...]
    user_error: tuple[tuple[str, str], ...]

    def refusal(self, error: DomainError) -> dict[str, Any]:
        shown = user_error(error)
        values = {
            "__typename": "UserError",
            "field": shown.field,
            "message": shown.message,
            "code": shown.code.name,
        }
        error_item = {key: values[name] for key, name in self.user_error}
        payload = {
            key: {"__typename": PAYLOAD_TYPE, "userErrors": [error_item]}.get(name)
            for key, name in self.payload
        }
        return {"data": {self.root_key: payload}}


def _plain_fields(
    selection_set: SelectionSetNode | None, allowed: set[str]
) -> list[tuple[str, FieldNode]] | None:
    """(response key, node) of each field of a selection of plain fields among `allowed` (no
    fragments, directives or arguments, no response key twice); None for any other selection."""
    if selection_set is None:
        return None
    fields = []
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.arguments:
            return None
        if selection.name.value not in allowed:
            return None
        fields.append(((selection.alias or selection.name).value, selection))
    if len({key for key, _ in fields}) != len(fields):
        return None
    return fields


def entry_document(query: str) -> EntryDocument | None:
    """The document's shape, when it is a lone enterFlashSale mutation as this path takes."""
    try:
        document = parse(query, no_location=True)
    except GraphQLError:
        return None
    if len(document.definitions) != 1:
        return None
    (operation,) = document.definitions
    if not isinstance(operation, OperationDefinitionNode):
        return None
    if operation.operation is not OperationType.MUTATION or operation.directives:
        return None
    # A parse without locations leaves absent lists (variables, arguments, directives) None.
    if len(operation.variable_definitions or ()) != 1:
        return None
    (definition,) = operation.variable_definitions
    type_ = definition.type
    if not (
        isinstance(type_, NonNullTypeNode)
        and isinstance(type_.type, NamedTypeNode)
        and type_.type.name.value == INPUT_TYPE
        and definition.default_value is None
        and not definition.directives
    ):
        return None
    (root, *others) = operation.selection_set.selections
    if others or not isinstance(root, FieldNode) or root.directives:
        return None
    if root.name.value != "enterFlashSale" or len(root.arguments or ()) != 1:
        return None
    (argument,) = root.arguments
    variable = definition.variable.name.value
    if argument.name.value != "input" or not (
        isinstance(argument.value, VariableNode) and argument.value.name.value == variable
    ):
        return None
    # `redemption` and `member` may select anything: a refusal shows them null.
    payload = _plain_fields(root.selection_set, PAYLOAD_FIELDS)
    if payload is None:
        return None
    user_errors: list[tuple[str, FieldNode]] = []
    for _, node in payload:
        if node.name.value == "userErrors":
            user_errors = _plain_fields(node.selection_set, USER_ERROR_FIELDS)
            if user_errors is None:
                return None
    return EntryDocument(
        operation.name.value if operation.name else None,
        variable,
        (root.alias or root.name).value,
        tuple((key, node.name.value) for key, node in payload),
        tuple((key, node.name.value) for key, node in user_errors),
    )


def entry_input(variables: Any, document: EntryDocument) -> tuple[str, int, str] | None:
    """(flashSaleId, quantity, idempotencyKey) from variables of exactly the input's shape;
    None for anything GraphQL's own coercion would have to judge."""
    if not isinstance(variables, dict) or set(variables) != {document.variable}:
        return None
    given = variables[document.variable]
    if not isinstance(given, dict) or not set(given) <= INPUT_FIELDS:
        return None
    sale_id, key = given.get("flashSaleId"), given.get("idempotencyKey")
    quantity = given.get("quantity", DEFAULT_QUANTITY)
    if not isinstance(sale_id, str) or not isinstance(key, str):
        return None
    if type(quantity) is not int or not INT_MIN <= quantity <= INT_MAX:
        return None
    return sale_id, quantity, key


class HotPath:
    """The endpoint's short way for enterFlashSale refusals (see the module's docstring)."""

    def __init__(
        self,
        metrics: OperationMetrics | None,
        encode_json: Callable[[object], bytes],
        media_type_of: Callable[[str], str],
    ) -> None:
        self._metrics = metrics
        self._encode_json = encode_json
        self._media_type_of = media_type_of  # of a response, by the request's Accept header
        self._documents: dict[str, EntryDocument | None] = {}
        self._executed: set[str] = set()  # documents the schema ran without a request error

    async def executed(self, request: Request) -> None:
        """After strawberry ran a request without a request error: its document, if it is one
        of ours, may take the short way from now on. Never fails: the operation has committed
        and its response must go out, so a failure here is only logged and counted."""
        try:
            data = _single_request(await request.body())
            query = data.get("query") if data is not None else None
            if isinstance(query, str) and self._document(query) is not None:
                if len(self._executed) >= DOCUMENTS_KEPT:
                    self._executed.clear()
                self._executed.add(query)
        except Exception:
            self._failed("the short way could not learn an executed document")

    async def answer(self, request: Request) -> Response | None:
        """The response to a refused entry, or None: the request goes through strawberry (with
        the script's verdict in `request.state.flash_verdict` when it was asked)."""
        if request.method != "POST" or not request.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return None
        data = _single_request(await request.body())
        if data is None or not set(data) <= {"query", "variables", "operationName"}:
            return None
        query = data.get("query")
        if not isinstance(query, str) or query not in self._executed:
            return None
        document = self._document(query)
        if document is None or data.get("operationName") not in (None, document.operation_name):
            return None
        given = entry_input(data.get("variables"), document)
        if given is None:
            return None
        principal: Principal | None = await request.state.authenticator.authenticate(
            request.headers.get("authorization"),
            request.headers.get("x-brand"),
            request.headers.get("x-api-key"),
        )
        if principal is None or principal.role is not Role.MEMBER:
            return None
        sale_gid, quantity, key = given
        started = time.perf_counter()
        try:
            sale_id = decode_id(sale_gid, "FlashSale", "flashSaleId")
            request.state.flash_verdict = await decide(
                request.state.backends, principal, sale_id, quantity, key
            )
        except DomainError as error:
            self._observe(document, started)
            media_type = self._media_type_of(request.headers.get("accept", ""))
            return Response(self._encode_json(document.refusal(error)), media_type=media_type)
        except Exception:
            # Redis failing, say: strawberry asks again and reports it as for any request.
            self._failed("the short way failed; the request goes through strawberry")
        return None

    def _document(self, query: str) -> EntryDocument | None:
        if query not in self._documents:
            if len(self._documents) >= DOCUMENTS_KEPT:
                self._documents.clear()
            self._documents[query] = entry_document(query)
        return self._documents[query]

    def _failed(self, what: str) -> None:
        log.warning(what, exc_info=True)
        if self._metrics is not None:
            self._metrics.short_way_failures.inc()

    def _observe(self, document: EntryDocument, started: float) -> None:
        if self._metrics is not None:
            self._metrics.short_way.inc()
            self._metrics.observe(document.operation_name, time.perf_counter() - started)


def _single_request(body: bytes) -> dict[str, Any] | None:
    """The JSON object of a body that may hold an enterFlashSale (not a batch), else None."""
    if MARKER not in body:
        return None  # the common case, answered without decoding
    try:
        data = orjson.loads(body)  # as the endpoint decodes it: depth and numbers bounded
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
