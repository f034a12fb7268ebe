"""The services under supervisord, as `make up` runs them: kill -9 of each kind mid-scan.

`deploy/local/stack.sh apps-up` starts the services (the broker and the
database of the tests already run) under the same supervisord configuration
`make up` writes, with the least-privilege logins. Each kind of service is
killed with SIGKILL while a scan runs; supervisord starts it again and the
scan finishes with every signal stored exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_pipeline import all_symbols, exactly_once
from tests.support.api import free_port
from tests.support.binance_standin import StandIn
from tests.support.stack import Stack, pid_of

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "deploy" / "local" / "stack.sh"
KINDS = ("fetcher", "analyzer-1", "ingestor", "notifier", "alerts-api")


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(STACK), *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def restarted(env: dict[str, str], name: str, old: int, within: float = 60.0) -> int:
    for _ in range(int(within / 0.2)):
        pid = await asyncio.to_thread(pid_of, env, name)
        if pid and pid != old:
            return pid
        await asyncio.sleep(0.2)
    raise AssertionError(f"supervisord did not start {name} again")


@pytest.fixture
def supervised(stack: Stack, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = stack.env() | {
        "AUTONAMA_LOCAL_DIR": str(tmp_path / "local"),
        "API_PORT": str(free_port()),
        "DASHBOARD_PORT": str(free_port()),
        "PG_HOST": stack.postgres.host,
        "PG_PORT": str(stack.postgres.port),
        "KAFKA_HOST": stack.kafka.bootstrap_servers.split(":")[0],
        "KAFKA_PORT": stack.kafka.bootstrap_servers.split(":")[1],
        "AUTONAMA_ANALYZER_MAX_BATCH": "1",
        "AUTONAMA_FETCHER_CONCURRENCY": "2",
    }
    yield env
    # Whatever the test did: no supervisord (nor its services) outlives it.
    conf = Path(env["AUTONAMA_LOCAL_DIR"]) / "supervisord.conf"
    if conf.exists():
        subprocess.run(
            [str(REPO / ".venv" / "bin" / "supervisorctl"), "-c", str(conf), "shutdown"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )


@pytest.mark.slow
async def test_kill_9_of_each_service_under_supervision_loses_nothing(
    stack: Stack, standin_2022: StandIn, supervised: dict[str, str]
) -> None:
    symbols = all_symbols(standin_2022)
    standin_2022.latency_seconds = 0.15  # a scan that lasts long enough to kill into
    await asyncio.to_thread(run, supervised, "apps-up")
    try:
        api = f"http://127.0.0.1:{supervised['API_PORT']}"
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{api}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        scan_id = await stack.request(symbols)
        for name in KINDS:
            old = await asyncio.to_thread(pid_of, supervised, name)
            assert old, f"{name} is not running under supervisord"
            os.kill(old, signal.SIGKILL)
            await restarted(supervised, name, old)
        scan = await stack.wait_for_scan(scan_id, within=180)
        assert scan["status"] == "finished"
        await exactly_once(stack, scan_id, symbols)
        done = await asyncio.to_thread(
            subprocess.run,
            [str(STACK), "status"],
            env=supervised,
            capture_output=True,
            text=True,
            check=False,
        )
        status = done.stdout
        # where to look: the dashboard's and the API's addresses
        assert f"dashboard  http://127.0.0.1:{supervised['DASHBOARD_PORT']}/alerts" in status
        assert f"API        http://127.0.0.1:{supervised['API_PORT']}/docs" in status
        for name in KINDS:
            assert f"{name}" in status
            assert "RUNNING" in next(line for line in status.splitlines() if name in line)
    finally:
        await asyncio.to_thread(run, supervised, "apps-down")
