"""Prometheus metrics of GraphQL operations: count and latency per operation, errors by code."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# Operation names come from clients: past this many distinct names, the rest count as "other",
# so a caller cannot grow the metrics without bound.
MAX_OPERATION_NAMES = 200


class OperationMetrics:
    """The metrics of one process, in the registry that /metrics serves."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "pointsmall_graphql_operations",
            "GraphQL operations executed, by operation name.",
            ["operation"],
            registry=registry,
        )
        self.latency = Histogram(
            "pointsmall_graphql_operation_seconds",
            "Time to execute a GraphQL operation, by operation name.",
            ["operation"],
            registry=registry,
        )
        self.errors = Counter(
            "pointsmall_graphql_errors",
            "GraphQL errors, by code.",
            ["code"],
            registry=registry,
        )
        self.precheck_answers = Counter(
            "pointsmall_precheck_answers",
            "Fields answered by their pre-check before GraphQL execution (schema/prechecks.py), "
            "by field.",
            ["field"],
            registry=registry,
        )
        self.precheck_failures = Counter(
            "pointsmall_precheck_failures",
            "Failures inside a pre-check (logged); the request went through execution.",
            registry=registry,
        )
        self._names: set[str] = set()
        self._children: dict[str, tuple[Counter, Histogram]] = {}  # per label, made once

    def count_error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def observe(self, name: str | None, seconds: float) -> None:
        """One operation executed, named `name` by its client, that took `seconds`."""
        label = self.operation_label(name)
        children = self._children.get(label)
        if children is None:
            children = self._children[label] = (
                self.requests.labels(label),
                self.latency.labels(label),
            )
        children[0].inc()
        children[1].observe(seconds)

    def operation_label(self, name: str | None) -> str:
        label = name or "anonymous"
        if label in self._names:
            return label
        if len(self._names) >= MAX_OPERATION_NAMES:
            return "other"
        self._names.add(label)
        return label
