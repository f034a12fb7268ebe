"""deploy/local: `make services-up` is idempotent and `make services-down` leaves nothing running.

Runs a second, private Kafka and PostgreSQL (own folder, own ports) so the
instance that the rest of the suite uses is not disturbed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and "pytest" not in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.fixture
def private_stack() -> Iterator[dict[str, str]]:
    # Under the checkout (not /tmp/pytest-of-root, which the postgres user cannot enter).
    local_dir = REPO_ROOT / ".local" / f"test-{uuid.uuid4().hex[:8]}"
    kafka_port = free_port()
    env = {
        **os.environ,
        "AUTONAMA_LOCAL_DIR": str(local_dir),
        "KAFKA_PORT": str(kafka_port),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "PG_PORT": str(free_port()),
        "KAFKA_HEAP": "512m",
    }
    yield env
    subprocess.run(["make", "-s", "services-down"], cwd=REPO_ROOT, env=env, check=False)
    shutil.rmtree(local_dir, ignore_errors=True)


def make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", target], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.slow
def test_services_up_twice_then_down_leaves_nothing(private_stack: dict[str, str]) -> None:
    local_dir = private_stack["AUTONAMA_LOCAL_DIR"]
    first = make("services-up", private_stack)
    assert first.returncode == 0, first.stderr
    second = make("services-up", private_stack)
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stderr
    assert processes_mentioning(local_dir), "nothing of ours is running after services-up"
    status = make("services-status", private_stack)
    assert status.returncode == 0
    assert "kafka running" in status.stdout
    assert_passwords_not_trust(private_stack)

    down = make("services-down", private_stack)
    assert down.returncode == 0, down.stderr
    assert processes_mentioning(local_dir) == []
    assert make("services-status", private_stack).returncode != 0


@pytest.mark.slow
def test_stale_pid_file_is_handled(private_stack: dict[str, str]) -> None:
    """A pid file naming a process that is not our broker (dead, or pid reused) is replaced."""
    kafka_dir = Path(private_stack["AUTONAMA_LOCAL_DIR"]) / "kafka"
    kafka_dir.mkdir(parents=True)
    (kafka_dir / "kafka.pid").write_text(str(os.getpid()))  # alive, but not Kafka
    script = str(REPO_ROOT / "deploy" / "local" / "kafka.sh")
    start = subprocess.run(
        [script, "start"], env=private_stack, capture_output=True, text=True, check=False
    )
    assert start.returncode == 0, start.stderr
    assert "stale pid file" in start.stderr
    assert (kafka_dir / "kafka.pid").read_text().strip() != str(os.getpid())
    stop = subprocess.run([script, "stop"], env=private_stack, capture_output=True, check=False)
    assert stop.returncode == 0
    assert processes_mentioning(str(kafka_dir)) == []


def assert_passwords_not_trust(env: dict[str, str]) -> None:
    """The private cluster asks every login for its password (scram-sha-256, never trust):
    made on its first start, kept in its state folder for its owner only."""
    import asyncio
    import stat

    import asyncpg

    home = Path(env["AUTONAMA_LOCAL_DIR"]) / "postgres"
    empty = home.parent / "no-passwords"
    empty.write_text("")
    empty.chmod(0o600)
    for name in ("passwords.env", "pgpass"):
        mode = stat.S_IMODE((home / name).stat().st_mode)
        assert mode & 0o077 == 0, f"{name} is readable by others: {oct(mode)}"
    hba = (home / "data" / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line.strip() and line[0] != "#"]
    assert rules
    assert all(rule[-1] in ("scram-sha-256", "peer") for rule in rules), rules
    secrets = dict(line.split("=", 1) for line in (home / "passwords.env").read_text().splitlines())
    port = int(env["PG_PORT"])

    async def login(user: str, password: str | None) -> bool:
        try:
            conn = await asyncpg.connect(
                host="127.0.0.1",
                port=port,
                user=user,
                password=password,
                database="autonama",
                passfile=str(empty),  # no password but the one given
            )
        except asyncpg.InvalidPasswordError:
            return False
        await conn.close()
        return True

    async def logins() -> None:
        for user, key in (
            ("autonama", "PG_OWNER_PASSWORD"),
            ("autonama_writer", "AUTONAMA_WRITER_PASSWORD"),
            ("autonama_notifier", "AUTONAMA_NOTIFIER_PASSWORD"),
            ("autonama_api", "AUTONAMA_API_PASSWORD"),
        ):
            assert len(secrets[key]) >= 24
            assert await login(user, secrets[key]), user
            assert not await login(user, None), f"{user} logs in without a password"
            assert not await login(user, secrets[key] + "x"), user

    asyncio.run(logins())
