"""Scans and backtests: the request bodies, what is answered, what is recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autonama_alerts_api.models.common import (
    BACKTEST_ID,
    ONE_UNIVERSE,
    SCAN_ID,
    JsonObject,
    SymbolText,
    symbols_of,
    with_examples,
)
from autonama_shared.engine.intervals import IntervalName
from autonama_shared.engine.specs import (
    PriceScale,
)
from autonama_shared.formats.params import Days, Degree, Kstd, Top, checked
from autonama_shared.formats.report import SymbolBacktest
from autonama_shared.messaging.events import (
    BacktestParams,
    BacktestRequested,
    ScanParams,
    ScanRequested,
)

__all__ = [
    "Backtest",
    "BacktestAccepted",
    "BacktestRequestBody",
    "Ingestion",
    "Scan",
    "ScanAccepted",
    "ScanRequestBody",
]


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
    top: Top | None = None
    interval: IntervalName = "1d"
    days: Days = 720
    degree: Degree = 4
    kstd: Kstd = 2.0
    price_scale: PriceScale = "linear"

    @model_validator(mode="after")
    def _valid(self) -> ScanRequestBody:
        checked(self.event)  # the one validation, the event's (engine.specs)
        return self

    def event(self) -> ScanRequested:
        """The scan request this body asks for."""
        return ScanRequested(origin="api", **_request(self, ScanParams))


class ScanAccepted(BaseModel):
    model_config = with_examples({"scan_id": SCAN_ID, "status_url": f"/v1/scans/{SCAN_ID}"})

    scan_id: str
    status_url: str


class _Progress(BaseModel):
    """What a scan and a backtest record of their run, after what each asked for."""

    universe: JsonObject
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    symbols_expected: int | None
    symbols_done: int
    symbols_failed: int
    error: str | None


class _ScanRequest(BaseModel):
    scan_id: str
    origin: str
    status: Literal["requested", "running", "finished", "failed"]
    interval: str
    days: int
    degree: int
    kstd: float
    price_scale: str


class Scan(_Progress, _ScanRequest):
    model_config = with_examples(
        {
            "scan_id": SCAN_ID,
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

    failed: list[dict[str, str]] = Field(
        default_factory=list, description="Failed symbols and why (detail view only)."
    )


class Ingestion(BaseModel):
    model_config = with_examples(
        {
            "file_name": "backtest_results_20260315_000009.json",
            "sha256": "9f2c1e4b7a0d3c6e8f1a2b5c7d9e0f3a4b6c8d1e2f5a7b9c0d3e6f8a1b4c7d2e",
            "size_bytes": 48213,
            "rows": 10,
            "status": "ingested",
            "error": None,
            "scan_id": SCAN_ID,
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
    top: Top | None = None

    @model_validator(mode="after")
    def _universe(self) -> BacktestRequestBody:
        checked(self.event)
        return self

    def event(self) -> BacktestRequested:
        """The backtest request this body asks for."""
        return BacktestRequested(origin="api", **_request(self, BacktestParams))


class _BacktestRequest(BaseModel):
    backtest_id: str
    origin: str
    status: Literal["requested", "running", "finished", "failed"]
    parameters: JsonObject


class Backtest(_Progress, _BacktestRequest):
    model_config = with_examples(
        {
            "backtest_id": BACKTEST_ID,
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

    results: list[SymbolBacktest] = Field(
        default_factory=list, description="Per symbol (detail view only)."
    )


class BacktestAccepted(BaseModel):
    model_config = with_examples(
        {"backtest_id": BACKTEST_ID, "status_url": f"/v1/backtests/{BACKTEST_ID}"}
    )

    backtest_id: str
    status_url: str


def _request(
    body: ScanRequestBody | BacktestRequestBody, params: type[BaseModel]
) -> dict[str, Any]:
    """A request body as its event's fields: its parameters, its universe."""
    return {
        "params": params(**body.model_dump(exclude={"symbols", "top"})),
        "symbols": symbols_of(body.symbols),
        "top": body.top,
    }
