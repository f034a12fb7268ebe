"""docker-compose.yml cannot run here (no Docker engine): check what it promises by parsing it."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
APPS = {
    "fetcher": "autonama-fetcher",
    "analyzer": "autonama-analyzer",
    "ingestor": "autonama-ingestor",
    "alerts-api": "autonama-alerts-api",
    "notifier": "autonama-notifier",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return data


def workspace_packages() -> set[str]:
    names = set()
    for pyproject in [
        REPO_ROOT / "cli" / "pyproject.toml",
        *REPO_ROOT.glob("services/*/pyproject.toml"),
    ]:
        names.add(tomllib.loads(pyproject.read_text())["project"]["name"])
    return names


def test_kafka_is_official_4x_image_in_kraft_mode_with_sasl_and_acls(
    compose: dict[str, Any],
) -> None:
    kafka = compose["services"]["kafka"]
    image, tag = kafka["image"].split(":")
    assert image == "apache/kafka"
    assert tag.split(".")[0] == "4"
    script = (REPO_ROOT / "deploy" / "docker" / "kafka-sasl.sh").read_text()
    assert kafka["entrypoint"] == ["/bin/sh", "/autonama/kafka-sasl.sh"]
    assert "./deploy/docker/kafka-sasl.sh:/autonama/kafka-sasl.sh:ro" in kafka["volumes"]
    for line in (
        "process.roles=broker,controller",
        "listeners=SASL_PLAINTEXT://:9092,CONTROLLER://:9093",
        "sasl.enabled.mechanisms=SCRAM-SHA-256",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
    ):
        assert line in script
    assert "zookeeper" not in script
    assert "--topic autonama. --group autonama-" in script
    assert "kafka-broker-api-versions" in " ".join(kafka["healthcheck"]["test"])
    # every app authenticates as the user the ACL names
    for name in APPS:
        env = compose["services"][name]["environment"]
        assert env["AUTONAMA_KAFKA__SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert env["AUTONAMA_KAFKA__SASL_USERNAME"] == "autonama"
        assert env["AUTONAMA_KAFKA__SASL_PASSWORD"].startswith("${AUTONAMA_KAFKA_PASSWORD:?")


def test_postgres_is_official_image_with_healthcheck(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert pg["image"].split(":") == ["postgres", "15"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])


def test_stateful_services_use_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name in ("kafka", "postgres"):
        mounts = compose["services"][name]["volumes"]
        sources = {m.split(":")[0] for m in mounts}
        data = {s for s in sources if not s.startswith("./")}  # the rest: read-only scripts
        assert data
        assert data <= declared
        for script in sources - data:
            assert (REPO_ROOT / script).is_file()


def test_the_owner_migrates_once_before_any_app_starts(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["autonama", "migrate"]
    assert migrate["build"]["args"]["PACKAGE"] == "autonama-cli"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate["environment"]["AUTONAMA_POSTGRES__USER"] == "autonama"


def test_each_app_logs_in_with_the_least_it_needs(compose: dict[str, Any]) -> None:
    users = {
        name: compose["services"][name]["environment"].get("AUTONAMA_POSTGRES__USER")
        for name in APPS
    }
    assert users["alerts-api"] == "autonama_api"
    assert users["ingestor"] == users["fetcher"] == "autonama_writer"
    assert users["notifier"] == "autonama_notifier"
    analyzer = compose["services"]["analyzer"]["environment"]
    assert users["analyzer"] is None
    assert "AUTONAMA_POSTGRES__PASSWORD" not in analyzer  # no database credentials at all
    for name in APPS:
        assert compose["services"][name]["environment"]["AUTONAMA_POSTGRES__MIGRATE"] == "false"
    roles = (REPO_ROOT / "deploy" / "postgres" / "roles.sql").read_text()
    assert "CREATE ROLE autonama_api LOGIN" in roles
    assert "CREATE ROLE autonama_writer LOGIN" in roles
    assert "CREATE ROLE autonama_notifier LOGIN" in roles
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(
        m.startswith("./deploy/postgres/10-autonama-roles.sh:/docker-entrypoint-initdb.d/")
        for m in mounts
    )


def test_the_api_is_published_on_loopback_only(compose: dict[str, Any]) -> None:
    ports = compose["services"]["alerts-api"]["ports"]
    assert ports
    assert all(p.startswith("127.0.0.1:") for p in ports)


@pytest.mark.parametrize(("service", "package"), APPS.items())
def test_apps_build_from_one_dockerfile_and_wait_for_their_deps(
    compose: dict[str, Any], service: str, package: str
) -> None:
    app = compose["services"][service]
    assert app["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert app["build"]["context"] == "."
    assert app["build"]["args"]["PACKAGE"] == package
    assert package in workspace_packages()
    assert app["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    # kafka:9092 unless the .env file names the cluster's three
    assert app["environment"]["AUTONAMA_KAFKA__BOOTSTRAP_SERVERS"] == (
        "${KAFKA_BOOTSTRAP_SERVERS:-kafka:9092}"
    )
    assert app["environment"]["AUTONAMA_POSTGRES__HOST"] == "postgres"


def test_dockerfile_installs_one_package_from_the_lock_file() -> None:
    dockerfile = (REPO_ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    assert 'uv sync --frozen --no-dev --no-editable --package "$PACKAGE"' in dockerfile
    assert (REPO_ROOT / "uv.lock").is_file()


def test_no_password_has_a_default(compose: dict[str, Any]) -> None:
    """Every password is the operator's: compose refuses to start without it (``:?``)."""
    found = 0
    for service in compose["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if "PASSWORD" in name and name != "POSTGRES_INITDB_ARGS":
                found += 1
                assert str(value).startswith("${"), (name, value)
                assert ":?" in str(value), (name, value)
    assert found >= 6


def run_kafka_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """deploy/docker/kafka-sasl.sh with stand-ins for the image's Kafka tools: the broker's
    start prints the configuration it was given; formatting records its arguments."""
    bin_dir, etc = tmp_path / "bin", tmp_path / "etc"
    bin_dir.mkdir(exist_ok=True)
    etc.mkdir(exist_ok=True)
    tools = {
        "kafka-server-start.sh": 'cat "$1"',
        "kafka-storage.sh": f'echo "$@" >> "{tmp_path}/format.args"',
        "kafka-acls.sh": "exit 0",
    }
    for name, body in tools.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return subprocess.run(
        ["sh", str(REPO_ROOT / "deploy" / "docker" / "kafka-sasl.sh")],
        env={
            "PATH": "/usr/bin:/bin",
            "KAFKA_BIN": str(bin_dir),
            "KAFKA_DATA": str(tmp_path / "data"),
            "KAFKA_CONF_DIR": str(etc),
            "KAFKA_ADMIN_PASSWORD": "a",
            "AUTONAMA_KAFKA_PASSWORD": "b",
            "KAFKA_CLUSTER_ID": "etgMT8ouQWyBYeCkkLjhKA",
        }
        | env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_cluster_profile_is_three_nodes_of_one_quorum(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    services = compose["services"]
    nodes = {name: services[name] for name in ("kafka", "kafka-2", "kafka-3")}
    assert "profiles" not in nodes["kafka"]  # the one node of the default
    assert nodes["kafka-2"]["profiles"] == nodes["kafka-3"]["profiles"] == ["cluster"]
    for number, (name, node) in enumerate(nodes.items(), start=1):
        assert node["entrypoint"] == nodes["kafka"]["entrypoint"]
        assert node["environment"]["KAFKA_NODE_ID"] == str(number)
        assert node["environment"]["KAFKA_BROKERS"] == "${KAFKA_BROKERS:-1}"
        assert (
            node["environment"]["KAFKA_CLUSTER_ID"]
            == nodes["kafka"]["environment"]["KAFKA_CLUSTER_ID"]
        )
        data = [v for v in node["volumes"] if v.endswith(":/var/lib/kafka/data")]
        assert data == [f"{name}-data:/var/lib/kafka/data"], name  # its own storage
    for name in APPS:
        env = services[name]["environment"]
        assert env["AUTONAMA_KAFKA__REPLICATION_FACTOR"] == "${KAFKA_BROKERS:-1}"
        assert env["AUTONAMA_KAFKA__BOOTSTRAP_SERVERS"].startswith("${KAFKA_BOOTSTRAP_SERVERS:-")

    second = run_kafka_script(tmp_path, KAFKA_BROKERS="3", KAFKA_NODE_ID="2")
    assert second.returncode == 0, second.stderr
    config = second.stdout.splitlines()
    for line in (
        "node.id=2",
        "controller.quorum.voters=1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093",
        "advertised.listeners=SASL_PLAINTEXT://kafka-2:9092",
        "offsets.topic.replication.factor=3",
        "transaction.state.log.min.isr=2",
        "min.insync.replicas=2",
    ):
        assert line in config, line
    formatted = (tmp_path / "format.args").read_text()
    assert "-t etgMT8ouQWyBYeCkkLjhKA" in formatted  # the one id of every node
    assert "name=autonama," in formatted


def test_the_one_node_default_and_a_wrong_node_named(tmp_path: Path) -> None:
    one = run_kafka_script(tmp_path)
    assert one.returncode == 0, one.stderr
    assert "controller.quorum.voters=1@kafka:9093" in one.stdout.splitlines()
    assert "offsets.topic.replication.factor=1" in one.stdout.splitlines()
    wrong = run_kafka_script(tmp_path, KAFKA_BROKERS="3", KAFKA_NODE_ID="4")
    assert wrong.returncode == 2
    assert "KAFKA_NODE_ID=4" in wrong.stderr


def test_replicas_of_the_workers_are_knobs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["analyzer"]["deploy"]["replicas"] == "${ANALYZERS:-2}"
    extra = services["ingestor-replica"]
    assert extra["deploy"]["replicas"] == "${EXTRA_INGESTORS:-0}"
    assert extra["build"]["args"]["PACKAGE"] == "autonama-ingestor"
    assert extra["environment"]["AUTONAMA_INGESTOR_WATCH_FILES"] == "false"  # one watcher
    assert "volumes" not in extra
    assert extra["environment"]["AUTONAMA_POSTGRES__USER"] == "autonama_writer"
