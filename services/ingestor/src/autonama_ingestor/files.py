"""The drop folder: results files from ``autonama scan``, ingested once complete.

A file is taken when its name is one ``autonama scan`` writes, it is a regular
file, and its size and modification time have not changed for
``settle_seconds`` (so a file still being copied in is left alone; the scanner
itself writes a hidden temporary file and renames it). Afterwards it moves to
``processed/`` or ``rejected/``, with ``<name>.reason.json`` beside it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import asyncpg

from autonama_shared.db.ingest import ACCEPTED_NAME, IngestOutcome, ingest_file, record_outcome
from autonama_shared.lifecycle import wait_or_stop

__all__ = ["DropFolder"]

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
        self._seen: dict[str, tuple[int, int, float]] = {}  # name -> (size, mtime_ns, since)

    async def run(self, stop: asyncio.Event, poll_seconds: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        while not stop.is_set():
            await self.scan_once()
            await wait_or_stop(stop, poll_seconds)

    def _ready(self) -> list[Path]:
        now = time.monotonic()
        ready: list[tuple[int, str]] = []
        current = set()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or entry.is_dir(follow_symlinks=False):
                    continue  # hidden: the scanner's temporary files
                if not name.startswith("backtest_results_"):
                    continue  # not ours to judge
                current.add(name)
                st = entry.stat(follow_symlinks=False)
                key = (st.st_size, st.st_mtime_ns)
                seen = self._seen.get(name)
                if seen is None or seen[:2] != key:
                    self._seen[name] = (*key, now)
                    continue
                if now - seen[2] >= self.settle:
                    ready.append((st.st_mtime_ns, name))
        for gone in set(self._seen) - current:
            del self._seen[gone]
        # Oldest first: of two files with the same content, the earlier one is the original.
        return [Path(self.folder, name) for _, name in sorted(ready)]

    async def scan_once(self) -> list[IngestOutcome]:
        outcomes = []
        for path in self._ready():
            outcomes.append(await self.take(path))
            self._seen.pop(path.name, None)
        return outcomes

    async def take(self, path: Path) -> IngestOutcome:
        if ACCEPTED_NAME.match(path.name):
            outcome = await ingest_file(self.pool, path, max_bytes=self.max_bytes)
        else:
            outcome = IngestOutcome(
                path.name,
                "rejected",
                0,
                "",
                0,
                "file name not accepted: expected backtest_results_YYYYMMDD_HHMMSS.json",
            )
            await record_outcome(self.pool, outcome)
        target = self.processed if outcome.status == "ingested" else self.rejected
        moved = self._move(path, target)
        reason = {**asdict(outcome), "moved_to": str(moved), "at": time.time()}
        moved.with_name(moved.name + ".reason.json").write_text(
            json.dumps(reason, indent=2), encoding="utf-8"
        )
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
        folder.mkdir(parents=True, exist_ok=True)
        # The name is used as it is listed (no path parts can be in it); clashes get a suffix.
        target = folder / path.name
        n = 1
        while target.exists() or target.is_symlink():
            target = folder / f"{path.name}.{n}"
            n += 1
        os.replace(path, target)
        return target
