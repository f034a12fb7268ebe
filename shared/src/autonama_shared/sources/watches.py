"""What the live market follows: watches (a universe, intervals, parameter sets), the
default one from the settings, and the plan of streams they make. No network here: the
API and the CLI validate watches with these models; ``sources.live`` follows them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from autonama_shared.engine.intervals import IntervalName
from autonama_shared.engine.specs import (
    MAX_TOP,
    PriceScale,
    normalise_symbols,
)
from autonama_shared.formats.params import Days, Degree, Kstd, Top
from autonama_shared.formats.records import strict_body
from autonama_shared.messaging.events import ScanParams
from autonama_shared.sources.base import CORE_MOVERS

__all__ = [
    "MAX_STREAMS",
    "Key",
    "WatchParams",
    "WatchSettings",
    "WatchSpec",
    "plan_of",
    "scan_id_of",
]

_NAMESPACE = uuid.UUID("6b3c1a52-8f0e-4d7b-9b61-3f2d7c9e4a10")

#: Binance: at most 1,024 streams per connection.
MAX_STREAMS = 1024


class WatchParams(BaseModel):
    """One parameter set followed live."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    degree: Degree = 4
    kstd: Kstd = 2.0
    days: Days = 1
    price_scale: PriceScale = "linear"


class WatchSpec(BaseModel):
    """What to follow live: a universe (symbols, the top N by quote volume, or every TRADING
    USDT pair but the stablecoins' ``all``; default the core movers), intervals and
    parameter sets. A stored watch (``POST /v1/watches``) and the default one alike."""

    model_config = strict_body(
        {"symbols": ["BTCUSDT", "ETHUSDT"], "intervals": ["1m", "1h"]},
        {"top": 100, "intervals": ["1m"], "params": [{"degree": 4, "kstd": 2.0}]},
        {"all": True, "intervals": ["15m"], "params": [{"days": 7}]},
    )

    symbols: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,20}$")]] | None = Field(
        default=None, min_length=1, max_length=1000
    )
    top: Top | None = None
    all: bool = Field(default=False, description="Every TRADING USDT pair but stablecoins.")
    intervals: list[IntervalName] = Field(default=["1m"], min_length=1, max_length=13)
    params: list[WatchParams] = Field(default=[WatchParams()], min_length=1, max_length=20)

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str] | None) -> list[str] | None:
        return list(normalise_symbols(value)) if value is not None else None

    @model_validator(mode="after")
    def _one_universe(self) -> WatchSpec:
        given = [n for n in ("symbols", "top", "all") if getattr(self, n) not in (None, False)]
        if len(given) > 1:
            raise ValueError(f"one universe: {' or '.join(given)}, not both")
        for interval in self.intervals:
            self.scan_params(interval)  # every window within the limits (ConfigError)
        return self

    def scan_params(self, interval: str) -> list[ScanParams]:
        """The parameter sets of ``interval``, validated as a scan's."""
        return [ScanParams(interval=interval, **p.model_dump()) for p in self.params]


class WatchSettings(WatchSpec):
    """The default watch and the live feed's connection settings (``AUTONAMA_WATCH__...``;
    the default watch is off unless ``ENABLED``; stored watches are followed either way)."""

    # Not strict: settings come from environment variables, as text.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    enabled: bool = False
    ws_url: str = Field(
        default="wss://stream.binance.com:9443",
        description="Binance's market-data websocket base URL (or a local stand-in).",
    )
    max_connection_seconds: float = Field(
        default=23.5 * 3600, gt=0, description="Reconnect before Binance's 24 h cut."
    )
    streams_per_connection: int = Field(default=MAX_STREAMS, ge=1, le=MAX_STREAMS)
    poll_seconds: float = Field(
        default=5.0, gt=0, description="How often the stored watches are read again."
    )


Key = tuple[str, str]  # (symbol, interval)


async def plan_of(
    watches: Sequence[WatchSpec], top_symbols: Callable[[int], Awaitable[list[str]]]
) -> dict[Key, list[ScanParams]]:
    """Every (symbol, interval) the watches follow, with its parameter sets (deduplicated)."""
    plan: dict[Key, list[ScanParams]] = {}
    for w in watches:
        if w.symbols is not None:
            symbols = list(w.symbols)
        elif w.top is not None or w.all:
            symbols = await top_symbols(w.top or MAX_TOP)
        else:
            symbols = list(CORE_MOVERS)
        for interval in w.intervals:
            params = w.scan_params(interval)
            for symbol in symbols:
                have = plan.setdefault((symbol, interval), [])
                have.extend(p for p in params if p not in have)
    return plan


def scan_id_of(params: ScanParams) -> str:
    """The stable scan id of a watch's signals for one interval and parameter set."""
    return str(uuid.uuid5(_NAMESPACE, f"watch/{params.model_dump_json()}"))
