"""The offline results file, ``backtest_results_YYYYMMDD_HHMMSS.json``: model, schema, writer.

``autonama scan`` writes it; the ingestor validates it against the published
JSON Schema (``schemas/backtest_results.schema.json``, generated from these
models by ``make schema``; a test keeps the two equal) before storing it.

Version 2 carries each candle's open, high and low in a symbol's series (so the
offline path draws candlesticks too); version 1 files (closes only) are still read.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from autonama_shared.engine.intervals import IntervalName
from autonama_shared.engine.specs import (
    PriceScale,
)
from autonama_shared.formats._files import model_schema, published_schema, write_new
from autonama_shared.formats.params import Days, Degree, Kstd
from autonama_shared.formats.records import (
    STRICT,
    BandSeries,
    SignalRecord,
    WindowSeries,
)

__all__ = [
    "RESULTS_PREFIX",
    "SCHEMA_VERSION",
    "BandSeries",
    "ResultsFile",
    "ScanParameters",
    "SymbolResult",
    "generated_schema",
    "results_schema",
    "write_results",
]

#: The version this code writes (1 is still read).
SCHEMA_VERSION: Literal[2] = 2
RESULTS_PREFIX = "backtest_results_"


class _Model(BaseModel):
    model_config = STRICT


class ScanParameters(_Model):
    interval: IntervalName
    degree: Degree
    kstd: Kstd
    days: Days
    window: int = Field(ge=1, description="Candles in the window: days x candles per day.")
    price_scale: PriceScale
    source: str
    universe: str = Field(description="core, symbols or topN")


class SymbolResult(SignalRecord):
    symbol: str = Field(pattern=r"^[A-Z0-9]{1,20}$")
    interval: str
    first_candle_time: AwareDatetime | None
    last_candle_time: AwareDatetime | None = Field(description="Open time of the last candle.")
    series: WindowSeries | None = Field(
        description="The window: open times, closes, fit and bands; open, high and low of "
        "each candle from version 2 on."
    )


class ResultsFile(_Model):
    schema_version: Literal[1, 2] = SCHEMA_VERSION
    engine_version: str
    generated_at: AwareDatetime
    parameters: ScanParameters
    results: list[SymbolResult]

    @model_validator(mode="after")
    def _candles_need_version_2(self) -> ResultsFile:
        if self.schema_version == 1:
            for r in self.results:
                if r.series is not None and r.series.open is not None:
                    raise ValueError(
                        f"{r.symbol}: open, high and low in a series need schema_version 2"
                    )
        return self


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
