"""The drop folder: results files from ``autonama scan``, ingested once complete.

A file is taken when its name is one ``autonama scan`` writes, it is a regular
file, and its size and modification time have not changed for
``settle_seconds`` (so a file still being copied in is left alone). Writers
should write a hidden or ``*.tmp`` file and rename it when complete, as the
scanner does: such names are never taken. Afterwards it moves to
``processed/`` or ``rejected/``, with ``<name>.reason.json`` beside it.

One file never stops the folder: whatever goes wrong with it (bad JSON,
invalid numbers, a value the database refuses) rejects that file with the
reason, and the watcher goes on. A database outage leaves the file where it is
and is retried. ``processed/`` and ``rejected/`` must be real folders: a link
there is refused (nothing is written outside the drop folder) and the watcher
stops, is restarted with backoff, and says why in ``worker_status`` (the
API's ``/readyz``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import asyncpg

from autonama_shared.db.ingest import (
    ACCEPTED_NAME,
    IngestOutcome,
    ReadFile,
    ingest_file,
    read_file,
    record_outcome,
)
from autonama_shared.db.pool import DATABASE_ERRORS, classified
from autonama_shared.db.status import record_status
from autonama_shared.errors import FatalError, TemporaryError
from autonama_shared.lifecycle import wait_or_stop

__all__ = ["HEARTBEAT_SECONDS", "WORKER", "DropFolder"]

#: The watcher's row in ``worker_status``, and how often it says it is alive.
WORKER = "ingestor.drop-folder"
HEARTBEAT_SECONDS = 10.0

#: Files up to this size are read while the one before is stored (see ``_read_ahead``).
READ_AHEAD_BYTES = 16 * 1024 * 1024

log = logging.getLogger("autonama.ingestor.files")


class DropFolder:
    def __init__(
        self,
        folder: Path,
        pool: asyncpg.Pool,
        *,
        settle_seconds: float,
        max_bytes: int,
    ) -> None:
        self.folder = folder
        self.pool = pool
        self.settle = settle_seconds
        self.max_bytes = max_bytes
        self.processed = folder / "processed"
        self.rejected = folder / "rejected"
        # name -> (inode, size, mtime_ns, since): what the file was when it settled
        self._seen: dict[str, tuple[int, int, int, float]] = {}

    async def run(self, stop: asyncio.Event, poll_seconds: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for sub in (self.processed, self.rejected):
            _real_folder(sub)
        await self.report(True, f"watching {self.folder}")
        reported = time.monotonic()
        while not stop.is_set():
            await self.scan_once()
            if time.monotonic() - reported >= HEARTBEAT_SECONDS:
                await self.report(True, f"watching {self.folder}")
                reported = time.monotonic()
            await wait_or_stop(stop, poll_seconds)
        await self.report(False, "stopped")

    async def report(self, running: bool, detail: str) -> None:
        """Say how the watcher is in ``worker_status`` (best effort: the database may be away)."""
        await record_status(self.pool, WORKER, running, detail)

    def _ready(self) -> list[Path]:
        now = time.monotonic()
        ready: list[tuple[int, str]] = []
        current = set()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name.endswith(".tmp"):
                    continue  # a file still being written, by its name
                if entry.is_dir(follow_symlinks=False):
                    continue
                if not name.startswith("backtest_results_"):
                    continue  # not ours to judge
                current.add(name)
                st = entry.stat(follow_symlinks=False)
                key = _identity(st)
                seen = self._seen.get(name)
                if seen is None or seen[:3] != key:
                    self._seen[name] = (*key, now)
                    continue
                if now - seen[3] >= self.settle:
                    ready.append((st.st_mtime_ns, name))
        for gone in set(self._seen) - current:
            del self._seen[gone]
        # Oldest first: of two files with the same content, the earlier one is the original.
        return [Path(self.folder, name) for _, name in sorted(ready)]

    async def scan_once(self) -> list[IngestOutcome]:
        """Take every ready file, oldest first; the next file is read and checked (in a
        thread) while the current one is stored, so the parsing and the database overlap."""
        outcomes = []
        ready = self._ready()
        upcoming: asyncio.Future[ReadFile] | None = None
        try:
            for n, path in enumerate(ready):
                current = upcoming or self._read_ahead(path)
                upcoming = self._read_ahead(ready[n + 1]) if n + 1 < len(ready) else None
                outcomes.append(await self.take(path, current))
                self._seen.pop(path.name, None)
        finally:
            if upcoming is not None:
                upcoming.cancel()
                with contextlib.suppress(BaseException):
                    await upcoming
        return outcomes

    def _read_ahead(self, path: Path) -> asyncio.Future[ReadFile] | None:
        """Start reading ``path``, unless it is refused by its name or large: a checked file
        takes several times its size in memory, and two large ones at once would double
        the ingestor's peak (measured: 510 -> 900 MiB with files of 71 MB)."""
        if not ACCEPTED_NAME.match(path.name):
            return None  # refused by its name: never read
        with contextlib.suppress(OSError):
            if path.lstat().st_size > READ_AHEAD_BYTES:
                return None
        return asyncio.ensure_future(asyncio.to_thread(read_file, path, self.max_bytes))

    async def take(
        self, path: Path, reading: asyncio.Future[ReadFile] | None = None
    ) -> IngestOutcome:
        """Ingest or reject one file and move it; ``TemporaryError`` leaves it in place."""
        try:
            with classified():
                if ACCEPTED_NAME.match(path.name):
                    read = await reading if reading is not None else None
                    outcome = await ingest_file(
                        self.pool, path, max_bytes=self.max_bytes, read=read
                    )
                else:
                    outcome = _rejected(
                        path,
                        "file name not accepted: expected backtest_results_YYYYMMDD_HHMMSS.json",
                    )
                    await record_outcome(self.pool, outcome)
        except (TemporaryError, FatalError) as e:
            # the database's state, not the file's: it waits in place for the next try
            raise TemporaryError(f"{path.name} left in place, the database is away: {e}") from e
        except Exception as e:  # noqa: BLE001 - this file, not the folder, has failed
            outcome = _rejected(path, f"could not be ingested: {type(e).__name__}: {e}")
            with contextlib.suppress(*DATABASE_ERRORS):
                await record_outcome(self.pool, outcome)
        settled = self._seen.get(path.name)
        try:
            now = _identity(os.lstat(path))
        except FileNotFoundError:
            now = None
        if now is None or (settled is not None and now != settled[:3]):
            # renamed, replaced or rewritten while it was read: what was read is recorded
            # as it was; whatever stands under a name now is taken on its own turn
            log.warning(
                "%s %s while it was read (%s, %d rows); not moved",
                path.name,
                "vanished" if now is None else "changed",
                outcome.status,
                outcome.rows,
            )
            return outcome
        target = self.processed if outcome.status == "ingested" else self.rejected
        try:
            moved = self._move(path, target)
        except FileNotFoundError:
            log.warning("%s vanished before it was moved (%s)", path.name, outcome.status)
            return outcome
        reason = {**asdict(outcome), "moved_to": str(moved), "at": time.time()}
        _write_new(moved.with_name(moved.name + ".reason.json"), json.dumps(reason, indent=2))
        log.info(
            "%s: %s (%d rows)%s -> %s",
            path.name,
            outcome.status,
            outcome.rows,
            f": {outcome.error}" if outcome.error else "",
            moved.parent.name,
        )
        return outcome

    @staticmethod
    def _move(path: Path, folder: Path) -> Path:
        _real_folder(folder)
        # The name is used as it is listed (no path parts can be in it); clashes get a suffix.
        target = folder / path.name
        n = 1
        while target.exists() or target.is_symlink():
            target = folder / f"{path.name}.{n}"
            n += 1
        os.replace(path, target)
        return target


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    """What tells one version of a file from another: inode, size, modification time."""
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _rejected(path: Path, why: str) -> IngestOutcome:
    return IngestOutcome(path.name, "rejected", 0, "", 0, why)


def _real_folder(folder: Path) -> None:
    """Create ``folder`` if missing; ``FatalError`` if it is a link or not a folder."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise FatalError(
            f"{folder} is a link or not a folder: files are never moved outside the drop folder"
        )
    folder.mkdir(exist_ok=True)


def _write_new(path: Path, text: str) -> None:
    """Write a new file, never through a link that stands in its place."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
