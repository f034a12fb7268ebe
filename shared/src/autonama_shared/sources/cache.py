"""Local cache of candles in Parquet, per (source, symbol, interval).

A re-scan asks the exchange only for candles newer than the cache. A corrupt
file is discarded with a warning and fetched again; writes are atomic
(temporary file, then rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from autonama_shared.engine.candles import COLUMNS, Candles
from autonama_shared.errors import ConfigError, DataError

__all__ = ["CachedCandles", "KlineCache"]

log = logging.getLogger(__name__)
_SAFE = re.compile(r"^[A-Za-z0-9]{1,32}$")
_META_COMPLETE = b"autonama.complete_history"


@dataclass(frozen=True)
class CachedCandles:
    candles: Candles
    #: True when the exchange said there is nothing older (the listing start was reached).
    complete_history: bool


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class KlineCache:
    """Parquet files under ``root/<source>/<interval>/<SYMBOL>.parquet``."""

    def __init__(self, root: Path, source: str) -> None:
        if not _SAFE.match(source):
            raise ConfigError(f"cache source name {source!r} must be letters and digits")
        self.root = root
        self.source = source

    def _path(self, symbol: str, interval: str) -> Path:
        if not _SAFE.match(symbol) or not _SAFE.match(interval):
            raise DataError(f"symbol {symbol!r} / interval {interval!r} cannot name a cache file")
        return self.root / self.source / interval / f"{symbol}.parquet"

    def load(self, symbol: str, interval: str) -> CachedCandles:
        path = self._path(symbol, interval)
        if not path.exists():
            return CachedCandles(Candles.empty(symbol, interval), complete_history=False)
        try:
            table = pq.read_table(path)
            candles = Candles(
                symbol,
                interval,
                table.column("open_time").to_numpy().astype(np.int64),
                *(table.column(c).to_numpy().astype(np.float64) for c in COLUMNS[1:]),
            )
            complete = (table.schema.metadata or {}).get(_META_COMPLETE) == b"1"
        except (OSError, ValueError, KeyError, pa.ArrowException, DataError) as e:
            log.warning(
                "cache file %s is unreadable (%s); discarding it and fetching again", path, e
            )
            path.unlink(missing_ok=True)
            return CachedCandles(Candles.empty(symbol, interval), complete_history=False)
        return CachedCandles(candles, complete)

    def save(self, candles: Candles, *, complete_history: bool) -> None:
        table = pa.table({c: getattr(candles, c) for c in COLUMNS})
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _META_COMPLETE: b"1" if complete_history else b"0"}
        )
        _atomic_write(
            self._path(candles.symbol, candles.interval), lambda p: pq.write_table(table, p)
        )

    def load_json(self, name: str) -> Any:
        path = self.root / self.source / f"{name}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.warning("cache file %s is unreadable (%s); discarding it", path, e)
            path.unlink(missing_ok=True)
            return None

    def save_json(self, name: str, value: Any) -> None:
        text = json.dumps(value)
        _atomic_write(
            self.root / self.source / f"{name}.json",
            lambda p: Path(p).write_text(text, encoding="utf-8"),
        )
