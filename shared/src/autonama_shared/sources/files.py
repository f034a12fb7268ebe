"""Candles from local files: Binance public dumps, freqtrade JSON, and headed CSV.

Formats, recognised per file:

- **Binance public dump** (``BTCUSDT-1d-2024-01.csv`` or ``.zip``): 12 columns
  (open_time, open, high, low, close, volume, close_time, quote volume, trades,
  taker base, taker quote, ignore), with or without a header; timestamps in
  milliseconds before 2025 and microseconds from 2025-01-01, detected per file.
  Monthly (or daily) files of one symbol are concatenated.
- **freqtrade JSON** (``BTC_USDT-1d.json``): ``[[open_time_ms, o, h, l, c, v], ...]``.
- **CSV with a header** naming ``open``/``high``/``low``/``close``/``volume`` and
  an ``open_time`` (epoch ms / us, or ISO-8601): ``ETHUSDT_1d.csv``,
  ``BTCUSDT.csv`` (the interval then comes from the folder name or the flag).

A bad row makes the whole symbol an error naming the file and line: data are
never dropped silently. Another symbol's files are unaffected.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from autonama_shared.engine.candles import COLUMNS, Candles
from autonama_shared.engine.intervals import INTERVALS, interval_ms
from autonama_shared.errors import ConfigError, DataError

__all__ = ["FileSource", "read_candle_file"]

_IV = "|".join(sorted((re.escape(i) for i in INTERVALS), key=len, reverse=True))
_DUMP = re.compile(
    rf"^(?P<symbol>[A-Z0-9]+)-(?P<interval>{_IV})-\d{{4}}-\d{{2}}(-\d{{2}})?\.(csv|zip)$"
)
_FREQTRADE = re.compile(
    rf"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)-(?P<interval>{_IV})(-spot)?\.json$"
)
_CSV = re.compile(rf"^(?P<symbol>[A-Z0-9]+)(?:[_-](?P<interval>{_IV}))?\.csv$")
_HEADER_ALIASES = {
    "open_time": {"open_time", "opentime", "open time", "timestamp", "time", "date", "datetime"},
    "open": {"open", "o"},
    "high": {"high", "h"},
    "low": {"low", "l"},
    "close": {"close", "c"},
    "volume": {"volume", "vol", "v"},
}
_US_THRESHOLD = 10**14  # epoch values above this are microseconds (ms reach 1e14 in 5138)


@dataclass(frozen=True)
class _FileInfo:
    path: Path
    symbol: str
    interval: str
    kind: str  # "dump", "freqtrade" or "csv"


def _identify(path: Path, interval_hint: str | None, symbol_hint: str | None) -> _FileInfo | None:
    name = path.name
    if m := _DUMP.match(name):
        return _FileInfo(path, symbol_hint or m["symbol"], m["interval"], "dump")
    if m := _FREQTRADE.match(name):
        return _FileInfo(path, symbol_hint or m["base"] + m["quote"], m["interval"], "freqtrade")
    if m := _CSV.match(name):
        folder = path.parent.name if path.parent.name in INTERVALS else None
        interval = m["interval"] or folder or interval_hint
        if interval is None:
            raise DataError(
                f"{path}: the interval is neither in the file name nor in its folder's name; "
                "pass --interval"
            )
        return _FileInfo(path, symbol_hint or m["symbol"], interval, "csv")
    if symbol_hint is not None and path.suffix in (".csv", ".json", ".zip"):
        # A file named freely: the flags say what it holds.
        folder = path.parent.name if path.parent.name in INTERVALS else None
        interval = interval_hint or folder
        if interval is None:
            raise DataError(f"{path}: the interval is not in the file name; pass --interval")
        kind = {".json": "freqtrade", ".zip": "dump", ".csv": "csv"}[path.suffix]
        return _FileInfo(path, symbol_hint, interval, kind)
    return None


def _line_error(path: Path, line: int, message: str) -> DataError:
    return DataError(f"{path}:{line}: {message}")


def _epoch_ms(values: pd.Series, path: Path, first_line: int) -> np.ndarray:
    """Epoch ms from epoch ms / us numbers or ISO-8601 strings."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        raw = numeric.to_numpy(dtype=np.float64)
        if not np.all(raw == np.floor(raw)):
            i = int(np.flatnonzero(raw != np.floor(raw))[0])
            raise _line_error(path, first_line + i, f"open_time {values.iloc[i]!r} is not whole")
        micro = raw >= _US_THRESHOLD
        if micro.any() and not micro.all():
            i = int(np.flatnonzero(micro != micro[0])[0])
            raise _line_error(
                path, first_line + i, "open_time mixes milliseconds and microseconds in one file"
            )
        ms: np.ndarray = raw.astype(np.int64)
        return ms // 1000 if bool(micro[0]) else ms
    if numeric.notna().any():
        i = int(np.flatnonzero(numeric.isna().to_numpy())[0])
        raise _line_error(path, first_line + i, f"open_time {values.iloc[i]!r} is not a number")
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise _line_error(path, first_line + i, f"open_time {values.iloc[i]!r} is not a time")
    # Unit-agnostic (pandas may hold s, ms, us or ns): milliseconds since the epoch.
    since_epoch = parsed - pd.Timestamp(0, tz="UTC")
    out: np.ndarray = (since_epoch // pd.Timedelta(milliseconds=1)).to_numpy(dtype=np.int64)
    return out


def _prices(frame: pd.DataFrame, path: Path, first_line: int) -> dict[str, np.ndarray]:
    out = {}
    for col in COLUMNS[1:]:
        numbers = pd.to_numeric(frame[col], errors="coerce")
        bad = numbers.isna().to_numpy().copy()
        values = numbers.to_numpy(dtype=np.float64)
        if col != "volume":
            bad |= ~np.isfinite(values) | (values <= 0)
        else:
            bad |= ~np.isfinite(values) | (values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _line_error(path, first_line + i, f"{col} {frame[col].iloc[i]!r} is not valid")
        out[col] = values
    return out


#: The most a zip member may unpack to (a month of 1s candles is ~300 MB; a zip bomb is
#: refused, not unpacked into memory).
MAX_MEMBER_BYTES = 512 * 1024 * 1024


def _zip_member(zf: zipfile.ZipFile, name: str, path: Path) -> str:
    """A member's text, read at most ``MAX_MEMBER_BYTES`` whatever its header claims."""
    with zf.open(name) as member:
        data = member.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise DataError(f"{path}: {name} unpacks to more than {MAX_MEMBER_BYTES} bytes")
    return data.decode("utf-8")


def _read_table(text: str, path: Path, dump: bool) -> tuple[pd.DataFrame, int]:
    """The rows as strings with our column names, and the file line of the first row."""
    first = text.split("\n", 1)[0]
    has_header = any(ch.isalpha() for ch in first.replace("e+", "").replace("E+", ""))
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            header=0 if has_header else None,
            dtype=str,
            skip_blank_lines=True,
            keep_default_na=False,  # keep "nan" and empty cells as text, so they are reported
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{path}: not a readable CSV file: {e}") from e
    first_line = 2 if has_header else 1
    if not has_header:
        if raw.shape[1] < 6:
            raise DataError(f"{path}: {raw.shape[1]} columns without a header; 6 or 12 expected")
        if dump and raw.shape[1] != 12:
            raise DataError(f"{path}: a Binance dump has 12 columns, this file has {raw.shape[1]}")
        raw = raw.iloc[:, :6]
        raw.columns = list(COLUMNS)
        return raw, first_line
    names = {str(c).strip().lower(): c for c in raw.columns}
    picked = {}
    for ours, aliases in _HEADER_ALIASES.items():
        found = next((names[a] for a in aliases if a in names), None)
        if found is None:
            raise DataError(f"{path}: no {ours} column in the header {list(raw.columns)}")
        picked[ours] = raw[found]
    return pd.DataFrame(picked), first_line


def _load(info: _FileInfo) -> Candles:
    path = info.path
    try:
        if info.kind == "freqtrade":
            rows = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(rows, list):
                raise DataError(f"{path}: freqtrade JSON must be a list of rows")
            for i, row in enumerate(rows):
                if not isinstance(row, list) or len(row) < 6:
                    raise DataError(
                        f"{path}: row {i + 1} is not [open_time, open, high, low, close, volume]"
                    )
            frame = pd.DataFrame([r[:6] for r in rows], columns=list(COLUMNS), dtype=object)
            first_line = 1  # a JSON file's rows are counted from 1
        else:
            if path.suffix == ".zip":
                with zipfile.ZipFile(path) as zf:
                    members = [n for n in zf.namelist() if n.endswith(".csv")]
                    if len(members) != 1:
                        raise DataError(f"{path}: expected one CSV inside, found {members}")
                    text = _zip_member(zf, members[0], path)
            else:
                text = path.read_text(encoding="utf-8")
            frame, first_line = _read_table(text, path, dump=info.kind == "dump")
    except (OSError, UnicodeDecodeError, ValueError, zipfile.BadZipFile) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: cannot read: {e}") from e
    times = _epoch_ms(frame["open_time"].astype(str), path, first_line)
    prices = _prices(frame, path, first_line)
    order = np.argsort(times, kind="stable")
    if np.any(np.diff(times[order]) == 0):
        i = int(order[int(np.flatnonzero(np.diff(times[order]) == 0)[0]) + 1])
        raise _line_error(path, first_line + i, "duplicate open_time")
    return Candles(
        info.symbol, info.interval, times[order], *(prices[c][order] for c in COLUMNS[1:])
    )


def read_candle_file(
    path: Path, *, interval: str | None = None, symbol: str | None = None
) -> Candles:
    """Read one candle file of any supported format (see the module docstring)."""
    info = _identify(path, interval, symbol)
    if info is None:
        raise DataError(f"{path}: not a recognised candle file name")
    return _load(info)


class FileSource:
    """A file or folder of candle files as a ``CandleSource``.

    Candles whose close time is still in the future (an open candle someone
    saved) are left out: only closed candles are ever fitted.
    """

    name = "files"

    def __init__(
        self, path: Path, *, interval: str | None = None, symbol: str | None = None
    ) -> None:
        if interval is not None:
            interval_ms(interval)  # validates
        if not path.exists():
            raise ConfigError(f"candle data path {path} does not exist")
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        self._files: dict[tuple[str, str], list[_FileInfo]] = defaultdict(list)
        self._unreadable: list[str] = []
        for f in files:
            try:
                info = _identify(f, interval, symbol)
            except DataError as e:
                self._unreadable.append(str(e))
                continue
            if info is not None:
                self._files[(info.symbol, info.interval)].append(info)
        if not self._files:
            raise ConfigError(f"no candle files found in {path} ({'; '.join(self._unreadable)})")
        self._path = path
        self._parsed: dict[tuple[str, str], Candles] = {}

    @property
    def problems(self) -> list[str]:
        """Files that were skipped, with why."""
        return list(self._unreadable)

    def symbols(self, interval: str) -> list[str]:
        return sorted(s for s, i in self._files if i == interval)

    def intervals(self) -> list[str]:
        """The intervals the files hold, shortest first."""
        return sorted({i for _, i in self._files}, key=interval_ms)

    async def fetch(self, symbol: str, interval: str, candles: int) -> Candles:
        return self._load(symbol, interval).tail(candles)

    def _load(self, symbol: str, interval: str) -> Candles:
        """Every closed candle of (symbol, interval) in the files, parsed once per source."""
        key = (symbol, interval)
        if key in self._parsed:
            return self._parsed[key]
        infos = self._files.get(key)
        if not infos:
            have = ", ".join(f"{s} {i}" for s, i in sorted(self._files)[:20])
            raise DataError(
                f"no {interval} candle file for {symbol} in {self._path} (have: {have})"
            )
        merged = Candles.empty(symbol, interval)
        for info in infos:
            part = _load(info)
            overlap = np.intersect1d(merged.open_time, part.open_time)
            if overlap.size:
                raise DataError(
                    f"{info.path}: candles at {overlap.size} open times also appear in "
                    "another file of the same symbol"
                )
            merged = merged.merge(part)
        # A candle whose close time is still ahead (someone saved an open one) is left out.
        closed = merged.open_time + interval_ms(interval) - 1 < int(time.time() * 1000)
        merged = merged.slice(0, int(np.count_nonzero(closed)))
        self._parsed[key] = merged
        return merged

    async def top_symbols(self, n: int) -> list[str]:
        """Ranked by the quote volume of each symbol's last day of candles in the files."""
        ranked: list[tuple[float, str]] = []
        for symbol, interval in self._files:
            c = await self.fetch(
                symbol, interval, max(1, round(86_400_000 / interval_ms(interval)))
            )
            ranked.append((float(np.sum(c.close * c.volume)), symbol))
        seen: dict[str, float] = {}
        for volume, symbol in ranked:
            seen[symbol] = max(volume, seen.get(symbol, 0.0))
        return [s for s, _ in sorted(seen.items(), key=lambda kv: -kv[1])][:n]

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> FileSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
