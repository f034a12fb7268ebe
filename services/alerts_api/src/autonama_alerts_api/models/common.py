"""What the API's bodies share: examples, the universe rule, JSON columns, the problem body."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from autonama_shared.engine.specs import (
    normalise_symbols,
)

__all__ = [
    "ALERT_EXAMPLE",
    "BACKTEST_ID",
    "ONE_UNIVERSE",
    "PNG",
    "SCAN_ID",
    "JsonObject",
    "Problem",
    "SymbolText",
    "json_text",
    "symbols_of",
    "with_examples",
]


#: A universe of symbols or the top N, never both (JSON Schema for the request bodies).
ONE_UNIVERSE: dict[str, Any] = {
    "required": ["symbols", "top"],
    "properties": {"symbols": {"type": "array"}, "top": {"type": "integer"}},
}


SymbolText = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,20}$")]


def json_text(value: Any) -> Any:
    """jsonb columns arrive as text: parse them (other values are left to the model)."""
    return json.loads(value) if isinstance(value, str) else value


def symbols_of(symbols: list[str] | None) -> list[str] | None:
    return list(normalise_symbols(symbols)) if symbols is not None else None


#: The documented 200 of an operation that answers a PNG image.
PNG: dict[str, Any] = {
    "description": "A PNG image drawn by matplotlib",
    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
}


#: A JSON object column (jsonb) of a row.
JsonObject = Annotated[dict[str, Any], BeforeValidator(json_text)]


ALERT_EXAMPLE: dict[str, Any] = {
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


def with_examples(*examples: dict[str, Any]) -> ConfigDict:
    """The model's examples in its JSON Schema (shown by /docs and /redoc)."""
    return ConfigDict(json_schema_extra={"examples": list(examples)})


SCAN_ID = ALERT_EXAMPLE["scan_id"]


BACKTEST_ID = "0d9c5b43-7f1e-4b8e-b0d4-3e1f7a2c9b66"


class Problem(BaseModel):
    model_config = with_examples({"detail": f"scan {SCAN_ID} is not known (yet)"})

    detail: str
