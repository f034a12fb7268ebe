"""The offline results file, ``backtest_results_YYYYMMDD_HHMMSS.json``: model, schema, writer.

``autonama scan`` writes it; the ingestor validates it against the published
JSON Schema (``schemas/backtest_results.schema.json``, generated from these
models by ``make schema``; a test keeps the two equal) before storing it.

Version 2 carries each candle's open, high and low in a symbol's series (so the
offline path draws candlesticks too); version 1 files (closes only) are still read.
Version 3 packs each column of a series (``PackedSeries``): base64 of little-endian 8-byte
numbers instead of a JSON array. A window is most of a file (180 candles x 8 columns a
symbol), and JSON numbers cost the drop folder most of its time and memory: read as
Python floats, a file of 5,000 symbols took 1.0 s and some 500 MB before any was stored;
packed, it is decoded in a fraction of that into arrays the database writer sends as they
are. Versions 1 and 2 (JSON arrays) are still read.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    AwareDatetime,
    BaseModel,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    model_validator,
)

from autonama_shared.engine.candles import check_columns
from autonama_shared.engine.intervals import IntervalName
from autonama_shared.engine.specs import (
    PriceScale,
)
from autonama_shared.errors import DataError
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
    "PackedSeries",
    "ResultsFile",
    "ScanParameters",
    "SymbolResult",
    "generated_schema",
    "pack_series",
    "results_schema",
    "write_results",
]

#: The version this code writes (1 and 2 are still read).
SCHEMA_VERSION: Literal[3] = 3
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


#: How a packed column is written: base64 (RFC 4648, padded) of little-endian 8-byte numbers.
PACKING = "base64-le64"
#: Checked by decoding (strictly), which names the column it refuses; not in the schema as
#: ``contentEncoding``, which a validator may check first and refuse the whole series for,
#: without saying which column or why.
_BASE64 = "base64 of little-endian 8-byte numbers"
_TIMES, _VALUES = np.dtype("<i8"), np.dtype("<f8")


def _column(name: str, text: str, dtype: np.dtype[Any]) -> NDArray[Any]:
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error as e:
        raise ValueError(f"{name} is not base64: {e}") from e
    if len(raw) % 8:
        raise ValueError(f"{name} holds {len(raw)} bytes, not a whole number of 8-byte values")
    return np.frombuffer(raw, dtype=dtype)


class PackedSeries(_Model):
    """A symbol's window with each column packed (version 3): ``open_time`` int64 ms (UTC),
    the others float64, little-endian, base64. In Python:
    ``numpy.frombuffer(base64.b64decode(s), "<f8")`` (``"<i8"`` for the times)."""

    encoding: Literal["base64-le64"] = Field(
        description="base64 of little-endian 8-byte numbers: int64 times, float64 prices."
    )
    open_time: str = Field(description=f"{_BASE64}: open times, ms, UTC.")
    open: str = Field(description=_BASE64)
    high: str = Field(description=_BASE64)
    low: str = Field(description=_BASE64)
    close: str = Field(description=_BASE64)
    fit: str = Field(description=_BASE64)
    lower: str = Field(description=_BASE64)
    upper: str = Field(description=_BASE64)
    _columns: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _decoded(self) -> PackedSeries:
        times = _column("open_time", self.open_time, _TIMES)
        columns: dict[str, NDArray[Any]] = {"open_time": times}
        for name in ("open", "high", "low", "close", "fit", "lower", "upper"):
            values = _column(name, getattr(self, name), _VALUES)
            if values.size != times.size:
                raise ValueError(f"{name} holds {values.size} values, open_time {times.size}")
            if not np.isfinite(values).all():
                raise ValueError(f"{name} holds NaN or infinity")
            columns[name] = values
        try:
            check_columns(times, {c: columns[c] for c in ("open", "high", "low", "close")})
        except DataError as e:
            raise ValueError(str(e)) from e
        self._columns = columns
        return self

    def window(self) -> WindowSeries:
        """The columns as a window, not validated again (they were). Each is a read-only
        array where the model says list: what reads a window (``db.windows.pack``, a chart)
        takes any sequence, and a list of 180 Python floats a column is what packing saves."""
        return WindowSeries.model_construct(**self._columns)


def pack_series(columns: dict[str, Any]) -> PackedSeries:
    """``PackedSeries`` of a window's columns (``series_of``'s names, any sequences)."""
    packed = {
        name: base64.b64encode(
            np.asarray(values, dtype=_TIMES if name == "open_time" else _VALUES).tobytes()
        ).decode("ascii")
        for name, values in columns.items()
    }
    return PackedSeries(encoding=PACKING, **packed)


def _series_kind(value: Any) -> str:
    if isinstance(value, PackedSeries) or (isinstance(value, dict) and "encoding" in value):
        return "packed"
    return "plain"


class SymbolResult(SignalRecord):
    symbol: str = Field(pattern=r"^[A-Z0-9]{1,20}$")
    interval: str
    first_candle_time: AwareDatetime | None
    last_candle_time: AwareDatetime | None = Field(description="Open time of the last candle.")
    series: (
        Annotated[
            Annotated[WindowSeries, Tag("plain")] | Annotated[PackedSeries, Tag("packed")],
            Discriminator(_series_kind),
        ]
        | None
    ) = Field(
        description="The window: open times, closes, fit and bands; open, high and low of "
        "each candle from version 2 on; each column packed from version 3 on."
    )

    def window(self) -> WindowSeries | None:
        """The window, whichever way the file wrote it."""
        if isinstance(self.series, PackedSeries):
            return self.series.window()
        return self.series


class ResultsFile(_Model):
    schema_version: Literal[1, 2, 3] = SCHEMA_VERSION
    engine_version: str
    generated_at: AwareDatetime
    parameters: ScanParameters
    results: list[SymbolResult]

    @model_validator(mode="after")
    def _series_of_its_version(self) -> ResultsFile:
        for r in self.results:
            if r.series is None:
                continue
            if isinstance(r.series, PackedSeries):
                if self.schema_version < 3:
                    raise ValueError(f"{r.symbol}: a packed series needs schema_version 3")
                continue
            if self.schema_version >= 3:
                raise ValueError(
                    f"{r.symbol}: schema_version 3 packs each column of a series "
                    f"(encoding {PACKING})"
                )
            if self.schema_version == 1 and r.series.open is not None:
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
