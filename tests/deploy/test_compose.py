"""deploy/compose.yaml as `docker compose config` reads it (no engine needed), and what its
services must agree on."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy import DEPLOY, ROOT, tool

COMPOSE = DEPLOY / "compose.yaml"
REQUIRED_SECRETS = {"POSTGRES_PASSWORD": "a-test-password", "POINTSMALL_JWT_SECRET": "s" * 48}


def compose_config(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in REQUIRED_SECRETS}
    return subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={**clean, **environment},
    )


@pytest.fixture(scope="module")
def services() -> dict:
    result = compose_config(REQUIRED_SECRETS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def seconds(duration: str) -> float:
    """A Go duration as compose prints it (`45s`, `1m30s`)."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"([0-9.]+)(ms|h|m|s)", duration)
    assert "".join(number + unit for number, unit in parts) == duration
    return sum(float(number) * units[unit] for number, unit in parts)


def test_the_secrets_must_be_given() -> None:
    result = compose_config({})
    assert result.returncode != 0
    for name in REQUIRED_SECRETS:
        assert f"required variable {name} is missing" in result.stderr


def test_two_api_replicas_wait_for_the_migration_and_healthy_backends(services: dict) -> None:
    api, migrate = services["api"], services["migrate"]
    assert api["deploy"]["replicas"] == 2
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for backend in ("postgres", "redis"):
        assert api["depends_on"][backend]["condition"] == "service_healthy"
        assert services[backend]["healthcheck"]["test"][0] == "CMD"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["command"] == ["migrate"]
    assert migrate["image"] == api["image"]
    for service in (api, migrate):
        assert Path(service["build"]["context"]) == ROOT
        assert (ROOT / service["build"]["dockerfile"]).exists()


def test_the_api_runs_in_production_on_the_compose_backends(services: dict) -> None:
    """Production refuses the embedded backends: both URLs name the compose services."""
    for name in ("api", "migrate"):
        environment = services[name]["environment"]
        assert environment["POINTSMALL_ENV"] == "production"
        assert urlsplit(environment["DATABASE_URL"]).hostname == "postgres"
        assert urlsplit(environment["REDIS_URL"]).hostname == "redis"
    api = services["api"]
    drain = float(api["environment"]["POINTSMALL_DRAIN_SECONDS"])
    assert seconds(api["stop_grace_period"]) > drain


def test_prometheus_scrapes_every_replica_on_the_metrics_port(services: dict) -> None:
    _, _, port = services["api"]["environment"]["POINTSMALL_METRICS_BIND"].rpartition(":")
    mounts = {Path(mount["source"]): mount["target"] for mount in services["prometheus"]["volumes"]}
    assert mounts == {
        DEPLOY / "prometheus.yml": "/etc/prometheus/prometheus.yml",
        DEPLOY / "alerts.yml": "/etc/prometheus/alerts.yml",  # beside it: rule_files is relative
    }
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    scrape_configs = config["scrape_configs"]
    targets = [
        (name, sd["port"])
        for job in scrape_configs
        for sd in job["dns_sd_configs"]
        for name in sd["names"]
    ]
    assert targets == [("api", int(port))]
