"""The offline results file, ``backtest_results_YYYYMMDD_HHMMSS.json``: model, schema, writer.

``autonama scan`` writes it; the ingestor validates it against the published
JSON Schema (``schemas/backtest_results.schema.json``, generated from these
models by ``make schema``; a test keeps the two equal) before storing it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from autonama_shared import __version__
from autonama_shared._files import model_schema, published_schema, write_new
from autonama_shared.bands import MAX_DEGREE, MAX_KSTD, MIN_DEGREE, MIN_KSTD, PriceScale, Signal
from autonama_shared.scan import MAX_DAYS, MIN_DAYS, ScanReport

__all__ = [
    "RESULTS_PREFIX",
    "SCHEMA_VERSION",
    "BandSeries",
    "ResultsFile",
    "ScanParameters",
    "SymbolResult",
    "from_report",
    "generated_schema",
    "results_schema",
    "write_results",
]

SCHEMA_VERSION: Literal[1] = 1
RESULTS_PREFIX = "backtest_results_"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScanParameters(_Model):
    interval: str
    degree: int = Field(ge=MIN_DEGREE, le=MAX_DEGREE)
    kstd: float = Field(ge=MIN_KSTD, le=MAX_KSTD)
    days: int = Field(ge=MIN_DAYS, le=MAX_DAYS)
    window: int = Field(ge=1, description="Candles in the window: days x candles per day.")
    price_scale: PriceScale
    source: str
    universe: str = Field(description="core, symbols or topN")


class BandSeries(_Model):
    """The fitted window: one entry per closed candle, oldest first (times in ms, UTC)."""

    open_time: list[int]
    close: list[float]
    fit: list[float]
    lower: list[float]
    upper: list[float]


class SymbolResult(_Model):
    symbol: str = Field(pattern=r"^[A-Z0-9]{1,20}$")
    interval: str
    signal: Signal
    price: float | None = Field(gt=0)
    lower: float | None
    upper: float | None
    fit: float | None
    sigma: float | None = Field(ge=0, description="Residual std, in price or ln-price units.")
    potential_return: float = Field(description="Percent, between the bands (0 for HOLD).")
    target_return: float | None = Field(description="Percent, back to the fit line, signed.")
    candles: int = Field(ge=0)
    first_candle_time: AwareDatetime | None
    last_candle_time: AwareDatetime | None = Field(description="Open time of the last candle.")
    partial_window: bool
    error: str | None
    series: BandSeries | None


class ResultsFile(_Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    engine_version: str
    generated_at: AwareDatetime
    parameters: ScanParameters
    results: list[SymbolResult]


def _utc(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def from_report(report: ScanReport) -> ResultsFile:
    spec = report.spec
    results = []
    for item in report.items:
        r, c = item.result, item.candles
        series = None
        if r.bands is not None and c is not None:
            window = c.tail(r.candles)
            series = BandSeries(
                open_time=window.open_time.tolist(),
                close=window.close.tolist(),
                fit=np.asarray(r.bands.fit).tolist(),
                lower=np.asarray(r.bands.lower).tolist(),
                upper=np.asarray(r.bands.upper).tolist(),
            )
        window_candles = c.tail(r.candles) if c is not None and r.candles else None
        results.append(
            SymbolResult(
                symbol=item.symbol,
                interval=item.interval,
                signal=r.signal,
                price=r.price,
                lower=r.lower,
                upper=r.upper,
                fit=r.fit,
                sigma=r.sigma,
                potential_return=r.potential_return,
                target_return=r.target_return,
                candles=r.candles,
                first_candle_time=_utc(window_candles.first_open_time) if window_candles else None,
                last_candle_time=_utc(window_candles.last_open_time) if window_candles else None,
                partial_window=r.partial_window,
                error=r.error,
                series=series,
            )
        )
    return ResultsFile(
        engine_version=__version__,
        generated_at=report.finished_at,
        parameters=ScanParameters(
            interval=spec.interval,
            degree=spec.params.degree,
            kstd=spec.params.kstd,
            days=spec.days,
            window=spec.window,
            price_scale=spec.params.price_scale,
            source=report.source,
            universe=spec.universe,
        ),
        results=results,
    )


def write_results(results: ResultsFile, folder: Path) -> Path:
    """Write ``backtest_results_YYYYMMDD_HHMMSS.json`` (UTC) atomically; return its path.

    The file appears under its final name only when complete, so a watcher
    never reads half a file; an existing file is never overwritten.
    """
    stamp = results.generated_at.astimezone(UTC).strftime("%Y%m%d_%H%M%S")
    return write_new(folder, f"{RESULTS_PREFIX}{stamp}", results.model_dump_json())


def results_schema() -> dict[str, Any]:
    """The published JSON Schema of the results file."""
    return published_schema("backtest_results")


def generated_schema() -> dict[str, Any]:
    """The schema as the models define it now (``make schema`` writes it to the package)."""
    return model_schema(ResultsFile, "backtest_results")
