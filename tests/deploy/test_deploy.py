"""The deployment files (Dockerfiles, docker-compose.yml, deploy/k8s) agree with the code and the topic registry.

No Docker engine is needed: the compose file goes through the Compose Specification's reference loader
(deploy/compose-check, Go), the init scripts run against stub binaries, and the Kubernetes manifests are
parsed, built with kustomize and schema-checked when kubectl and uv are at hand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from caisse_contracts.topics import Topic, all_topics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_CHECK = ROOT / "deploy" / "compose-check"
TOPICS_TSV = COMPOSE_DIR / "topics.tsv"
K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


@dataclass(frozen=True)
class Service:
    """One service as its own files describe it: pyproject (script), config.py (env prefix, port)."""

    directory: str
    project: str
    script: str
    package: str
    prefix: str
    port: int

    @property
    def database(self) -> str | None:
        return None if self.directory == "hw-proxy" else f"caisse_{self.package}"


def _service(directory: Path) -> Service:
    project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
    scripts: dict[str, str] = project["scripts"]
    assert len(scripts) == 1, f"{directory.name}: one console script expected, got {sorted(scripts)}"
    ((script, target),) = scripts.items()
    package = target.split(".", 1)[0]
    config = (directory / "src" / package / "config.py").read_text()
    prefix = re.search(r'env_prefix="([A-Z_]+)"', config)
    port = re.search(r"^\s+port: int = (\d+)", config, re.MULTILINE)
    assert prefix is not None, f"{directory.name}: no env_prefix in config.py"
    assert port is not None, f"{directory.name}: no port default in config.py"
    return Service(directory.name, project["name"], script, package, prefix.group(1), int(port.group(1)))


SERVICES: tuple[Service, ...] = tuple(
    _service(path.parent) for path in sorted((ROOT / "services").glob("*/pyproject.toml"))
)
CENTRAL: tuple[Service, ...] = tuple(service for service in SERVICES if service.database is not None)


def _ids(services: tuple[Service, ...]) -> list[str]:
    return [service.directory for service in services]


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def _k8s_documents(*, include_examples: bool = True) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml" or (not include_examples and ".example." in path.name):
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                yield path, document


def _k8s(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in _k8s_documents() if doc["kind"] == kind}


def _tsv_line(topic: Topic) -> str:
    configs = ",".join(f"{key}={value}" for key, value in topic.config().items())
    return f"{topic.name}\t{topic.partitions}\t{configs}"


# --- the compose file, through the reference loader ---------------------------------------------------


@pytest.fixture(scope="session")
def compose_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/compose-check built once per run (the first build downloads the Go modules)."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is not installed: the compose file cannot go through compose-go's loader")
    binary = tmp_path_factory.mktemp("compose-check") / "compose-check"
    env = {**os.environ, "GOWORK": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    built = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=COMPOSE_CHECK,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert built.returncode == 0, f"go build failed:\n{built.stderr}"
    return binary


@pytest.fixture(scope="session")
def loaded_compose(compose_check: Path) -> dict[str, Any]:
    """The project as compose-go's loader sees it: schema-validated, interpolated, normalised."""
    result = subprocess.run(
        [str(compose_check), "-strict", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"docker-compose.yml does not load:\n{result.stderr}"
    project: dict[str, Any] = json.loads(result.stdout)
    return project


def test_the_compose_file_loads_with_the_compose_spec_reference_loader(loaded_compose: dict[str, Any]) -> None:
    expected = {"kafka", "kafka-init", "postgres", *(service.directory for service in SERVICES)}
    assert set(loaded_compose["services"]) == expected


def test_the_compose_checker_rejects_a_file_that_breaks_the_schema(compose_check: Path, tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("stop_grace_period:", "stop_grace_periodd:", 1))
    result = subprocess.run(
        [str(compose_check), "-quiet", str(broken)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "stop_grace_periodd" in result.stderr


def test_the_compose_checker_rejects_a_dependency_on_an_unknown_service(compose_check: Path, tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("      pos-api:\n", "      pos-apii:\n", 1))
    result = subprocess.run(
        [str(compose_check), "-quiet", str(broken)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "pos-apii" in result.stderr


def test_every_published_port_binds_loopback_only(loaded_compose: dict[str, Any]) -> None:
    published = [
        (name, port) for name, service in loaded_compose["services"].items() for port in service.get("ports") or []
    ]
    assert published, "the stack publishes no port at all"
    assert [(name, port) for name, port in published if port.get("host_ip") != "127.0.0.1"] == []


def test_every_port_in_the_compose_file_is_written_with_the_loopback_address() -> None:
    """The same rule on the raw file, so that it holds where Go (and so the loader) is missing."""
    ports = [str(port) for service in _compose()["services"].values() for port in service.get("ports", [])]
    assert ports
    assert [port for port in ports if not port.startswith("127.0.0.1:")] == []


@pytest.mark.parametrize("service", SERVICES, ids=_ids(SERVICES))
def test_each_service_is_built_from_the_one_dockerfile_with_its_arguments_and_published_on_its_port(
    loaded_compose: dict[str, Any], service: Service
) -> None:
    spec = loaded_compose["services"][service.directory]
    assert spec["build"]["context"] == str(ROOT)
    assert spec["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / spec["build"]["dockerfile"]).is_file()
    assert spec["build"]["args"] == {
        "SERVICE": service.directory,
        "PORT": str(service.port),
        "ENV_PREFIX": service.prefix,
    }
    assert [(p["target"], p["published"], p["host_ip"]) for p in spec["ports"]] == [
        (service.port, str(service.port), "127.0.0.1")
    ]


@pytest.mark.parametrize("service", SERVICES, ids=_ids(SERVICES))
def test_each_service_gets_its_settings_under_its_own_prefix(loaded_compose: dict[str, Any], service: Service) -> None:
    env: dict[str, str] = loaded_compose["services"][service.directory]["environment"]
    foreign = [key for key in env if not key.startswith(service.prefix)]
    assert foreign == []
    assert env[f"{service.prefix}HOST"] == "0.0.0.0"
    assert env[f"{service.prefix}PORT"] == str(service.port)
    if service.database is None:
        assert f"{service.prefix}DATABASE_URL" not in env
        assert env[f"{service.prefix}POS_API_URL"] == "http://pos-api:8101"
        assert env[f"{service.prefix}STORE_PATH"].startswith("/var/lib/caisse/")
    else:
        url = env[f"{service.prefix}DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://caisse:")
        assert url.endswith(f"@postgres:5432/{service.database}")
        assert env[f"{service.prefix}KAFKA_BOOTSTRAP"] == "kafka:9092"


@pytest.mark.parametrize("service", CENTRAL, ids=_ids(CENTRAL))
def test_each_central_service_waits_for_healthy_storage_and_created_topics(
    loaded_compose: dict[str, Any], service: Service
) -> None:
    depends_on = loaded_compose["services"][service.directory]["depends_on"]
    assert {name: dep["condition"] for name, dep in depends_on.items()} == {
        "postgres": "service_healthy",
        "kafka": "service_healthy",
        "kafka-init": "service_completed_successfully",
    }
    probe = " ".join(loaded_compose["services"][service.directory]["healthcheck"]["test"])
    assert f"127.0.0.1:{service.port}/readyz" in probe


def test_the_demo_till_waits_for_a_ready_pos_api(loaded_compose: dict[str, Any]) -> None:
    depends_on = loaded_compose["services"]["hw-proxy"]["depends_on"]
    assert {name: dep["condition"] for name, dep in depends_on.items()} == {"pos-api": "service_healthy"}


def test_kafka_runs_kraft_with_topic_auto_creation_disabled(loaded_compose: dict[str, Any]) -> None:
    kafka = loaded_compose["services"]["kafka"]
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", kafka["image"])
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka["healthcheck"]["test"]
    assert loaded_compose["services"]["postgres"]["image"] == "postgres:15"
    assert loaded_compose["services"]["postgres"]["healthcheck"]["test"]


def test_kafka_init_runs_the_topic_script_on_the_registry_file(loaded_compose: dict[str, Any]) -> None:
    init = loaded_compose["services"]["kafka-init"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    mounts = {Path(volume["source"]): volume["target"] for volume in init["volumes"]}
    assert mounts[COMPOSE_DIR / "create-topics.sh"] == "/caisse/create-topics.sh"
    assert mounts[COMPOSE_DIR / "topics.tsv"] == init["environment"]["TOPICS_FILE"]
    assert init["entrypoint"] == ["/bin/bash", "/caisse/create-topics.sh"]


def test_postgres_runs_the_database_init_script(loaded_compose: dict[str, Any]) -> None:
    mounts = {Path(v["source"]): v["target"] for v in loaded_compose["services"]["postgres"]["volumes"]}
    assert mounts[COMPOSE_DIR / "postgres"] == "/docker-entrypoint-initdb.d"


# --- topics: the registry, the compose init and the Strimzi resources -----------------------------------


def test_the_compose_topic_list_is_the_registry() -> None:
    lines = [line for line in TOPICS_TSV.read_text().splitlines() if line and not line.startswith("#")]
    expected = [_tsv_line(topic) for topic in all_topics()]
    assert lines == expected, "deploy/compose/topics.tsv is out of date; its lines should be:\n" + "\n".join(expected)


def _stub_kafka_bin(directory: Path, existing: list[str]) -> Path:
    directory.mkdir()
    log = directory / "calls.log"
    listing = directory / "existing.txt"
    listing.write_text("".join(f"{name}\n" for name in existing))
    for tool in ("kafka-topics.sh", "kafka-configs.sh"):
        stub = directory / tool
        stub.write_text(
            "#!/usr/bin/env bash\n"
            f'echo "{tool} $*" >> "{log}"\n'
            f'if [[ " $* " == *" --list "* ]]; then cat "{listing}"; fi\n'
        )
        stub.chmod(0o755)
    return log


def _run_topic_script(kafka_bin: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KAFKA_BIN": str(kafka_bin),
        "TOPICS_FILE": str(TOPICS_TSV),
        "BOOTSTRAP_SERVERS": "kafka:9092",
        "REPLICATION_FACTOR": "1",
    }
    return subprocess.run(
        ["bash", str(COMPOSE_DIR / "create-topics.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_topic_script_creates_every_registry_topic_with_its_partitions_and_configs(tmp_path: Path) -> None:
    log = _stub_kafka_bin(tmp_path / "bin", existing=["__consumer_offsets"])
    result = _run_topic_script(tmp_path / "bin")
    assert result.returncode == 0, result.stderr
    creates = [line for line in log.read_text().splitlines() if " --create " in line]
    expected = []
    for topic in all_topics():
        configs = " ".join(f"--config {key}={value}" for key, value in topic.config().items())
        expected.append(
            "kafka-topics.sh --bootstrap-server kafka:9092 --create --if-not-exists "
            f"--topic {topic.name} --partitions {topic.partitions} --replication-factor 1 {configs}"
        )
    assert creates == expected
    assert f"{len(all_topics())} topic(s) created" in result.stdout


def test_the_topic_script_reapplies_the_configs_of_topics_that_exist(tmp_path: Path) -> None:
    log = _stub_kafka_bin(tmp_path / "bin", existing=[topic.name for topic in all_topics()])
    result = _run_topic_script(tmp_path / "bin")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert [line for line in calls if " --create " in line] == []
    alters = [line for line in calls if line.startswith("kafka-configs.sh")]
    assert alters == [
        "kafka-configs.sh --bootstrap-server kafka:9092 --alter --entity-type topics "
        f"--entity-name {topic.name} --add-config {','.join(f'{k}={v}' for k, v in topic.config().items())}"
        for topic in all_topics()
    ]


def test_the_strimzi_topics_are_the_registry_with_its_partitions_and_configs() -> None:
    crs = _k8s("KafkaTopic")
    assert sorted(crs) == sorted(topic.name for topic in all_topics())
    (cluster,) = _k8s("Kafka")
    for topic in all_topics():
        cr = crs[topic.name]
        assert cr["apiVersion"] == "kafka.strimzi.io/v1"
        assert cr["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        assert cr["spec"]["topicName"] == topic.name
        assert cr["spec"]["partitions"] == topic.partitions, topic.name
        config = {key: str(value) for key, value in cr["spec"]["config"].items()}
        assert config | topic.config() == config, f"{topic.name}: {config} lacks {topic.config()}"
        assert cr["spec"]["replicas"] >= int(config["min.insync.replicas"])


def test_the_strimzi_cluster_runs_kraft_node_pools_without_topic_auto_creation() -> None:
    ((name, kafka),) = _k8s("Kafka").items()
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
    assert "zookeeper" not in kafka["spec"]
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    assert kafka["spec"]["entityOperator"]["topicOperator"] is not None
    pools = [
        pool for pool in _k8s("KafkaNodePool").values() if pool["metadata"]["labels"]["strimzi.io/cluster"] == name
    ]
    roles = {role for pool in pools for role in pool["spec"]["roles"]}
    assert roles == {"controller", "broker"}
    replicas = sum(pool["spec"]["replicas"] for pool in pools)
    assert replicas >= kafka["spec"]["kafka"]["config"]["min.insync.replicas"] + 1
    assert kafka["spec"]["kafka"]["config"]["default.replication.factor"] <= replicas


# --- Dockerfiles ------------------------------------------------------------------------------------------


def _instructions(service: Service) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile as built for `service` (its build arguments in the compose
    file substituted), continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text()
    for name, value in _compose()["services"][service.directory]["build"]["args"].items():
        text = text.replace("${" + name + "}", value)
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


@pytest.mark.parametrize("service", SERVICES, ids=_ids(SERVICES))
def test_every_image_runs_the_console_script_of_its_service(service: Service) -> None:
    instructions = _instructions(service)
    commands = [json.loads(arguments) for name, arguments in instructions if name == "CMD"]
    assert commands == [["caisse-service"]]
    runs = " ".join(arguments for name, arguments in instructions if name == "RUN")
    assert f'ln -s "{service.script}" /opt/venv/bin/caisse-service' in runs
    assert ("EXPOSE", str(service.port)) in instructions


def test_there_is_one_dockerfile_for_every_service() -> None:
    assert sorted(
        path.relative_to(ROOT).as_posix()
        for path in ROOT.glob("**/Dockerfile")
        if ".venv" not in path.parts and ".stack" not in path.parts
    ) == ["deploy/Dockerfile"]


@pytest.mark.parametrize("service", SERVICES, ids=_ids(SERVICES))
def test_every_image_installs_only_its_member_from_the_frozen_lock(service: Service) -> None:
    instructions = _instructions(service)
    runs = [arguments for name, arguments in instructions if name == "RUN"]
    syncs = [found.group(1) for run in runs if (found := re.search(r"\buv sync (.+)$", run))]
    assert len(syncs) == 2
    for sync in syncs:
        words = sync.split()
        assert "--frozen" in words
        assert "--no-dev" in words
        assert words[words.index("--package") + 1] == service.project
    copies = [arguments.split() for name, arguments in instructions if name == "COPY" and "--from" not in arguments]
    sources = {source for copy in copies for source in copy[:-1]}
    assert sources == {
        "pyproject.toml",
        "uv.lock",
        "libs/contracts/pyproject.toml",
        "libs/runtime/pyproject.toml",
        f"services/{service.directory}/pyproject.toml",
        "libs/contracts",
        "libs/runtime",
        f"services/{service.directory}",
    }
    assert all((ROOT / source).exists() for source in sources)


@pytest.mark.parametrize("service", SERVICES, ids=_ids(SERVICES))
def test_every_image_is_multi_stage_slim_non_root_and_probes_healthz(service: Service) -> None:
    instructions = _instructions(service)
    args = dict(arg.split("=", 1) for name, arg in instructions if name == "ARG" and "=" in arg)
    stages = [arguments for name, arguments in instructions if name == "FROM"]
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert stages[0].startswith("ghcr.io/astral-sh/uv:")
    assert [stage.split(" AS ")[0] for stage in stages[1:]] == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert any(name == "COPY" and arguments.startswith("--from=uv /uv ") for name, arguments in instructions)
    (user,) = [arguments for name, arguments in instructions if name == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0, "numeric and non-root, so that Kubernetes can check runAsNonRoot"
    env = " ".join(arguments for name, arguments in instructions if name == "ENV")
    assert f"{service.prefix}HOST=0.0.0.0" in env
    assert f"{service.prefix}PORT={service.port}" in env
    assert f"CAISSE_ENV_PREFIX={service.prefix}" in env
    (healthcheck,) = [arguments for name, arguments in instructions if name == "HEALTHCHECK"]
    assert '"python", "-c"' in healthcheck
    assert "/healthz" in healthcheck
    assert "os.environ['CAISSE_ENV_PREFIX'] + 'PORT'" in healthcheck


def test_the_docker_context_leaves_out_git_virtualenvs_and_caches() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "**/.venv", ".stack", "**/__pycache__", "**/.mypy_cache", "**/.pytest_cache"} <= patterns
    for needed in ("pyproject.toml", "uv.lock", "libs", "services", "libs/contracts", "services/pos-api"):
        assert needed not in patterns


# --- Kubernetes ----------------------------------------------------------------------------------------------


def test_every_kubernetes_manifest_parses_into_named_resources() -> None:
    documents = list(_k8s_documents())
    assert documents
    for path, document in documents:
        assert {"apiVersion", "kind", "metadata"} <= set(document), path.name
        assert document["metadata"]["name"], path.name


def test_the_kustomization_applies_every_manifest_but_the_secret_placeholders() -> None:
    kustomization: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "caisse"
    manifests = sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml" and ".example." not in p.name
    )
    assert sorted(kustomization["resources"]) == manifests
    namespaces = [doc for _, doc in _k8s_documents() if doc["kind"] == "Namespace"]
    assert [ns["metadata"]["name"] for ns in namespaces] == ["caisse"]


@pytest.mark.parametrize("service", CENTRAL, ids=_ids(CENTRAL))
def test_each_central_service_has_a_probed_non_root_deployment_and_a_cluster_ip_service(service: Service) -> None:
    deployment = _k8s("Deployment")[service.directory]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["enableServiceLinks"] is False
    (container,) = pod["containers"]
    assert container["image"].startswith(f"caisse/{service.directory}:")
    assert container["ports"] == [{"name": "http", "containerPort": service.port, "protocol": "TCP"}]
    # The notifier holds the tills' connections: its memory grows with them (`make bench`, notifier figures).
    assert container["resources"]["limits"]["memory"] == ("768Mi" if service.directory == "notifier" else "256Mi")
    assert container["resources"]["requests"]["memory"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["envFrom"] == [
        {"configMapRef": {"name": f"{service.directory}-config"}},
        {"secretRef": {"name": f"{service.directory}-secrets"}},
    ]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    svc = _k8s("Service")[service.directory]
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == selector
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(service.port, "http")]


@pytest.mark.parametrize("service", CENTRAL, ids=_ids(CENTRAL))
def test_each_central_service_reads_its_settings_from_a_config_map_and_a_secret(service: Service) -> None:
    config: dict[str, str] = _k8s("ConfigMap")[f"{service.directory}-config"]["data"]
    assert all(key.startswith(service.prefix) for key in config)
    assert config[f"{service.prefix}HOST"] == "0.0.0.0"
    assert config[f"{service.prefix}PORT"] == str(service.port)
    (cluster,) = _k8s("Kafka")
    assert config[f"{service.prefix}KAFKA_BOOTSTRAP"] == f"{cluster}-kafka-bootstrap:9092"
    assert not any("PASSWORD" in key or "DATABASE_URL" in key for key in config)
    secret = _k8s("Secret")[f"{service.directory}-secrets"]
    url = secret["stringData"][f"{service.prefix}DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://")
    assert url.endswith(f"/{service.database}")


def test_pos_api_scales_horizontally() -> None:
    hpa = _k8s("HorizontalPodAutoscaler")["pos-api"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "pos-api"}
    assert 1 < hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_hw_proxy_is_not_deployed_to_kubernetes_and_the_readme_says_why() -> None:
    named = [doc["metadata"]["name"] for _, doc in _k8s_documents()]
    assert [name for name in named if "hw-proxy" in name] == []
    readme = (K8S / "README.md").read_text()
    assert "hw-proxy is not deployed" in readme
    assert "on each till" in readme.lower()


def test_the_kustomization_builds_offline() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert {doc["metadata"].get("namespace", "caisse") for doc in built} == {"caisse"}
    assert len(built) == sum(1 for _ in _k8s_documents(include_examples=False))


def test_the_kubernetes_manifests_pass_strict_schema_validation() -> None:
    """kubernetes-validate (a dev dependency) ships the Kubernetes schemas and runs offline."""
    command = [str(Path(sys.executable).parent / "kubernetes-validate")]
    files = [str(path) for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"]
    result = subprocess.run(
        [*command, "--strict", "--kubernetes-version", "1.30.0", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = {line for line in result.stdout.splitlines() if line.startswith("INFO") and " passed " in line}
    core = [doc for _, doc in _k8s_documents() if not doc["apiVersion"].startswith("kafka.strimzi.io/")]
    assert len(passed) == len(core)
