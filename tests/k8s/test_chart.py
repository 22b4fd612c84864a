"""The Helm chart (deploy/k8s/rdi) rendered by a real helm v3 (built from the Go module proxy by
deploy/k8s/tools.sh): `helm lint --strict` is clean for the default values and the two CI value sets, every rendered
manifest passes kubernetes-validate (strict) against Kubernetes 1.37, and the rendered objects say what the chart
promises (StatefulSet contract, probes, non-root, secrets as files, one collector per source, two controllers)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from rdi.config import load_pipeline

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "k8s" / "rdi"
KUBERNETES = "1.37.0"
VALUE_SETS = {
    "default": None,
    "monitoring-tls-configmap": CHART / "ci" / "monitoring-tls-configmap-values.yaml",
    "api-pipeline-controller": CHART / "ci" / "api-pipeline-controller-values.yaml",
}
SERVICE_MONITOR = ("monitoring.coreos.com/v1", "ServiceMonitor")


@cache
def helm() -> str:
    done = subprocess.run(
        ["bash", str(REPO / "deploy" / "k8s" / "tools.sh"), "helm"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _values_args(name: str) -> list[str]:
    path = VALUE_SETS[name]
    return [] if path is None else ["-f", str(path)]


@cache
def rendered(name: str) -> tuple[dict[str, Any], ...]:
    command = [helm(), "template", "rdi-test", str(CHART), "--namespace", "data", "--kube-version", KUBERNETES]
    done = subprocess.run([*command, *_values_args(name)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def objects(name: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(name) if o["kind"] == kind}


def containers(name: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(object name, pod spec, container) of every workload."""
    for kind in ("Deployment", "StatefulSet"):
        for object_name, obj in objects(name, kind).items():
            pod = obj["spec"]["template"]["spec"]
            for container in pod["containers"]:
                yield object_name, pod, container


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint_strict_is_clean(name: str) -> None:
    done = subprocess.run(
        [helm(), "lint", "--strict", str(CHART), "--kube-version", KUBERNETES, *_values_args(name)],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [line for line in done.stdout.splitlines() if "[WARNING]" in line or "[ERROR]" in line]
    assert (done.returncode, problems) == (0, [])


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_rendered_manifest_passes_kubernetes_validate_strict(name: str) -> None:
    failures = []
    for obj in rendered(name):
        if (obj["apiVersion"], obj["kind"]) == SERVICE_MONITOR:
            continue  # a CRD: kubernetes-validate has no schema for it (checked field by field below)
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc}")
    assert failures == []


def test_the_validator_rejects_what_it_should() -> None:
    """kubernetes-validate really checks: an unknown field in a rendered StatefulSet fails strict validation."""
    (statefulset,) = objects("default", "StatefulSet").values()
    broken = {**statefulset, "spec": {**statefulset["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_processor_statefulset_follows_bytewax_cluster_contract() -> None:
    (name, statefulset), = objects("monitoring-tls-configmap", "StatefulSet").items()  # fmt: skip
    spec = statefulset["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    variables = env(container)
    headless = objects("monitoring-tls-configmap", "Service")[spec["serviceName"]]
    hostfile = objects("monitoring-tls-configmap", "ConfigMap")[f"{name}-hostfile"]["data"]["hostfile.txt"]
    assert (
        container["command"],
        spec["replicas"],
        spec["podManagementPolicy"],
        variables["BYTEWAX_POD_NAME"],
        variables["BYTEWAX_STATEFULSET_NAME"],
        variables["BYTEWAX_HOSTFILE_PATH"],
        variables["BYTEWAX_WORKERS_PER_PROCESS"],
        "BYTEWAX_PROCESS_ID" in variables,
        headless["spec"]["clusterIP"],
        headless["spec"]["publishNotReadyAddresses"],
        hostfile.split(),
    ) == (
        ["python", "-m", "bytewax.run", "flows.ingest"],
        3,
        "Parallel",
        {"fieldRef": {"fieldPath": "metadata.name"}},
        name,
        "/etc/bytewax/hostfile.txt",
        "2",
        False,
        "None",
        True,
        [f"{name}-{i}.{spec['serviceName']}.data.svc.cluster.local:9999" for i in range(3)],
    )


def test_probes_use_healthz_and_readyz_on_a_declared_port() -> None:
    seen = {}
    for name in VALUE_SETS:
        for workload, _, container in containers(name):
            ports = {p["name"] for p in container["ports"]}
            live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
            seen[workload] = (live["path"], ready["path"], live["port"] in ports, ready["port"] in ports)
    assert set(seen.values()) == {("/healthz", "/readyz", True, True)}
    assert sorted(seen) == [
        "rdi-test-api",
        "rdi-test-collector-my",
        "rdi-test-collector-pg",
        "rdi-test-controller",
        "rdi-test-processor",
    ]


def test_every_container_runs_non_root_read_only_without_capabilities() -> None:
    checked = 0
    for name in VALUE_SETS:
        for workload, pod, container in containers(name):
            security = container["securityContext"]
            assert (
                workload,
                pod["securityContext"]["runAsNonRoot"],
                pod["securityContext"]["seccompProfile"],
                security["runAsNonRoot"],
                security["readOnlyRootFilesystem"],
                security["allowPrivilegeEscalation"],
                security["capabilities"],
                [m["mountPath"] for m in container["volumeMounts"] if m["name"] == "tmp"],
                pod["automountServiceAccountToken"],
            ) == (workload, True, {"type": "RuntimeDefault"}, True, True, False, {"drop": ["ALL"]}, ["/tmp"], False)
            checked += 1
    assert checked >= 9


def test_secrets_reach_containers_as_files_never_as_environment_values() -> None:
    for name in VALUE_SETS:
        for workload, _, container in containers(name):
            variables = env(container)
            assert "secretKeyRef" not in str(container.get("env", [])), workload
            assert not {"RDI_DB_URL", "RDI_API_JWT_KEY", "RDI_SECRETS_KEY"} & set(variables), workload
            assert variables["RDI_DB_URL_FILE"] == "/etc/rdi/secrets/rdi-db-url", workload
    api = objects("api-pipeline-controller", "Deployment")["rdi-test-api"]["spec"]["template"]["spec"]
    (container,) = api["containers"]
    rendered_text = yaml.safe_dump(list(rendered("api-pipeline-controller")))
    assert (
        env(container)["RDI_API_JWT_KEY_FILE"],
        env(container)["RDI_SECRETS_KEY_FILE"],
        "change-me" in rendered_text,  # the URL's password only in the Secret's base64 data
        "a-jwt-key-of-at-least" in rendered_text,
    ) == ("/etc/rdi/secrets/api-jwt-key", "/etc/rdi/secrets/secrets-key", False, False)


def test_existing_secrets_are_mounted_and_no_secret_is_rendered() -> None:
    (statefulset,) = objects("monitoring-tls-configmap", "StatefulSet").values()
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    sources = [s["secret"] for s in volumes["rdi-secrets"]["projected"]["sources"]]
    assert (
        objects("monitoring-tls-configmap", "Secret"),
        [(s["name"], s["items"][0]["key"]) for s in sources],
        volumes["pipeline-secrets"]["secret"]["secretName"],
    ) == ({}, [("rdi-db", "url"), ("rdi-api", "jwt-key"), ("rdi-api", "secrets-key")], "rdi-pipeline-secrets")


def test_one_collector_deployment_per_source_and_two_controllers() -> None:
    deployments = objects("monitoring-tls-configmap", "Deployment")
    collectors = {
        name: d["spec"]["template"]["spec"]["containers"][0]["command"]
        for name, d in deployments.items()
        if d["metadata"]["labels"].get("rdi.redis.io/role") == "collector"
    }
    controller = deployments["rdi-test-controller"]
    assert (
        collectors,
        {deployments[n]["spec"]["replicas"] for n in collectors},
        controller["spec"]["replicas"],
        env(controller["spec"]["template"]["spec"]["containers"][0])["RDI_CONTROLLER_DATA_PLANE"],
    ) == (
        {
            "rdi-test-collector-pg": ["rdi", "collector", "--source", "pg"],
            "rdi-test-collector-my": ["rdi", "collector", "--source", "my"],
        },
        {1},
        2,
        "external",
    )


def test_the_controller_mode_runs_the_data_plane_in_the_controller() -> None:
    deployments = objects("api-pipeline-controller", "Deployment")
    controller = deployments["rdi-test-controller"]["spec"]
    (container,) = controller["template"]["spec"]["containers"]
    assert (
        sorted(deployments),
        objects("api-pipeline-controller", "StatefulSet"),
        objects("api-pipeline-controller", "ConfigMap"),
        controller["replicas"],
        env(container)["RDI_CONTROLLER_DATA_PLANE"],
        container["args"],
    ) == (["rdi-test-api", "rdi-test-controller"], {}, {}, 2, "run", ["--processes", "2", "--workers", "1"])


def test_the_configmap_pipeline_is_a_valid_pipeline_where_the_pods_mount_it(tmp_path: Path) -> None:
    configmap = objects("monitoring-tls-configmap", "ConfigMap")["rdi-test-pipeline"]["data"]
    (statefulset,) = objects("monitoring-tls-configmap", "StatefulSet").values()
    volume = next(v for v in statefulset["spec"]["template"]["spec"]["volumes"] if v["name"] == "pipeline")
    for item in volume["configMap"]["items"]:
        (tmp_path / item["path"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / item["path"]).write_text(configmap[item["key"]])
    pipeline = load_pipeline(tmp_path, resolve_secrets=False)
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert (sorted(pipeline.config.sources), sorted(pipeline.jobs), env(container)["RDI_PIPELINE_DIR"]) == (
        ["my", "pg"],
        ["orders"],
        "/etc/rdi/pipeline",
    )


def test_service_monitors_select_the_metrics_services_by_port_name() -> None:
    monitors = [o for o in rendered("monitoring-tls-configmap") if (o["apiVersion"], o["kind"]) == SERVICE_MONITOR]
    services = objects("monitoring-tls-configmap", "Service")
    matched = []
    for monitor in monitors:
        wanted = monitor["spec"]["selector"]["matchLabels"]
        hits = [n for n, s in services.items() if wanted.items() <= s["metadata"]["labels"].items()]
        ports = {p["name"] for n in hits for p in services[n]["spec"]["ports"]}
        matched.append(
            (
                len(hits),
                [e["port"] in ports for e in monitor["spec"]["endpoints"]],
                monitor["metadata"]["labels"]["release"],
            )
        )
    assert (matched, objects("default", "ServiceMonitor")) == ([(1, [True], "prometheus")] * 2, {})


def test_the_chart_fails_with_a_message_for_a_configmap_pipeline_without_config() -> None:
    done = subprocess.run(
        [helm(), "template", "t", str(CHART), "--kube-version", KUBERNETES, "--set", "pipeline.source=configMap"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert (done.returncode, "set pipeline.config" in done.stderr) == (1, True)


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("dataPlane.mode=vm", "/dataPlane/mode"),
        ("processor.replicas=0", "/processor/replicas"),
        ("rdiDatabase.url=http://rdi-db", "/rdiDatabase/url"),
        ("processor.replica=2", "additional properties 'replica' not allowed"),
        ("processor.flow=flows.ingest", "/processor/flow"),
    ],
)
def test_values_schema_refuses_bad_values(setting: str, complaint: str) -> None:
    done = subprocess.run(
        [helm(), "template", "t", str(CHART), "--kube-version", KUBERNETES, "--set", setting],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, complaint in done.stderr) == (1, True), done.stderr


def test_a_write_behind_release_runs_flows_write_behind() -> None:
    flow = "processor.flow=write_behind"
    command = [helm(), "template", "t", str(CHART), "--kube-version", KUBERNETES, "--set", flow]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (statefulset,) = (doc for doc in yaml.safe_load_all(done.stdout) if doc and doc["kind"] == "StatefulSet")
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "bytewax.run", "flows.write_behind"]
