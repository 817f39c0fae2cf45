"""Every use of graphql-core's internals, in one place, for the versions below.

An execution context subclass overrides one of graphql-core's undocumented steps, and reads
the fragments it collected; both are reached here. `server/dependencies.py` refuses to start on
a graphql-core outside WRITTEN_FOR.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphql import FragmentDefinitionNode
from graphql.execution.collect_fields import FieldDetailsList, FragmentDetails
from graphql.execution.executor import StreamUsage
from graphql.pyutils import Path

WRITTEN_FOR = "graphql-core>=3.3.2,<3.4"


class StreamsOnlyWithDirectives:
    """For an ExecutionContext: graphql-core looks up `@stream` for every list field it
    completes, each time; a field with no directive at all cannot be streamed."""

    def get_stream_usage(
        self, field_details_list: FieldDetailsList, path: Path
    ) -> StreamUsage | None:
        if not field_details_list[0].node.directives:
            return None
        return super().get_stream_usage(field_details_list, path)  # type: ignore[misc]


def fragment_definition(
    fragments: Mapping[str, FragmentDetails], name: str
) -> FragmentDefinitionNode | None:
    """The definition of fragment `name` among an execution context's `fragments`."""
    details = fragments.get(name)
    return None if details is None else details.definition
