"""Prometheus metrics of GraphQL operations: count and latency per operation, errors by code."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# Operation names come from clients: past this many distinct names, the rest count as "other",
# so a caller cannot grow the metrics without bound.
MAX_OPERATION_NAMES = 200
# Seconds. A flash-sale entry or a refusal by its pre-check takes 1 to 50 ms: the buckets are
# finest there (prometheus_client's default starts at 5 ms and has nothing between 25 and 50).
OPERATION_SECONDS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class OperationMetrics:
    """The metrics of one process, in `registry`; under `pointsmall serve` they are also
    written to PROMETHEUS_MULTIPROC_DIR, from which /metrics adds up every worker's."""

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
            buckets=OPERATION_SECONDS_BUCKETS,
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
