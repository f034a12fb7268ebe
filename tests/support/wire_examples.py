"""One of each event, as the pipeline publishes it, with fixed ids and times: the recorded
wire bytes of ``tests/unit/recorded/events.jsonl`` are these, encoded by the code of
before the house-keeping of issue 25. ``python -m tests.support.wire_examples`` prints them
(to record them again after a deliberate change of the wire format)."""

from __future__ import annotations

from datetime import UTC, datetime

from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.messaging import events as ev
from autonama_shared.runs.backtest import failed
from tests.support.factories import live_close, make_signal

T = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
SCAN = "3f2b8c1e-4d5a-4e6f-9a7b-1c2d3e4f5a6b"
BACKTEST = "0d9c5b43-7f1e-4b8e-b0d4-3e1f7a2c9b66"
PARAMS = ev.ScanParams(interval="1d", days=30, degree=4, kstd=2.0)
COLUMNS = {
    "open_time": [1_773_446_400_000, 1_773_532_800_000],
    "open": [100.0, 101.5],
    "high": [102.0, 103.25],
    "low": [99.5, 100.75],
    "close": [101.5, 102.0],
    "volume": [1234.5, 987.25],
}


def examples() -> list[ev._Event]:
    request = ev.ScanRequested(
        scan_id=SCAN, requested_at=T, origin="api", params=PARAMS, symbols=["BTCUSDT"]
    )
    backtest = ev.BacktestRequested(
        backtest_id=BACKTEST,
        requested_at=T,
        params=ev.BacktestParams(interval="1d", degrees=[2, 4], kstds=[1.5, 2.0], windows=[30]),
        symbols=["ETHUSDT"],
    )
    signal = make_signal("BTCUSDT", "BUY", 72, scan_id=SCAN).model_copy(update={"computed_at": T})
    alert = AlertRecord(
        id=7,
        signal_id=42,
        symbol="BTCUSDT",
        interval="1d",
        degree=4,
        kstd=2.0,
        price_scale="linear",
        days=720,
        signal="BUY",
        previous_signal=None,
        reason="new",
        price=172.0,
        lower=154.8,
        upper=189.2,
        fit=180.6,
        potential_return=22.22,
        target_return=5.0,
        last_candle_time=T,
        created_at=T,
        scan_id=SCAN,
    )
    return [
        request,
        ev.ScanPlanned(scan_id=SCAN, planned_at=T, request=request, symbols=["BTCUSDT"], window=30),
        ev.KlineBatch(
            scan_id=SCAN, symbol="BTCUSDT", params=PARAMS, window=30, fetched_at=T, **COLUMNS
        ),
        ev.KlineBatch(
            scan_id=SCAN,
            symbol="DOGEUSDT",
            params=PARAMS,
            window=30,
            fetched_at=T,
            error="HTTP 503",
        ),
        ev.CandleClosed(
            symbol="SOLUSDT",
            interval="1m",
            params=[PARAMS.model_copy(update={"interval": "1m", "days": 1})],
            closed_at=T,
            **{k: v[1:] for k, v in COLUMNS.items()},
            before=ev._CandleColumns(**{k: v[:1] for k, v in COLUMNS.items()}),
        ),
        signal,
        live_close(signal),
        ev.ScanFinished(scan_id=SCAN, finished_at=T, symbols_done=9, symbols_failed=1),
        backtest,
        ev.BacktestPlanned(
            backtest_id=BACKTEST, planned_at=T, request=backtest, symbols=["ETHUSDT"]
        ),
        ev.BacktestKlines(
            backtest_id=BACKTEST, symbol="ETHUSDT", params=backtest.params, **COLUMNS
        ),
        ev.BacktestComputed(
            backtest_id=BACKTEST,
            symbol="ETHUSDT",
            computed_at=T,
            engine_version="1.0.0",
            result=failed("ETHUSDT", "not enough candles: 12 of 31").row,
        ),
        ev.AlertRaised(**alert.model_dump()),
        ev.AlertEnded(
            **alert.model_dump()
            | {"id": 8, "signal": "HOLD", "previous_signal": "BUY", "reason": "ended"}
        ),
        ev.DeadLetter(
            service="ingestor",
            failed_at=T,
            topic="autonama.signals",
            partition=3,
            offset=1207,
            error="EventDecodeError: not JSON",
            key_b64="QlRDVVNEVA==",
            value_b64="bm90IGpzb24=",
        ),
    ]


if __name__ == "__main__":
    for event in examples():
        print(ev.encode(event).decode())
