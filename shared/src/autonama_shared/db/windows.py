"""A signal's window in ``band_windows``: each column packed as 8-byte big-endian numbers.

Packing a column is one numpy call, where handing asyncpg a list costs a
conversion (and several type checks) per value; see migration 0009.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from autonama_shared.errors import DataError

__all__ = ["COLUMNS", "WINDOW_COLUMNS", "pack", "unpack"]

_TIMES = np.dtype(">i8")
_VALUES = np.dtype(">f8")

#: The packed columns in table order; ``open_time`` is int64, the others float64.
COLUMNS = ("open_time", "open", "high", "low", "close", "fit", "lower_band", "upper_band")
#: COPY's columns.
WINDOW_COLUMNS = ["signal_id", "candles", *COLUMNS]


class Window(Protocol):
    """A window's columns, read only (a model's lists, or anything of the same names)."""

    @property
    def open_time(self) -> Sequence[int]: ...
    @property
    def open(self) -> Sequence[float] | None: ...
    @property
    def high(self) -> Sequence[float] | None: ...
    @property
    def low(self) -> Sequence[float] | None: ...
    @property
    def close(self) -> Sequence[float]: ...
    @property
    def fit(self) -> Sequence[float]: ...
    @property
    def lower(self) -> Sequence[float]: ...
    @property
    def upper(self) -> Sequence[float]: ...


def _floats(name: str, values: Sequence[float] | None, n: int) -> bytes | None:
    if values is None:
        return None
    column = np.asarray(values, dtype=np.float64)
    if column.shape != (n,):
        raise DataError(f"window column {name} has {column.size} values, open_time {n}")
    if not np.isfinite(column).all():
        raise DataError(f"window column {name} holds NaN or infinity")
    return column.astype(_VALUES).tobytes()


def pack(signal_id: int, w: Window) -> tuple[Any, ...]:
    """The ``band_windows`` row (in ``WINDOW_COLUMNS`` order) of one signal's window.

    ``DataError`` when the columns are uneven or a value is not finite.
    """
    times = np.asarray(w.open_time, dtype=np.int64)
    n = times.size
    if times.ndim != 1 or n == 0:
        raise DataError("a window needs at least one candle")
    return (
        signal_id,
        n,
        times.astype(_TIMES).tobytes(),
        _floats("open", w.open, n),
        _floats("high", w.high, n),
        _floats("low", w.low, n),
        _floats("close", w.close, n),
        _floats("fit", w.fit, n),
        _floats("lower", w.lower, n),
        _floats("upper", w.upper, n),
    )


def unpack(row: Mapping[str, Any]) -> dict[str, list[Any] | None]:
    """The columns of a ``band_windows`` row as lists (None where absent).

    >>> unpack({"open_time": bytes(7) + b"\\x01", "close": b"?\\xf8" + bytes(6),
    ...         "open": None})["close"]
    [1.5]
    """
    out: dict[str, list[Any] | None] = {}
    for name in COLUMNS:
        raw = row.get(name)
        dtype = _TIMES if name == "open_time" else _VALUES
        out[name] = None if raw is None else np.frombuffer(raw, dtype).tolist()
    return out
