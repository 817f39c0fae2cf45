"""Health, readiness and metrics endpoints, as an orchestrator and Prometheus see them."""

from __future__ import annotations

import httpx

from tests.support.operations import sample


async def test_healthz_says_the_process_is_alive(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_postgres_and_redis(client):
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "postgres": "ok", "redis": "ok"}


async def test_metrics_count_operations_latency_and_errors_by_code(client, brand):
    before = (await client.get("/metrics")).text
    for _ in range(2):
        await client.post(
            "/graphql",
            json={"query": "query MetricsProbe { brand { code } }"},
            headers={"X-Brand": brand.code},
        )
    await client.post("/graphql", json={"query": "query MetricsProbe { brand { code } }"})
    await client.post("/graphql", json={"query": "{ brand {"}, headers={"X-Brand": brand.code})
    after = (await client.get("/metrics")).text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("pointsmall_graphql_operations_total", operation="MetricsProbe") == 3
    assert grew("pointsmall_graphql_operation_seconds_count", operation="MetricsProbe") == 3
    assert grew("pointsmall_graphql_errors_total", code="UNAUTHENTICATED") == 1
    assert grew("pointsmall_graphql_errors_total", code="BAD_REQUEST") == 1


async def test_a_served_process_collects_its_youngest_objects_rarely(live_server, brand):
    """A uvicorn worker tunes its cycle collector once started. Each of these requests leaves
    some sixty objects in reference cycles: at CPython's default threshold, 600 of them set off
    about 50 collections of the youngest generation."""
    query = {"query": "query CollectorProbe { brand { code } }"}
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        before = (await client.get("/metrics")).text
        for _ in range(600):
            response = await client.post("/graphql", json=query, headers={"X-Brand": brand.code})
            assert response.json() == {"data": {"brand": {"code": brand.code}}}
        after = (await client.get("/metrics")).text
    collections = sample(after, "python_gc_collections_total", generation="0") - sample(
        before, "python_gc_collections_total", generation="0"
    )
    assert 0 <= collections < 10, collections
