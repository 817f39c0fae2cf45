"""Metrics of the whole server: with two workers every scrape adds up both (not one worker's
counts, then the other's); POINTSMALL_METRICS_BIND moves them off the public port."""

from __future__ import annotations

import httpx
import pytest

from tests.support.live import free_port
from tests.support.operations import sample
from tests.support.serving import serving

REQUESTS = 40
SCRAPES = 6
QUERY = {"query": "query WorkersProbe { brand { code } }"}
PROCESS_TAG_DIGITS = 16


def send_probes(url: str, brand_code: str) -> set[str]:
    """Each on a connection of its own, so that both workers take some; the processes that
    served them, by the tag that begins each request id of theirs (server/logs.py)."""
    processes = set()
    for _ in range(REQUESTS):
        with httpx.Client(timeout=10) as client:
            response = client.post(f"{url}/graphql", json=QUERY, headers={"X-Brand": brand_code})
        assert response.json() == {"data": {"brand": {"code": brand_code}}}
        processes.add(response.headers["x-request-id"][:PROCESS_TAG_DIGITS])
    return processes


def scraped_counts(metrics_url: str) -> list[float]:
    counts = []
    for _ in range(SCRAPES):
        with httpx.Client(timeout=10) as client:
            text = client.get(metrics_url).text
        counts.append(sample(text, "pointsmall_graphql_operations_total", operation="WorkersProbe"))
    return counts


def test_every_scrape_shows_both_workers(settings, brand):
    with serving(settings, workers=2) as served:
        assert len(send_probes(served.url, brand.code)) == 2
        assert scraped_counts(f"{served.url}/metrics") == [REQUESTS] * SCRAPES
        text = httpx.get(f"{served.url}/metrics").text
    latency = "pointsmall_graphql_operation_seconds_bucket"
    for bound in ("0.001", "0.0075", "0.015", "0.05"):  # the flash-sale path's 1 to 50 ms
        assert f'{latency}{{le="{bound}",operation="WorkersProbe"}}' in text, text


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_bind_serves_them_on_another_address_only(settings, brand, workers):
    metrics_address = f"127.0.0.1:{free_port()}"
    bind = {"POINTSMALL_METRICS_BIND": metrics_address}
    with serving(settings, workers=workers, env=bind) as served:
        assert httpx.get(f"{served.url}/metrics").status_code == 404
        assert len(send_probes(served.url, brand.code)) == workers
        assert scraped_counts(f"http://{metrics_address}/metrics") == [REQUESTS] * SCRAPES
