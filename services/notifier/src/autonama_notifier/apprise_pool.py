"""A bounded pool of Apprise worker processes (``apprise_worker.py``) with a hard deadline
per send: at the deadline the worker is killed (a thread in Apprise's own pool could only
be abandoned, and kept running, holding its place), and a new one takes its place.

A send waits for a free worker within the same deadline, so the pool never queues more
than it can answer for; the answer line is bounded (``MAX_ANSWER_BYTES``) and its error
text made printable before anyone stores or logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from dataclasses import dataclass, field

from autonama_shared.notify.network import REFUSED
from autonama_shared.notify.retry import Attempt
from autonama_shared.untrusted import printable

__all__ = ["ApprisePool"]

MAX_ANSWER_BYTES = 16 * 1024
_SPAWN_SECONDS = 30.0


@dataclass(eq=False)
class _Worker:
    process: asyncio.subprocess.Process

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(ProcessLookupError):
            await self.process.wait()


@dataclass
class ApprisePool:
    """At most ``size`` Apprise sends at once, each stopped after ``deadline`` seconds."""

    size: int
    deadline: float
    allowed_networks: str = ""
    memory_bytes: int = 1 << 30
    _idle: list[_Worker] = field(default_factory=list)
    _slots: asyncio.Semaphore | None = None
    _closed: bool = False

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        return self._slots

    async def _spawn(self) -> _Worker:
        env = {
            **os.environ,
            "AUTONAMA_NOTIFIER_ALLOWED_NETWORKS": self.allowed_networks,
            # a socket's own timeout only backs the deadline up (the pool kills first)
            "AUTONAMA_APPRISE_WORKER_TIMEOUT": str(self.deadline + 1),
            "AUTONAMA_APPRISE_WORKER_MEMORY": str(self.memory_bytes),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "autonama_notifier.apprise_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            limit=MAX_ANSWER_BYTES,
        )
        worker = _Worker(process)
        try:  # its imports (a second or more on a busy machine) are not a send's time
            async with asyncio.timeout(_SPAWN_SECONDS):
                ready = await process.stdout.readline() if process.stdout else b""
        except TimeoutError:
            ready = b""
        if b'"ready"' not in ready:
            await worker.kill()
            raise RuntimeError("an Apprise worker did not start")
        return worker

    async def send(self, url: str, title: str, body: str) -> Attempt:
        """One Apprise message: delivered, tried again, or failed for good."""
        if self._closed:
            return Attempt("retry", error="the notifier is stopping")
        try:
            async with asyncio.timeout(self.deadline):
                await self._semaphore().acquire()
        except TimeoutError:
            return Attempt("retry", error=f"every Apprise worker busy for {self.deadline:g} s")
        try:
            return await self._send(url, title, body)
        finally:
            self._semaphore().release()

    async def _send(self, url: str, title: str, body: str) -> Attempt:
        worker = self._idle.pop() if self._idle else None
        if worker is None or worker.process.returncode is not None:
            try:
                worker = await self._spawn()
            except (RuntimeError, OSError) as e:
                return Attempt("retry", error=f"no Apprise worker: {e}")
        request = json.dumps({"url": url, "title": title, "body": body}) + "\n"
        stdin, stdout = worker.process.stdin, worker.process.stdout
        if stdin is None or stdout is None:  # never: both are pipes (above)
            raise RuntimeError("an Apprise worker without its pipes")
        try:
            async with asyncio.timeout(self.deadline):
                stdin.write(request.encode())
                await stdin.drain()
                line = await stdout.readline()
        except TimeoutError:
            await worker.kill()
            return Attempt("retry", error=f"Apprise did not finish within {self.deadline:g} s")
        except (ValueError, asyncio.LimitOverrunError, ConnectionError) as e:
            await worker.kill()
            return Attempt("retry", error=f"the Apprise worker failed: {type(e).__name__}")
        except asyncio.CancelledError:  # the notifier stops mid-send: no worker outlives it
            await worker.kill()
            raise
        if not line:
            await worker.kill()
            return Attempt("retry", error="the Apprise worker stopped during the send")
        self._idle.append(worker)
        return _attempt_of(line)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in idle:
            if worker.process.stdin is not None:
                worker.process.stdin.close()
            await worker.kill()


def _attempt_of(line: bytes) -> Attempt:
    try:
        answer = json.loads(line)
        ok, error = bool(answer["ok"]), answer.get("error")
        refused = bool(answer.get("refused"))
    except (ValueError, KeyError, TypeError):
        return Attempt("retry", error="the Apprise worker answered something unreadable")
    if ok:
        return Attempt("delivered")
    if refused:
        return Attempt("failed", error=printable(str(error or REFUSED), 300))
    said = f": {printable(str(error), 300)}" if error else ""
    return Attempt("retry", error=f"not delivered{said}")
