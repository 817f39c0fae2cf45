"""deploy/k8s: every manifest and every kustomization's `kubectl kustomize` output validate
against Kubernetes' schemas (strict: an unknown field fails), the objects refer to each other
correctly, pods migrate before they serve, and the sizes follow the measures."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy import DEPLOY, ROOT, tool

K8S = DEPLOY / "k8s"
MIGRATE = K8S / "migrate"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
KUBERNETES_VERSION = "1.33"  # the oldest release still supported upstream
# PostgreSQL's default max_connections (100) less superuser_reserved_connections (3).
POSTGRES_ORDINARY_CONNECTIONS = 97
MIGRATE_CONNECTIONS = 3  # `pointsmall migrate`: the advisory lock's session and a pool of 2
# deployment.yaml's memory sizing: a started worker and this many live balance subscribers.
WORKER_MIB = 100
SUBSCRIBERS_PER_POD = 5_000
BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


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


def kustomizations() -> list[Path]:
    return sorted(path.parent for path in K8S.rglob("kustomization.yaml"))


def render(kustomization: Path) -> dict[tuple[str, str], dict]:
    """`kubectl kustomize` of this directory, validated, by kind and name."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(kustomization)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    validate(documents, f"kubectl kustomize {kustomization.relative_to(ROOT)}")
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], dict]:
    return render(K8S)


@pytest.mark.parametrize("path", manifests(), ids=lambda path: path.name)
def test_the_manifest_validates(path) -> None:
    validate(list(yaml.safe_load_all(path.read_text())), path.name)


@pytest.mark.parametrize(
    "kustomization", kustomizations(), ids=lambda path: str(path.relative_to(ROOT))
)
def test_every_kustomization_renders_valid_objects(kustomization) -> None:
    assert render(kustomization)


def test_the_api_has_no_job(rendered) -> None:
    """No Job beside the API: `apply -k` would start its pod beside the Deployment's, and a
    Job's pod template cannot change, so the next release's `apply -k` would fail on it."""
    assert "Job" not in {kind for kind, _ in rendered}


def test_the_migration_job_stands_alone_with_the_apis_image_and_settings(rendered) -> None:
    """deploy/k8s/migrate: the Job that migrates ahead of a release, on its own (applied,
    waited for, deleted before the next), from the API's image and settings."""
    assert sorted(kustomizations()) == sorted([K8S, MIGRATE])
    job_rendered = render(MIGRATE)
    assert {kind for kind, _ in job_rendered} == {"Job"}
    job = only(job_rendered, "Job")["spec"]
    (migrate,) = job["template"]["spec"]["containers"]
    (api,) = only(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert migrate["args"] == ["migrate"]
    assert migrate["image"] == api["image"], "set the image in both kustomizations"
    assert migrate["envFrom"] == api["envFrom"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert job["ttlSecondsAfterFinished"] > 0


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
    }


def only(rendered: dict, kind: str) -> dict:
    (document,) = (doc for (k, _), doc in rendered.items() if k == kind)
    return document


def test_the_pods_migrate_the_database_before_they_serve(rendered) -> None:
    """Production refuses an unmigrated database: each pod's one init container runs
    `pointsmall migrate` from the API's own image (the advisory lock makes pods take turns)."""
    pod = only(rendered, "Deployment")["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    init = pod.get("initContainers", [])
    assert [container["args"] for container in init] == [["migrate"]], "no migration first"
    (migrate,) = init
    assert api["args"][0] == "serve"
    assert migrate["image"] == api["image"] and ":" in api["image"]
    assert {mount["mountPath"] for mount in migrate["volumeMounts"]} == {"/tmp"}


def test_the_pods_probe_drain_and_read_their_settings(rendered) -> None:
    deployment = only(rendered, "Deployment")
    config = only(rendered, "ConfigMap")
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    pod = deployment["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    (migrate,) = pod["initContainers"]
    http = next(port for port in api["ports"] if port["name"] == "http")
    assert api["args"][0] == "serve" and "0.0.0.0" in api["args"]
    assert str(http["containerPort"]) == api["args"][api["args"].index("--port") + 1]
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    pre_stop = api["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = int(config["data"]["POINTSMALL_DRAIN_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in (api, migrate):
        assert container["envFrom"] == [
            {"configMapRef": {"name": config["metadata"]["name"]}},
            {"secretRef": {"name": secret["metadata"]["name"]}},
        ]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
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

    budget = only(rendered, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_the_pods_stay_within_postgresqls_connections_during_a_rollout(rendered) -> None:
    """A rollout at maxReplicas runs maxSurge more pods; each holds its pool, or while its init
    container migrates, the migration's connections."""
    surge = only(rendered, "Deployment")["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    assert isinstance(surge, int), f"maxSurge {surge!r}: count a percentage's pods here"
    pods = only(rendered, "HorizontalPodAutoscaler")["spec"]["maxReplicas"] + surge
    pool = int(only(rendered, "ConfigMap")["data"]["POINTSMALL_DB_POOL_MAX"])
    assert pods * max(pool, MIGRATE_CONNECTIONS) <= POSTGRES_ORDINARY_CONNECTIONS


def bytes_of(quantity: str) -> int:
    number, suffix = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", quantity).groups()
    return int(number) * BINARY_SUFFIXES[suffix]


def test_the_memory_request_holds_a_worker_and_its_subscribers_as_last_measured(
    rendered,
) -> None:
    """The README's latest bench.subscriptions figure is the one deployment.yaml sizes with,
    and the request covers a worker and its subscribers at it."""
    measured = re.search(
        r"^\| memory per balance subscriber [^|]*\| (\d+(?:\.\d+)?) KB",
        (ROOT / "README.md").read_text(),
        re.MULTILINE,
    )
    assert measured, "README's Benchmarks has no memory per balance subscriber"
    per_subscriber_kb = float(measured[1])
    assert f"bench.subscriptions: {measured[1]} KB" in (K8S / "deployment.yaml").read_text()
    (api,) = only(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    needed = WORKER_MIB * 2**20 + SUBSCRIBERS_PER_POD * per_subscriber_kb * 2**10
    assert bytes_of(api["resources"]["requests"]["memory"]) >= needed
