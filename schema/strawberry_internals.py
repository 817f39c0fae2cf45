"""Every use of strawberry's internals, in one place, for the versions below.

strawberry's documented surface builds schemas and serves them; what pointsmall does besides
(documents validated and planned once, inputs built without re-resolving annotations, a
socket handler that rechecks credentials, refusals in strawberry's own shapes) reaches into it.
Each such name is imported or reached here, so an upgrade is checked in one file.
`server/dependencies.py` refuses to start on a strawberry outside WRITTEN_FOR.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLSchema
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types.arguments import InputContext, convert_arguments
from strawberry.types.base import StrawberryObjectDefinition, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.graphql import OperationType

WRITTEN_FOR = "strawberry-graphql>=0.341.2,<0.342"

__all__ = [
    "BaseGraphQLTransportWSHandler",
    "ConnectionInitMessage",
    "InputContext",
    "NonJsonMessageReceived",
    "NonTextMessageReceived",
    "OperationType",
    "ResultStreamHook",
    "StrawberryEnumDefinition",
    "StrawberryGraphQLCoreExecutionContext",
    "StrawberryObjectDefinition",
    "StrawberryOptional",
    "SubscribeMessage",
    "WebSocketDisconnected",
    "aliases_rule",
    "convert_arguments",
    "depth_rule",
    "field_definition",
    "graphql_schema_of",
    "parse_content_type",
    "spans_of",
    "tracer_of",
    "validate_document",
]


class ResultStreamHook:
    """For strawberry's graphql-transport-ws handler: the results of each operation pass
    through `results_of(operation, results)` on their way to the socket."""

    def results_of(self, operation: Any, results: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return results

    async def _send_result_stream(self, operation: Any, result_source: Any) -> None:
        results = self.results_of(operation, result_source)
        async with aclosing(results):  # type: ignore[type-var]
            await super()._send_result_stream(operation, results)  # type: ignore[misc]


def field_definition(field: GraphQLField) -> Any:
    """The strawberry field a GraphQL field was made from (None for one strawberry did not
    make, such as `__typename`)."""
    return field.extensions.get("strawberry-definition")


def graphql_schema_of(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema strawberry built and executes."""
    return schema._schema


def tracer_of(extension: Any) -> Any:
    """The OpenTelemetry tracer of strawberry's OpenTelemetryExtension."""
    return extension._tracer


def spans_of(extension: Any) -> dict[Any, Any]:
    """strawberry's OpenTelemetryExtension's open spans, by lifecycle step."""
    return extension._span_holder
