"""deploy/k8s: every manifest and the `kubectl kustomize` output validate against Kubernetes'
schemas (strict: an unknown field fails), and the objects refer to each other correctly."""

from __future__ import annotations

import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy import DEPLOY, tool

K8S = DEPLOY / "k8s"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
KUBERNETES_VERSION = "1.33"  # the oldest release still supported upstream
POSTGRES_MAX_CONNECTIONS = 100  # PostgreSQL's default
MIGRATE_CONNECTIONS = 2  # `pointsmall migrate`'s pool


def validate(documents: list[dict], where: str) -> None:
    for document in documents:
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except jsonschema.ValidationError as error:
            name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
            raise AssertionError(
                f"{where}: {name}: {error.message} at {list(error.path)}"
            ) from error


def manifests() -> list:
    return sorted(path for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], dict]:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(K8S)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    validate(documents, "kubectl kustomize output")
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}


@pytest.mark.parametrize("path", manifests(), ids=lambda path: path.name)
def test_the_manifest_validates(path) -> None:
    validate(list(yaml.safe_load_all(path.read_text())), path.name)


def test_the_kustomization_renders_every_manifest_but_the_secret_example(rendered) -> None:
    resources = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(resources) == sorted(p.name for p in manifests() if p != SECRET_EXAMPLE)
    assert {kind for kind, _ in rendered} == {
        "ConfigMap",
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
    }


def only(rendered: dict, kind: str) -> dict:
    (document,) = (doc for (k, _), doc in rendered.items() if k == kind)
    return document


def test_the_pods_probe_drain_and_read_their_settings(rendered) -> None:
    deployment = only(rendered, "Deployment")
    config = only(rendered, "ConfigMap")
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    pod = deployment["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    http = next(port for port in api["ports"] if port["name"] == "http")
    assert api["args"][0] == "serve" and "0.0.0.0" in api["args"]
    assert str(http["containerPort"]) == api["args"][api["args"].index("--port") + 1]
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    pre_stop = api["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = int(config["data"]["POINTSMALL_DRAIN_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain
    assert pod["securityContext"]["runAsNonRoot"] is True
    job = only(rendered, "Job")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["args"] == ["migrate"] and migrate["image"] == api["image"]
    for container in (api, migrate):
        assert container["envFrom"] == [
            {"configMapRef": {"name": config["metadata"]["name"]}},
            {"secretRef": {"name": secret["metadata"]["name"]}},
        ]
        assert container["resources"]["requests"] and container["resources"]["limits"]
    assert config["data"]["POINTSMALL_ENV"] == "production"
    # Secrets stay out of the ConfigMap; the Secret brings what production requires.
    assert set(secret["stringData"]) == {"DATABASE_URL", "REDIS_URL", "POINTSMALL_JWT_SECRET"}
    assert not set(secret["stringData"]) & set(config["data"])


def test_prometheus_finds_the_metrics_port(rendered) -> None:
    deployment = only(rendered, "Deployment")
    config = only(rendered, "ConfigMap")
    template = deployment["spec"]["template"]
    (api,) = template["spec"]["containers"]
    _, _, port = config["data"]["POINTSMALL_METRICS_BIND"].rpartition(":")
    metrics = next(p for p in api["ports"] if p["name"] == "metrics")
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == port == str(metrics["containerPort"])


def test_the_service_ingress_autoscaler_and_budget_point_at_the_api_pods(rendered) -> None:
    deployment = only(rendered, "Deployment")
    config = only(rendered, "ConfigMap")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    (api,) = deployment["spec"]["template"]["spec"]["containers"]
    service = only(rendered, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    container_ports = {port["name"] for port in api["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= container_ports

    ingress = only(rendered, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        assert backend["name"] == service["metadata"]["name"]
        assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
    annotations = ingress["metadata"]["annotations"]
    keep_alive = int(config["data"]["POINTSMALL_KEEP_ALIVE_SECONDS"])
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) > keep_alive

    autoscaler = only(rendered, "HorizontalPodAutoscaler")
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"]
    assert autoscaler["spec"]["minReplicas"] >= 2
    connections = autoscaler["spec"]["maxReplicas"] * int(config["data"]["POINTSMALL_DB_POOL_MAX"])
    assert connections + MIGRATE_CONNECTIONS < POSTGRES_MAX_CONNECTIONS

    budget = only(rendered, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    job_labels = only(rendered, "Job")["spec"]["template"]["metadata"]["labels"]
    assert not budget["spec"]["selector"]["matchLabels"].items() <= job_labels.items()
