"""Alert pages encoded from database rows (``alerts_json``) are the bytes pydantic makes of
the same alerts as models: one shape whichever way a page is built."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from autonama_alerts_api.models.alerts import Alert, AlertPage
from autonama_alerts_api.queries.alerts import alerts_json, with_outcome
from autonama_shared.db.outbox import ALERT_COLUMNS
from autonama_shared.db.outcomes import OUTCOME_COLUMNS


def row(i: int, **values: Any) -> dict[str, Any]:
    """An alert row as the API's query gives it (``with_outcome``): the columns of
    ALERT_COLUMNS, in their order, then its outcome (none here)."""
    base: dict[str, Any] = {
        "id": i,
        "signal_id": 2**62 + i,
        "symbol": "BTCUSDT",
        "interval": "1d",
        "degree": 4,
        "kstd": 2.0,
        "price_scale": "log",
        "days": 720,
        "signal": "BUY",
        "previous_signal": None,
        "reason": "new",
        "price": 0.1 + 0.2,
        "lower": 1e-7,
        "upper": 1e22,
        "fit": -0.0,
        "potential_return": 33.75,
        "target_return": -1.5e-300,
        "last_candle_time": datetime(2026, 3, 15, tzinfo=UTC),
        "created_at": datetime(2026, 3, 15, 1, 2, 3, 456789, tzinfo=UTC),
        "scan_id": "0d9c5b43-7f1e-4b8e-b0d4-3e1f7a2c9b66",
    }
    outcome = {f"outcome_{c}": None for c in ["alert_id", *OUTCOME_COLUMNS]}
    return with_outcome(base | outcome | values)


def scored(i: int) -> dict[str, Any]:
    """A row whose alert has an outcome, as the outcome columns come."""
    return with_outcome(
        row(i)
        | {
            "outcome_alert_id": i,
            "outcome_entry_time": datetime(2026, 3, 16, tzinfo=UTC),
            "outcome_entry_price": 0.1 + 0.2,
            "outcome_return_1": -1.5e-300,
            "outcome_return_5": None,
            "outcome_return_20": None,
            "outcome_target_price": 1e22,
            "outcome_target_hit_after": 3,
            "outcome_opposite_band_price": 5e-324,
            "outcome_opposite_band_hit_after": None,
            "outcome_max_adverse": -0.0,
            "outcome_ended_after": 20,
            "outcome_bars_seen": 4,
            "outcome_final": False,
        }
    )


def test_the_columns_are_the_models_fields_in_its_order() -> None:
    names = [c.split(" AS ")[-1].removeprefix("a.") for c in ALERT_COLUMNS.split(", ")]
    assert [*names, "outcome"] == list(Alert.model_fields)


def test_pages_are_the_bytes_of_the_models() -> None:
    rows = [
        row(1),
        row(2, signal="HOLD", previous_signal="SELL", reason="ended", scan_id=None),
        row(3, price=5e-324, lower=1.7976931348623157e308, upper=123456789.125, kstd=1.5),
        row(4, created_at=datetime(2026, 3, 15, 1, 2, 3, tzinfo=UTC), price=1e16, fit=1e15),
        row(5, symbol="ÄBCUSDT", price=2.5e-5, potential_return=0.0, days=1),
        scored(6),
    ]
    models = [Alert.model_validate(r) for r in rows]
    for cursor in (None, "WyJ0aW1lIiwgNS4wLCA1XQ"):
        page = AlertPage(items=models, next_cursor=cursor).model_dump_json().encode()
        assert alerts_json({"items": rows, "next_cursor": cursor}) == page
    assert alerts_json(rows) == TypeAdapter(list[Alert]).dump_json(models)
