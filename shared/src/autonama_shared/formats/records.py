"""One shape for a signal and its band series, from the engine to the wire, the file and the table.

``SignalRecord`` holds the numbers of one signal under the engine's own names
(``engine.bands.SignalResult``); the results file's ``SymbolResult`` and the
``SignalComputed`` event extend it with where they come from, and the
database writer reads them by the same names. ``BandSeries`` is the fitted
window of the results file (times as integer milliseconds, UTC); the event's
``WindowSeries`` adds the candles' open, high and low, and ``LastCandle`` is
the last one alone (what a live signal without its window carries). ``record_of``,
``series_of`` and ``last_candle_of`` are the only places a ``SignalResult``
becomes a record.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autonama_shared.engine.bands import Signal, SignalResult
from autonama_shared.engine.candles import Candles, check_columns
from autonama_shared.errors import DataError

__all__ = [
    "RECORD_FIELDS",
    "STRICT",
    "BandSeries",
    "LastCandle",
    "SignalRecord",
    "WindowSeries",
    "describe",
    "last_candle_of",
    "record_of",
    "series_of",
    "strict_body",
]


#: Every model on the wire or in a file: immutable, no unknown fields, no NaN or Infinity.
STRICT = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def strict_body(*examples: dict[str, Any]) -> ConfigDict:
    """What a person sends (a subscription, a watch): immutable, no unknown fields, no
    coercion (0 is not false, ``"10"`` not a number: the API's clients get told, not
    guessed), with its examples for the JSON Schema."""
    return ConfigDict(
        frozen=True, extra="forbid", strict=True, json_schema_extra={"examples": list(examples)}
    )


class _Model(BaseModel):
    model_config = STRICT


class SignalRecord(_Model):
    """The numbers of one signal at the last closed candle of its window."""

    signal: Signal
    price: float | None = Field(gt=0)
    lower: float | None
    upper: float | None
    fit: float | None
    sigma: float | None = Field(ge=0, description="Residual std, in price or ln-price units.")
    potential_return: float = Field(description="Percent, between the bands (0 for HOLD).")
    target_return: float | None = Field(description="Percent, back to the fit line, signed.")
    candles: int = Field(ge=0)
    partial_window: bool
    error: str | None

    @model_validator(mode="after")
    def _complete(self) -> SignalRecord:
        if self.signal != "HOLD":
            missing = [
                name
                for name in ("price", "lower", "upper", "fit", "sigma", "target_return")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"a {self.signal} signal needs {', '.join(missing)}")
        return self


#: The names a ``SignalResult`` shares with ``SignalRecord``.
RECORD_FIELDS = tuple(SignalRecord.model_fields)


def describe(e: ValidationError, most: int = 3) -> str:
    """A validation error in a line a person can read: where, and what is wrong.

    >>> try:
    ...     BandSeries(open_time=[1], close=[], fit=[], lower=[], upper=[])
    ... except ValidationError as e:
    ...     print(describe(e))
    1 error: (model): Value error, close, fit, lower, upper not as long as open_time (1)
    """
    parts = [
        f"{'.'.join(str(x) for x in err['loc']) or '(model)'}: {err['msg']}"
        for err in e.errors(include_url=False, include_input=False)[:most]
    ]
    more = e.error_count() - len(parts)
    count = f"{e.error_count()} error{'s' if e.error_count() != 1 else ''}"
    return f"{count}: " + "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def record_of(result: SignalResult) -> dict[str, Any]:
    """The record's fields of an engine result, to build any ``SignalRecord`` subclass.

    >>> from autonama_shared.engine.bands import error_result
    >>> record_of(error_result("too few candles", 3, 720))["error"]
    'too few candles'
    """
    return {name: getattr(result, name) for name in RECORD_FIELDS}


class BandSeries(_Model):
    """The fitted window: one entry per closed candle, oldest first (times in ms, UTC)."""

    open_time: list[int]
    close: list[float]
    fit: list[float]
    lower: list[float]
    upper: list[float]

    @model_validator(mode="after")
    def _aligned(self) -> BandSeries:
        n = len(self.open_time)
        uneven = [k for k, v in self if isinstance(v, list) and len(v) != n]
        if uneven:
            raise ValueError(f"{', '.join(uneven)} not as long as open_time ({n})")
        try:
            times = np.asarray(self.open_time, dtype=np.int64)
        except OverflowError as e:
            raise ValueError("open_time holds a number beyond any time in ms") from e
        try:
            check_columns(times, {"close": np.asarray(self.close, dtype=np.float64)})
        except DataError as e:
            raise ValueError(str(e)) from e
        return self


class WindowSeries(BandSeries):
    """The fitted window with the candles' open, high and low (absent from results files)."""

    open: list[float] | None = None
    high: list[float] | None = None
    low: list[float] | None = None


class LastCandle(_Model):
    """The last closed candle of a signal's window (its close is the signal's price)."""

    open: float = Field(ge=0)
    high: float = Field(ge=0)
    low: float = Field(ge=0)


def last_candle_of(result: SignalResult, candles: Candles | None) -> dict[str, float] | None:
    """The open, high and low of the candle ``result`` was computed at (the last of its
    window), or None without one (an error, no candles)."""
    if result.error is not None or candles is None or not len(candles) or result.candles < 1:
        return None
    return {
        "open": float(candles.open[-1]),
        "high": float(candles.high[-1]),
        "low": float(candles.low[-1]),
    }


def series_of(
    result: SignalResult, candles: Candles | None, *, with_ohlc: bool
) -> dict[str, list[Any]] | None:
    """The window behind ``result`` (its last ``result.candles`` candles) with its bands, or
    None when there are no bands. ``with_ohlc`` adds open, high and low (``WindowSeries``)."""
    if result.bands is None or candles is None:
        return None
    window = candles.tail(result.candles)
    columns = ("open", "high", "low", "close") if with_ohlc else ("close",)
    return {
        "open_time": window.open_time.tolist(),
        **{c: getattr(window, c).tolist() for c in columns},
        "fit": np.asarray(result.bands.fit).tolist(),
        "lower": np.asarray(result.bands.lower).tolist(),
        "upper": np.asarray(result.bands.upper).tolist(),
    }
