"""deploy/alerts.yml names only what the service exports: every metric an alert reads is one
a running app serves on /metrics, and every job one Prometheus scrapes."""

from __future__ import annotations

import re

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy import DEPLOY

# The series each metric type exposes, after its family's name.
SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
OUR_METRIC = re.compile(r"\bpointsmall_[a-z_]+")
JOB_SELECTOR = re.compile(r'job="([^"]+)"')


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


async def test_every_alert_reads_metrics_the_service_exports(gql, brand, make_token, client):
    await gql("{ brand { code } }", token=make_token(brand))  # an operation, so every family shows
    families = text_string_to_metric_families((await client.get("/metrics")).text)
    exported = {
        family.name + suffix
        for family in families
        for suffix in SERIES_SUFFIXES.get(family.type, ("",))
    }
    rules = alert_rules()
    assert len(rules) >= 5
    for rule in rules:
        assert rule["alert"] and rule["annotations"]["summary"] and rule["labels"]["severity"]
        read = set(OUR_METRIC.findall(rule["expr"]))
        assert read <= exported, (rule["alert"], read - exported)


def test_the_alerts_name_the_job_prometheus_scrapes():
    jobs = {
        job["job_name"]
        for job in yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"]
    }
    for rule in alert_rules():
        assert set(JOB_SELECTOR.findall(rule["expr"])) <= jobs, rule["alert"]
