"""The API's response and request bodies (documented in the OpenAPI schema, with examples)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from autonama_shared.engine.intervals import IntervalName
from autonama_shared.engine.specs import (
    MAX_DAYS,
    MAX_DEGREE,
    MAX_KSTD,
    MAX_TOP,
    MIN_DAYS,
    MIN_DEGREE,
    MIN_KSTD,
    PriceScale,
    normalise_symbols,
)
from autonama_shared.errors import ConfigError
from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.formats.report import SymbolBacktest
from autonama_shared.messaging.events import (
    BacktestParams,
    BacktestRequested,
    ScanParams,
    ScanRequested,
)

__all__ = [
    "PNG",
    "Alert",
    "AlertPage",
    "Backtest",
    "BacktestAccepted",
    "BacktestRequestBody",
    "BandSeries",
    "Ingestion",
    "MarketPage",
    "MarketRow",
    "Problem",
    "Scan",
    "ScanAccepted",
    "ScanFailure",
    "ScanRequestBody",
    "Summary",
]

#: A universe of symbols or the top N, never both (JSON Schema for the request bodies).
ONE_UNIVERSE: dict[str, Any] = {
    "required": ["symbols", "top"],
    "properties": {"symbols": {"type": "array"}, "top": {"type": "integer"}},
}
SymbolText = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,20}$")]


def _json_text(value: Any) -> Any:
    """jsonb columns arrive as text: parse them (other values are left to the model)."""
    return json.loads(value) if isinstance(value, str) else value


def _symbols(symbols: list[str] | None) -> list[str] | None:
    return list(normalise_symbols(symbols)) if symbols is not None else None


def _as_value_error(build: Callable[[], object]) -> None:
    """Run ``build``; a ``ConfigError`` becomes the ValueError pydantic reports as a 422."""
    try:
        build()
    except ConfigError as e:
        raise ValueError(str(e)) from e


#: The documented 200 of an operation that answers a PNG image.
PNG: dict[str, Any] = {
    "description": "A PNG image drawn by matplotlib",
    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
}
#: A JSON object column (jsonb) of a row.
JsonObject = Annotated[dict[str, Any], BeforeValidator(_json_text)]

_ALERT_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "signal_id": 1207,
    "symbol": "BTCUSDT",
    "interval": "1d",
    "degree": 4,
    "kstd": 2.0,
    "price_scale": "linear",
    "days": 720,
    "signal": "BUY",
    "previous_signal": "HOLD",
    "reason": "changed",
    "price": 52000.0,
    "lower": 53100.5,
    "upper": 71020.3,
    "fit": 62060.4,
    "potential_return": 33.75,
    "target_return": 19.35,
    "last_candle_time": "2026-03-14T00:00:00Z",
    "created_at": "2026-03-15T00:00:07Z",
    "scan_id": "6f0b7c1e-2a4d-4f7a-9a31-0c2b9d7e5a10",
}


class Alert(AlertRecord):
    """A BUY or SELL signal that was new for its symbol, interval and parameters, or the end
    of one: signal HOLD, reason ``ended``, previous_signal the side that ended."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ALERT_EXAMPLE]})


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    """The model's examples in its JSON Schema (shown by /docs and /redoc)."""
    return ConfigDict(json_schema_extra={"examples": list(examples)})


_SCAN_ID = _ALERT_EXAMPLE["scan_id"]
_BACKTEST_ID = "0d9c5b43-7f1e-4b8e-b0d4-3e1f7a2c9b66"


class AlertPage(BaseModel):
    model_config = _examples(
        {"items": [_ALERT_EXAMPLE], "next_cursor": "WyJwb3RlbnRpYWxfcmV0dXJuIiwgMzMuNzUsIDQyXQ"}
    )

    items: list[Alert]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class Summary(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "counts": {"BUY": 3, "SELL": 1},
                    "strongest_buy": _ALERT_EXAMPLE,
                    "strongest_sell": None,
                    "last_scan_id": _ALERT_EXAMPLE["scan_id"],
                    "last_scan_finished_at": "2026-03-15T00:00:09Z",
                    "last_scan_symbols": 100,
                    "failed_symbols": 2,
                }
            ]
        }
    )

    counts: dict[str, int] = Field(description="Current alerts per signal.")
    strongest_buy: Alert | None
    strongest_sell: Alert | None
    last_scan_id: str | None
    last_scan_finished_at: datetime | None
    last_scan_symbols: int | None
    failed_symbols: int | None = Field(description="Symbols the last finished scan failed on.")
    recent_failures: list[ScanFailure] = Field(
        default_factory=list,
        description="Scans that failed as a whole since the last finished one, newest first.",
    )


class ScanFailure(BaseModel):
    model_config = _examples(
        {
            "scan_id": _SCAN_ID,
            "requested_at": "2026-03-15T00:00:01Z",
            "error": "Binance is unreachable: Cannot connect to host api.binance.com:443",
        }
    )

    scan_id: str
    requested_at: datetime
    error: str | None


_MARKET_ROW_EXAMPLE: dict[str, Any] = {
    "signal_id": 1207,
    "symbol": "BTCUSDT",
    "interval": "1d",
    "degree": 4,
    "kstd": 2.0,
    "price_scale": "linear",
    "days": 720,
    "signal": "BUY",
    "price": 52000.0,
    "lower": 53100.5,
    "upper": 71020.3,
    "fit": 62060.4,
    "sigma": 4479.95,
    "band_distance": -0.25,
    "potential_return": 33.75,
    "target_return": 19.35,
    "last_candle_time": "2026-03-14T00:00:00Z",
    "candle_closed_at": "2026-03-15T00:00:00Z",
    "stale_after": "2026-03-17T00:00:00Z",
    "alert_id": 42,
    "closes": [55210.0, 54100.5, 53020.1, 52000.0],
}


class MarketRow(BaseModel):
    """The current signal of one key (symbol, interval, parameters), HOLD included."""

    model_config = _examples(_MARKET_ROW_EXAMPLE)

    signal_id: int = Field(description="Its chart: /v1/signals/{signal_id}/bands.")
    symbol: str
    interval: str
    degree: int
    kstd: float
    price_scale: str
    days: int
    signal: Literal["BUY", "SELL", "HOLD"]
    price: float
    lower: float
    upper: float
    fit: float
    sigma: float
    band_distance: float = Field(
        description="From the price to the nearer band, in sigmas: positive inside the "
        "bands, negative outside (below the lower band for a BUY)."
    )
    potential_return: float = Field(description="Percent between the bands.")
    target_return: float = Field(description="Percent back to the fit line, signed.")
    last_candle_time: datetime = Field(description="Open time of the last closed candle.")
    candle_closed_at: datetime
    stale_after: datetime = Field(
        description="Two intervals after the candle closed: a newer candle should be in by then."
    )
    alert_id: int | None = Field(description="The key's current alert (BUY or SELL), if any.")
    closes: list[float] = Field(description="The window's last closes, oldest first.")


class MarketPage(BaseModel):
    model_config = _examples(
        {
            "items": [_MARKET_ROW_EXAMPLE],
            "keys": 10,
            "counts": {"BUY": 1, "SELL": 0, "HOLD": 9},
            "next_cursor": None,
        }
    )

    items: list[MarketRow]
    keys: int = Field(description="Keys with a current signal, whatever the filters.")
    counts: dict[str, int] = Field(description="Keys per current signal, whatever the filters.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class ScanRequestBody(BaseModel):
    """The same choices as ``autonama scan``: a universe, an interval, a window and bands."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"symbols": ["BTCUSDT", "ETHUSDT"], "interval": "4h", "days": 90}],
            "not": ONE_UNIVERSE,
        },
    )

    symbols: list[SymbolText] | None = Field(default=None, min_length=1, max_length=1000)
    top: int | None = Field(default=None, ge=1, le=MAX_TOP)
    interval: IntervalName = "1d"
    days: int = Field(default=720, ge=MIN_DAYS, le=MAX_DAYS)
    degree: int = Field(default=4, ge=MIN_DEGREE, le=MAX_DEGREE)
    kstd: float = Field(default=2.0, ge=MIN_KSTD, le=MAX_KSTD)
    price_scale: PriceScale = "linear"

    @model_validator(mode="after")
    def _valid(self) -> ScanRequestBody:
        _as_value_error(self.event)  # the one validation, the event's (engine.specs)
        return self

    def event(self) -> ScanRequested:
        """The scan request this body asks for."""
        params = ScanParams(**self.model_dump(exclude={"symbols", "top"}))
        return ScanRequested(
            origin="api", params=params, symbols=_symbols(self.symbols), top=self.top
        )


class ScanAccepted(BaseModel):
    model_config = _examples({"scan_id": _SCAN_ID, "status_url": f"/v1/scans/{_SCAN_ID}"})

    scan_id: str
    status_url: str


class Scan(BaseModel):
    model_config = _examples(
        {
            "scan_id": _SCAN_ID,
            "origin": "api",
            "status": "finished",
            "interval": "1d",
            "days": 720,
            "degree": 4,
            "kstd": 2.0,
            "price_scale": "linear",
            "universe": {"symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"], "top": None},
            "requested_at": "2026-03-15T00:00:01Z",
            "started_at": "2026-03-15T00:00:02Z",
            "finished_at": "2026-03-15T00:00:09Z",
            "symbols_expected": 3,
            "symbols_done": 2,
            "symbols_failed": 1,
            "error": None,
            "failed": [{"symbol": "SOLUSDT", "error": "only 210 candles, the window needs 720"}],
        }
    )

    scan_id: str
    origin: str
    status: Literal["requested", "running", "finished", "failed"]
    interval: str
    days: int
    degree: int
    kstd: float
    price_scale: str
    universe: JsonObject
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    symbols_expected: int | None
    symbols_done: int
    symbols_failed: int
    error: str | None
    failed: list[dict[str, str]] = Field(
        default_factory=list, description="Failed symbols and why (detail view only)."
    )


class Ingestion(BaseModel):
    model_config = _examples(
        {
            "file_name": "backtest_results_20260315_000009.json",
            "sha256": "9f2c1e4b7a0d3c6e8f1a2b5c7d9e0f3a4b6c8d1e2f5a7b9c0d3e6f8a1b4c7d2e",
            "size_bytes": 48213,
            "rows": 10,
            "status": "ingested",
            "error": None,
            "scan_id": _SCAN_ID,
            "ingested_at": "2026-03-15T00:00:11Z",
        }
    )

    file_name: str
    sha256: str
    size_bytes: int
    rows: int
    status: Literal["ingested", "duplicate", "rejected"]
    error: str | None
    scan_id: str | None
    ingested_at: datetime


class BandSeries(BaseModel):
    """The stored window of one signal: candles, fit and bands."""

    model_config = _examples(
        {
            **{k: _MARKET_ROW_EXAMPLE[k] for k in ("signal_id", "symbol", "interval", "degree")},
            **{k: _MARKET_ROW_EXAMPLE[k] for k in ("kstd", "price_scale", "days", "signal")},
            **{k: _MARKET_ROW_EXAMPLE[k] for k in ("price", "fit", "lower", "upper", "sigma")},
            "potential_return": 33.75,
            "target_return": 19.35,
            "last_candle_time": "2026-03-14T00:00:00Z",
            "open_time": [1773360000000, 1773446400000],
            "open": [54100.5, 53020.1],
            "high": [54300.0, 53400.0],
            "low": [52900.0, 51800.0],
            "close": [53020.1, 52000.0],
            "fit_series": [62120.7, 62060.4],
            "lower_series": [53160.8, 53100.5],
            "upper_series": [71080.6, 71020.3],
            "alerts": [_ALERT_EXAMPLE],
        }
    )

    signal_id: int
    symbol: str
    interval: str
    degree: int
    kstd: float
    price_scale: str
    days: int
    signal: Literal["BUY", "SELL", "HOLD"]
    price: float
    fit: float
    lower: float
    upper: float
    sigma: float
    potential_return: float
    target_return: float
    last_candle_time: datetime
    open_time: list[int] = Field(description="Candle open times, ms since the epoch (UTC).")
    open: list[float] | None
    high: list[float] | None
    low: list[float] | None
    close: list[float]
    fit_series: list[float]
    lower_series: list[float]
    upper_series: list[float]
    trail: int = Field(
        0,
        description="How many of the last candles are live closes after the stored window "
        "(a live close is stored without its window): each with the fit and bands its own "
        "fit drew at it, not the window's curve; 0 for a signal's own window.",
    )
    alerts: list[Alert] = Field(description="Alerts of this key within the window.")


class Problem(BaseModel):
    model_config = _examples({"detail": f"scan {_SCAN_ID} is not known (yet)"})

    detail: str


class BacktestRequestBody(BacktestParams):
    """A backtest through the pipeline: the options of ``autonama backtest`` and a universe."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "symbols": ["BTCUSDT"],
                    "degrees": [2, 4, 6],
                    "kstds": [1.5, 2.0],
                    "windows": [365],
                    "split": 0.6,
                }
            ],
            "not": ONE_UNIVERSE,
        },
    )

    symbols: list[SymbolText] | None = Field(default=None, min_length=1, max_length=1000)
    top: int | None = Field(default=None, ge=1, le=MAX_TOP)

    @model_validator(mode="after")
    def _universe(self) -> BacktestRequestBody:
        _as_value_error(self.event)
        return self

    def event(self) -> BacktestRequested:
        """The backtest request this body asks for."""
        params = BacktestParams(**self.model_dump(exclude={"symbols", "top"}))
        return BacktestRequested(
            origin="api", params=params, symbols=_symbols(self.symbols), top=self.top
        )


class Backtest(BaseModel):
    model_config = _examples(
        {
            "backtest_id": _BACKTEST_ID,
            "origin": "api",
            "status": "finished",
            "parameters": {"interval": "1d", "degrees": [2, 4, 6], "kstds": [1.5, 2.0]},
            "universe": {"symbols": ["BTCUSDT"], "top": None},
            "requested_at": "2026-03-15T00:01:00Z",
            "started_at": "2026-03-15T00:01:01Z",
            "finished_at": "2026-03-15T00:01:06Z",
            "symbols_expected": 1,
            "symbols_done": 1,
            "symbols_failed": 0,
            "error": None,
            "results": [],
        }
    )

    backtest_id: str
    origin: str
    status: Literal["requested", "running", "finished", "failed"]
    parameters: JsonObject
    universe: JsonObject
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    symbols_expected: int | None
    symbols_done: int
    symbols_failed: int
    error: str | None
    results: list[SymbolBacktest] = Field(
        default_factory=list, description="Per symbol (detail view only)."
    )


class BacktestAccepted(BaseModel):
    model_config = _examples(
        {"backtest_id": _BACKTEST_ID, "status_url": f"/v1/backtests/{_BACKTEST_ID}"}
    )

    backtest_id: str
    status_url: str
