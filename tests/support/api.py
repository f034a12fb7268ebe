"""The alerts API in a process of its own, for the tests (real HTTP through uvicorn)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx

from autonama_shared.settings import KafkaSettings, PostgresSettings
from tests.support.launch import Launched, launch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def kafka_env(k: KafkaSettings) -> dict[str, str]:
    """``k`` as the services' environment variables (what differs from the defaults: the
    brokers, the prefix, a cluster's replication, SASL)."""
    env = {
        "AUTONAMA_KAFKA__BOOTSTRAP_SERVERS": k.bootstrap_servers,
        "AUTONAMA_KAFKA__TOPIC_PREFIX": k.topic_prefix,
    }
    if k.replication_factor != 1:  # a cluster: every process makes the topics alike
        env["AUTONAMA_KAFKA__REPLICATION_FACTOR"] = str(k.replication_factor)
    if k.security_protocol != "PLAINTEXT":
        env |= {
            "AUTONAMA_KAFKA__SECURITY_PROTOCOL": k.security_protocol,
            "AUTONAMA_KAFKA__SASL_MECHANISM": k.sasl_mechanism,
            "AUTONAMA_KAFKA__SASL_USERNAME": k.sasl_username,
            "AUTONAMA_KAFKA__SASL_PASSWORD": k.sasl_password.get_secret_value(),
        }
    return env


def api_env(pg: PostgresSettings, kafka: KafkaSettings, port: int) -> dict[str, str]:
    return {
        **os.environ,
        **kafka_env(kafka),
        "AUTONAMA_POSTGRES__HOST": pg.host,
        "AUTONAMA_POSTGRES__PORT": str(pg.port),
        "AUTONAMA_POSTGRES__USER": pg.user,
        "AUTONAMA_POSTGRES__DATABASE": pg.database,
        "AUTONAMA_POSTGRES__DB_SCHEMA": pg.db_schema,
        "AUTONAMA_ALERTS_API_PORT": str(port),
        "AUTONAMA_ALERTS_API_SSE_HEARTBEAT_SECONDS": "1",
        "AUTONAMA_ALERTS_API_DASHBOARD_PORT": "0",
        "AUTONAMA_ALERTS_API_WORKERS": "1",  # one per core is the default; one test sets 2
        # The tests make many writes a minute, and schemathesis sends schema-valid requests
        # over any budget (a budget is a setting no schema can state): limits out of the
        # way here; test_request_budgets_and_the_rate_limit sets them.
        "AUTONAMA_ALERTS_API_WRITES_PER_MINUTE": "100000",
        "AUTONAMA_ALERTS_API_MAX_SCAN_CANDLES": str(10**15),
        "AUTONAMA_ALERTS_API_MAX_BACKTEST_WORK": str(10**15),
        # the tests' receivers listen on loopback (the guard's own tests unset this)
        "AUTONAMA_NOTIFIER_ALLOWED_NETWORKS": "127.0.0.1/32",
    }


def start_api(
    pg: PostgresSettings, kafka: KafkaSettings, log: Path, **settings: str
) -> tuple[Launched, str]:
    """The API in a process of its own (``settings``: more of its environment variables)."""
    port = free_port()
    proc = launch("autonama_alerts_api", api_env(pg, kafka, port) | settings, log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the API exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the API did not answer:\n{log.read_text()}")
