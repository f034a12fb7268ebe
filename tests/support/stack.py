"""Running the real services as processes in tests, each with its own log file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from autonama_shared.messaging.dead_letters import read_letters
from autonama_shared.messaging.events import DeadLetter, ScanParams, ScanRequested, encode
from autonama_shared.messaging.topics import Topics
from autonama_shared.settings import KafkaSettings, PostgresSettings
from tests.support.api import kafka_env
from tests.support.launch import Launched, launch

REPO_ROOT = Path(__file__).resolve().parents[2]

MODULES = {
    "fetcher": "autonama_fetcher",
    "analyzer": "autonama_analyzer",
    "ingestor": "autonama_ingestor",
    "notifier": "autonama_notifier",
}


@dataclass
class Service:
    name: str
    process: Launched
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@dataclass
class Stack:
    """Services sharing one topic prefix and one database schema."""

    kafka: KafkaSettings
    postgres: PostgresSettings
    workdir: Path
    binance_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)

    @property
    def topics(self) -> Topics:
        return Topics.of(self.kafka)

    def env(self) -> dict[str, str]:
        pg = self.postgres
        env = {
            **os.environ,
            **kafka_env(self.kafka),
            "AUTONAMA_POSTGRES__HOST": pg.host,
            "AUTONAMA_POSTGRES__PORT": str(pg.port),
            "AUTONAMA_POSTGRES__USER": pg.user,
            "AUTONAMA_POSTGRES__PASSWORD": pg.password.get_secret_value(),
            "AUTONAMA_POSTGRES__DATABASE": pg.database,
            "AUTONAMA_POSTGRES__DB_SCHEMA": pg.db_schema,
            "AUTONAMA_FETCHER_BINANCE__BASE_URL": self.binance_url,
            "AUTONAMA_FETCHER_BINANCE__BACKOFF_BASE": "0.05",
            "AUTONAMA_ANALYZER_BINANCE__BASE_URL": self.binance_url,
            "AUTONAMA_ANALYZER_BINANCE__BACKOFF_BASE": "0.05",
            "AUTONAMA_FETCHER_CACHE_DIR": str(self.workdir / "cache"),
            "AUTONAMA_INGESTOR_DROP_FOLDER": str(self.workdir / "drop"),
            "AUTONAMA_INGESTOR_POLL_SECONDS": "0.5",
            "AUTONAMA_INGESTOR_SETTLE_SECONDS": "0.5",
        }
        # Group ids follow the topic prefix, so tests never share a consumer group.
        for name in MODULES:
            env[f"AUTONAMA_{name.upper()}_GROUP_ID"] = f"{self.kafka.topic_prefix}{name}"
        env.update(self.extra_env)
        return env

    def start(self, name: str, **env: str) -> Service:
        index = sum(s.name == name for s in self.services)
        log_path = self.workdir / f"{name}-{index}.log"
        full_env = {**self.env(), **env}
        process = launch(MODULES[name], full_env, log_path, cwd=self.workdir)
        service = Service(name, process, log_path)
        self.services.append(service)
        return service

    def stop_all(self) -> None:
        for s in self.services:
            s.stop()

    async def dispose(self) -> None:
        """Its services stopped, its schema dropped and its topics deleted: nothing of it is
        left in the broker or the database (a local broker that kept every bench run's
        topics had thousands of partitions to load at each start)."""
        self.stop_all()
        conn = await self.connect()
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.postgres.db_schema}" CASCADE')
        finally:
            await conn.close()
        await delete_topics(self.kafka, self.kafka.topic_prefix)

    # -- talking to it ----------------------------------------------------------------

    async def request(
        self, symbols: list[str] | None = None, top: int | None = None, **params: Any
    ) -> str:
        p = {"interval": "1d", "days": 720, "degree": 4, "kstd": 2.0, **params}
        request = ScanRequested(origin="test", params=ScanParams(**p), symbols=symbols, top=top)
        await self.send(self.topics.scan_requests, encode(request), request.scan_id.encode())
        return request.scan_id

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            acks="all",
            **self.kafka.client_options(),
        )
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    async def connect(self) -> asyncpg.Connection:
        pg = self.postgres
        return await asyncpg.connect(
            host=pg.host,
            port=pg.port,
            user=pg.user,
            database=pg.database,
            password=pg.password.get_secret_value() or None,
            server_settings={"search_path": pg.db_schema},
        )

    async def scan_status(self, scan_id: str) -> str | None:
        conn = await self.connect()
        try:
            if not await conn.fetchval("SELECT to_regclass('scans') IS NOT NULL"):
                return None
            status: str | None = await conn.fetchval(
                "SELECT status FROM scans WHERE scan_id = $1", uuid.UUID(scan_id)
            )
            return status
        finally:
            await conn.close()

    async def wait_for_scan(self, scan_id: str, within: float = 120.0) -> asyncpg.Record:
        conn = await self.connect()
        deadline = time.monotonic() + within
        try:
            while time.monotonic() < deadline:
                with_table = await conn.fetchval("SELECT to_regclass('scans') IS NOT NULL")
                if with_table:
                    row = await conn.fetchrow(
                        "SELECT * FROM scans WHERE scan_id = $1", uuid.UUID(scan_id)
                    )
                    if row is not None and row["status"] in ("finished", "failed"):
                        return row
                for s in self.services:
                    if not s.running() and s.process.returncode not in (0, -9, None):
                        raise AssertionError(f"{s.name} exited {s.process.returncode}:\n{s.log()}")
                await asyncio.sleep(0.25)
        finally:
            await conn.close()
        logs = "\n".join(f"--- {s.name}\n{s.log()[-3000:]}" for s in self.services)
        raise AssertionError(f"scan {scan_id} did not finish in {within} s\n{logs}")

    async def all_dead_letters(self) -> list[DeadLetter]:
        """Every dead letter on the topic now (read to its end offsets)."""
        letters = await read_letters(self.kafka)
        return [x.letter for x in letters if x.letter is not None]

    async def dead_letters(self, expected: int, within: float = 30.0) -> list[DeadLetter]:
        consumer = AIOKafkaConsumer(
            self.topics.dead_letters,
            bootstrap_servers=self.kafka.bootstrap_servers,
            **self.kafka.client_options(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        letters: list[DeadLetter] = []
        try:
            async with asyncio.timeout(within):
                while len(letters) < expected:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        letters.extend(DeadLetter.model_validate_json(r.value) for r in records)
        finally:
            await consumer.stop()
        return letters


async def delete_topics(kafka: KafkaSettings, prefix: str) -> list[str]:
    """Delete the broker's topics whose names start with ``prefix`` (a test's or a bench
    run's own); return their names."""
    if not prefix:
        raise ValueError("a topic prefix is needed: every topic would match an empty one")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers, **kafka.client_options())
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if ours:
            await admin.delete_topics(ours)
        return ours
    finally:
        await admin.close()


async def wait_for_log(service: Service, text: str, within: float = 60.0, count: int = 1) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if service.log().count(text) >= count:
            return
        if not service.running():
            raise AssertionError(f"{service.name} exited:\n{service.log()}")
        await asyncio.sleep(0.2)
    raise AssertionError(f"{service.name} never logged {text!r}:\n{service.log()[-3000:]}")


@contextmanager
def running_stack(stack: Stack) -> Iterator[Stack]:
    try:
        yield stack
    finally:
        stack.stop_all()


def pid_of(env: dict[str, str], name: str) -> int:
    """The pid of service ``name`` under the supervisord of ``env`` (``stack.sh apps-up``); 0
    when it does not run."""
    conf = Path(env["AUTONAMA_LOCAL_DIR"]) / "supervisord.conf"
    out = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "supervisorctl"), "-c", str(conf), "pid", name],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.strip()
    return int(out) if out.isdigit() and out != "0" else 0
