"""Deployment files parse and match the project: compose, Kubernetes, Dockerfile, Prometheus, Grafana.

No container engine or cluster runs here, so the files are checked by parsing. Every
environment variable a RedGX container gets must be read by the settings or the process
configuration. Every port must be the one that process listens on, and every image is pinned.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from django.conf import settings

from apps.inference.engines.registry import TASK_PROTOCOLS

from .conftest import ROOT
from .test_metrics import alert_expressions, dashboard_expressions

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"
REDGX_IMAGE = "redgx"
REDGX_SERVICES = {"migrate", "web", "ws", "worker"}


def read_names(pattern: str, paths) -> set[str]:
    return {name for path in paths for name in re.findall(pattern, Path(path).read_text())}


def variables_read_by_project() -> set[str]:
    """Return the environment variables that the settings, the process configurations or Dramatiq read."""
    names = read_names(r'env\.\w+\(\s*"([A-Za-z_][A-Za-z0-9_]*)"', (ROOT / "redgx_project" / "settings").glob("*.py"))
    python_sources = [DEPLOY / "web.py", ROOT / "manage.py", *ROOT.glob("redgx_project/*.py")]
    python_sources += [*ROOT.glob("apps/metrics/*.py")]
    names |= read_names(r"""environ(?:\.get|\.setdefault)?[(\[]\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""", python_sources)
    procfile = ROOT / "Procfile"
    names |= read_names(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", [procfile]) | read_names(r"env (\w+)=", [procfile])
    return names


PROJECT_VARIABLES = variables_read_by_project()


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def service_port(service: dict, variable: str) -> int:
    return int(service["environment"][variable])


# --- What the project reads -------------------------------------------------------------------


def test_project_variables_found():
    # The collection itself must work, or every check below passes vacuously.
    for name in ["DJANGO_SECRET_KEY", "REDGX_INFERENCE_REDIS_URL", "PORT", "WEB_CONCURRENCY", "WS_PORT"]:
        assert name in PROJECT_VARIABLES
    assert "PROMETHEUS_MULTIPROC_DIR" in PROJECT_VARIABLES
    assert "DJANGO_SETTINGS_MODULE" in PROJECT_VARIABLES
    assert "dramatiq_worker_timeout" in PROJECT_VARIABLES


# --- Compose -----------------------------------------------------------------------------------


def test_compose_services_present(compose):
    services = set(compose["services"])
    assert services >= REDGX_SERVICES
    assert {"redis-data", "redis-inference", "postgres", "nginx", "prometheus", "grafana"} <= services
    assert {"tei", "vllm", "dcgm-exporter"} <= services


def test_compose_engines_are_optional_profiles(compose):
    services = compose["services"]
    assert services["tei"]["profiles"] == ["tei"]
    assert services["vllm"]["profiles"] == ["vllm"]
    assert services["dcgm-exporter"]["profiles"] == ["gpu"]
    for name in REDGX_SERVICES | {"redis-data", "redis-inference", "postgres", "nginx", "prometheus", "grafana"}:
        assert "profiles" not in services[name], name


def test_compose_redgx_services_use_dockerfile(compose):
    for name in REDGX_SERVICES:
        service = compose["services"][name]
        assert service["image"].split(":")[0] == REDGX_IMAGE, name
        assert (COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name


def test_compose_other_images_pinned(compose):
    for name, service in compose["services"].items():
        if name in REDGX_SERVICES:
            continue
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image} is not pinned"


def test_compose_variables_read_by_settings(compose):
    for name in REDGX_SERVICES:
        unknown = set(compose["services"][name]["environment"]) - PROJECT_VARIABLES
        assert unknown == set(), f"{name} sets variables nothing reads: {sorted(unknown)}"


def test_compose_production_settings(compose):
    production = (ROOT / "redgx_project" / "settings" / "production.py").read_text()
    required = re.search(r"_REQUIRED = \[(.*?)\]", production, re.S).group(1)
    required_names = set(re.findall(r'"(\w+)"', required))
    for name in REDGX_SERVICES:
        environment = compose["services"][name]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "redgx_project.settings.production"
        assert required_names - set(environment) == set(), name
        assert "DJANGO_DEBUG" not in environment, name
        # The secret comes from the environment, and compose stops when it is missing.
        assert environment["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?"), name


def test_compose_ports_match_processes(compose):
    services = compose["services"]
    web, ws, worker = services["web"], services["ws"], services["worker"]
    assert web["command"] == ["python", "deploy/web.py"]
    assert web["expose"] == [web["environment"]["PORT"]]
    assert web["environment"]["HOST"] == "0.0.0.0"

    procfile_ws_port = re.search(r"\$\{WS_PORT:-(\d+)\}", (ROOT / "Procfile").read_text()).group(1)
    assert f"--port={procfile_ws_port}" in ws["command"]
    assert ws["expose"] == [procfile_ws_port]

    assert worker["expose"] == [worker["environment"]["REDGX_WORKER_METRICS_PORT"]]
    assert worker["environment"]["REDGX_WORKER_METRICS_HOST"] == "0.0.0.0"
    assert worker["command"][:3] == ["dramatiq", "apps.inference.worker", "apps.metrics.worker"]

    nginx = services["nginx"]["environment"]
    assert nginx["REDGX_WEB_UPSTREAM"] == f"web:{web['environment']['PORT']}"
    assert nginx["REDGX_WS_UPSTREAM"] == f"ws:{procfile_ws_port}"


def test_compose_process_counts(compose):
    # docs/benchmarks.md measured granian with 2 processes x 3 threads (deploy/web.py).
    web = compose["services"]["web"]["environment"]
    assert (web["WEB_CONCURRENCY"], web["WEB_THREADS"]) == ("2", "3")
    command = compose["services"]["worker"]["command"]
    assert command[command.index("--processes") + 1] == "1"


def test_compose_inference_redis_persistence(compose):
    command = compose["services"]["redis-inference"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "--maxmemory" in command
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert compose["services"]["redis-inference"]["volumes"] == ["redis-inference:/data"]


def test_compose_multiproc_dirs_are_tmpfs(compose):
    for name in ["web", "worker"]:
        service = compose["services"][name]
        directory = service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert [entry.split(":")[0] for entry in service["tmpfs"]] == [directory], name


def test_compose_nginx_sets_every_placeholder(compose):
    template = (DEPLOY / "nginx" / "redgx.conf.template").read_text()
    placeholders = set(re.findall(r"\$\{(REDGX_[A-Z_]+)\}", template))
    assert set(compose["services"]["nginx"]["environment"]) == placeholders
    max_body = compose["services"]["nginx"]["environment"]["REDGX_MAX_BODY"]
    assert int(max_body.rstrip("m")) * 1024 * 1024 == settings.REDGX_MAX_BODY_BYTES


def test_compose_mounted_files_exist(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (COMPOSE.parent / source).exists(), f"{name} mounts missing {source}"


def test_compose_prometheus_targets_match(compose):
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    web_sd = jobs["redgx-web"]["dns_sd_configs"][0]
    assert (web_sd["names"], web_sd["port"]) == (["web"], int(compose["services"]["web"]["environment"]["PORT"]))
    worker_sd = jobs["redgx-worker"]["dns_sd_configs"][0]
    worker_port = int(compose["services"]["worker"]["environment"]["REDGX_WORKER_METRICS_PORT"])
    assert (worker_sd["names"], worker_sd["port"]) == (["worker"], worker_port)
    for job, service in [("tei", "tei"), ("vllm", "vllm"), ("dcgm", "dcgm-exporter")]:
        host, port = jobs[job]["static_configs"][0]["targets"][0].split(":")
        assert host == service
        assert port in compose["services"][service]["expose"]


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_builds_production_image():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, re.M)
    assert "pip install --no-compile -r requirements/base.txt" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    assert re.search(r"^USER redgx", dockerfile, re.M)
    assert "DJANGO_SETTINGS_MODULE=redgx_project.settings.production" in dockerfile
    # The build-time secret is a placeholder for collectstatic only, never an ENV line.
    env_block = "\n".join(line for line in dockerfile.splitlines() if not line.startswith(("RUN", " ")))
    assert "DJANGO_SECRET_KEY" not in env_block


def test_requirements_are_pinned():
    lines = [line for line in (ROOT / "requirements" / "base.txt").read_text().splitlines() if line and line[0] != "#"]
    assert [line for line in lines if "==" not in line] == []
    assert "django-prometheus==2.5.0" in lines


def test_dockerignore_keeps_secrets_out():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in [".git", ".env", ".venv", "test-artifacts"]:
        assert entry in ignored


# --- Kubernetes --------------------------------------------------------------------------------


def kustomize_documents() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    documents = []
    for resource in kustomization["resources"]:
        documents += [document for document in yaml.safe_load_all((K8S / resource).read_text()) if document]
    return documents


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict]:
    return {(document["kind"], document["metadata"]["name"]): document for document in kustomize_documents()}


def deployment_container(manifests, name: str) -> dict:
    (container,) = manifests[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds():
    result = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    kinds = [document["kind"] for document in yaml.safe_load_all(result.stdout)]
    assert kinds.count("Deployment") == 3
    assert "image: redgx\n" not in result.stdout, "the images transformer left an image unset"


def test_k8s_deployments_have_probes_and_resources(manifests):
    for name in ["redgx-web", "redgx-ws", "redgx-worker"]:
        container = deployment_container(manifests, name)
        assert container["image"] == REDGX_IMAGE, name
        assert "livenessProbe" in container, name
        assert "readinessProbe" in container, name
        assert set(container["resources"]) == {"requests", "limits"}, name
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        labels = manifests[("Deployment", name)]["spec"]["template"]["metadata"]["labels"]
        budget = manifests[("PodDisruptionBudget", name)]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items(), name


def test_k8s_http_probes_use_health_routes(manifests):
    for name in ["redgx-web", "redgx-ws"]:
        container = deployment_container(manifests, name)
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        # The probe's Host header must pass ALLOWED_HOSTS.
        host = container["livenessProbe"]["httpGet"]["httpHeaders"][0]["value"]
        allowed = manifests[("ConfigMap", "redgx-config")]["data"]["DJANGO_ALLOWED_HOSTS"].split(",")
        assert host in allowed


def test_k8s_variables_read_by_settings(manifests):
    config = manifests[("ConfigMap", "redgx-config")]["data"]
    assert set(config) - PROJECT_VARIABLES == set()
    for name in ["redgx-web", "redgx-ws", "redgx-worker"]:
        container = deployment_container(manifests, name)
        names = {variable["name"] for variable in container.get("env", [])}
        assert names - PROJECT_VARIABLES == set(), name
        sources = {next(iter(source)): next(iter(source.values()))["name"] for source in container["envFrom"]}
        assert sources == {"configMapRef": "redgx-config", "secretRef": "redgx-secrets"}, name


def test_k8s_ports_match_processes(manifests):
    web = deployment_container(manifests, "redgx-web")
    web_env = {variable["name"]: variable["value"] for variable in web["env"]}
    assert web["ports"][0]["containerPort"] == int(web_env["PORT"])
    ws = deployment_container(manifests, "redgx-ws")
    assert f"--port={ws['ports'][0]['containerPort']}" in ws["command"]
    worker = deployment_container(manifests, "redgx-worker")
    worker_env = {variable["name"]: variable["value"] for variable in worker["env"]}
    assert worker["ports"][0]["containerPort"] == int(worker_env["REDGX_WORKER_METRICS_PORT"])
    assert worker["command"][:3] == ["dramatiq", "apps.inference.worker", "apps.metrics.worker"]
    for name, port in [("redgx-web", 8000), ("redgx-ws", 8001), ("redgx-worker-metrics", 9191)]:
        assert manifests[("Service", name)]["spec"]["ports"][0]["port"] == port


def test_k8s_web_autoscales_on_cpu(manifests):
    autoscaler = manifests[("HorizontalPodAutoscaler", "redgx-web")]["spec"]
    assert autoscaler["scaleTargetRef"]["name"] == "redgx-web"
    assert autoscaler["metrics"][0]["resource"]["name"] == "cpu"
    assert autoscaler["minReplicas"] >= 2


def test_k8s_workers_scale_on_queues(manifests):
    scaled = manifests[("ScaledObject", "redgx-worker")]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "redgx-worker"
    inference_url = urlparse(manifests[("ConfigMap", "redgx-config")]["data"]["REDGX_INFERENCE_REDIS_URL"])
    lists = set()
    for trigger in scaled["triggers"]:
        assert trigger["type"] == "redis"
        metadata = trigger["metadata"]
        assert metadata["address"] == f"{inference_url.hostname}:{inference_url.port}"
        assert metadata["databaseIndex"] == inference_url.path.lstrip("/")
        lists.add(metadata["listName"])
    # Dramatiq's Redis broker keeps each queue's messages in the list "{namespace}:{queue}".
    assert lists == {f"{settings.REDGX_DRAMATIQ_NAMESPACE}:{task}" for task in TASK_PROTOCOLS}


# --- Prometheus and Grafana --------------------------------------------------------------------


def promtool() -> str | None:
    return os.environ.get("REDGX_PROMTOOL") or shutil.which("promtool")


@pytest.mark.skipif(promtool() is None, reason="promtool is not installed (Debian package prometheus)")
def test_promtool_checks_config_and_rules():
    for command in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"]):
        result = subprocess.run(
            [promtool(), *command], cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_parse():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    names = [rule["alert"] for group in rules["groups"] for rule in group["rules"]]
    for expected in [
        "RedgxQueueGrowing",
        "RedgxOldestJobTooOld",
        "RedgxEngineDown",
        "RedgxJobErrorRate",
        "RedgxHttpErrorRate",
        "RedgxInferenceRedisMemoryHigh",
        "GpuMemoryNearlyFull",
    ]:
        assert expected in names
    for expression in alert_expressions() + dashboard_expressions():
        assert expression.count("(") == expression.count(")"), expression
        assert expression.count("{") == expression.count("}"), expression


def test_grafana_provisioning_matches_dashboard(compose):
    datasources = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (datasource,) = datasources["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "redgx.json").read_text())
    uids = {panel["datasource"]["uid"] for panel in dashboard["panels"] if "datasource" in panel}
    assert uids == {datasource["uid"]}
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "redgx.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]
