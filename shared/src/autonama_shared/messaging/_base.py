"""What every event shares: the base model, versioning, ids, candle columns.

Private to ``messaging``: import the events from ``autonama_shared.messaging.events``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    model_validator,
)

from autonama_shared.engine.candles import (
    COLUMNS,
    MAX_OPEN_TIME,
    MIN_OPEN_TIME,
    Candles,
    check_columns,
)
from autonama_shared.engine.specs import MAX_HISTORY
from autonama_shared.errors import AutonamaError, DataError
from autonama_shared.formats.records import STRICT

SCHEMA_VERSION = 1

Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}$")]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_scan_id() -> str:
    return str(uuid.uuid4())


class EventDecodeError(AutonamaError):
    """Bytes that are not a known event of a version this code reads: dead-letter them."""


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError as e:
        raise ValueError(f"{value!r} is not a UUID") from e


#: A candle's open time in ms since the epoch, UTC, 2009 .. 2100.
OpenTime = Annotated[int, Field(ge=MIN_OPEN_TIME, le=MAX_OPEN_TIME)]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


#: A moment on the wire: with its offset, read as UTC.
UTCDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

#: An id on the wire: a UUID in its canonical text form.
UUIDText = Annotated[str, Field(max_length=64), AfterValidator(_uuid)]


class _Event(BaseModel):
    model_config = STRICT

    schema_version: int = SCHEMA_VERSION


def _tuple(symbols: list[str] | None) -> tuple[str, ...] | None:
    return tuple(symbols) if symbols is not None else None


class _CandleColumns(_Event):
    """Closed candles as columns, oldest first (empty when ``error`` says why)."""

    open_time: list[OpenTime] = Field(default_factory=list, max_length=MAX_HISTORY)
    open: list[float] = Field(default_factory=list, max_length=MAX_HISTORY)
    high: list[float] = Field(default_factory=list, max_length=MAX_HISTORY)
    low: list[float] = Field(default_factory=list, max_length=MAX_HISTORY)
    close: list[float] = Field(default_factory=list, max_length=MAX_HISTORY)
    volume: list[float] = Field(default_factory=list, max_length=MAX_HISTORY)

    @model_validator(mode="after")
    def _market_data(self) -> _CandleColumns:
        n = len(self.open_time)
        uneven = [c for c in COLUMNS[1:] if len(getattr(self, c)) != n]
        if uneven:
            raise ValueError(f"{', '.join(uneven)} not as long as open_time ({n})")
        try:
            check_columns(
                np.asarray(self.open_time, dtype=np.int64),
                {c: np.asarray(getattr(self, c), dtype=np.float64) for c in COLUMNS[1:]},
            )
        except DataError as e:
            raise ValueError(str(e)) from e
        return self

    def to_candles(self, symbol: str, interval: str) -> Candles:
        """The columns as the engine's candles."""
        return Candles(
            symbol,
            interval,
            np.asarray(self.open_time, dtype=np.int64),
            *(np.asarray(getattr(self, c), dtype=np.float64) for c in COLUMNS[1:]),
        )

    @staticmethod
    def columns_of(candles: Candles | None) -> dict[str, list[Any]]:
        """The event's columns of ``candles`` (none when there are none)."""
        return {} if candles is None else {c: getattr(candles, c).tolist() for c in COLUMNS}
