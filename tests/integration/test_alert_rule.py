"""The alert rule as the database applies it (one set-wise statement, ``db/store.py``) agrees
with the rule stated once in Python (``engine/alerts.py``) on generated histories: batches of
signals of a few keys, with late candles, replays and several closes of one key together."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autonama_shared.engine.alerts import Step, decide
from autonama_shared.messaging.events import SignalComputed
from tests.support.factories import DAY0, make_signal, store

SYMBOLS = ("BTCUSDT", "ETHUSDT")
DEGREES = (3, 4)

#: One signal: (symbol, degree, candle day, signal).
rows = st.tuples(
    st.sampled_from(SYMBOLS),
    st.sampled_from(DEGREES),
    st.integers(min_value=3, max_value=12),
    st.sampled_from(("BUY", "SELL", "HOLD")),
)
#: A batch holds one signal per key and candle (the ingestor de-duplicates a batch first).
batches = st.lists(rows, min_size=1, max_size=6, unique_by=lambda r: (r[0], r[1], r[2]))
histories = st.lists(batches, min_size=1, max_size=6)


def event(symbol: str, degree: int, day: int, signal: str) -> SignalComputed:
    return make_signal(symbol, signal, day, degree=degree)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories)
async def test_the_sql_alert_rule_is_the_python_one(
    pool: asyncpg.Pool, history: list[list[tuple[str, int, int, str]]]
) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE alerts, current_signals, scan_symbols, band_windows, closes, signal_keys "
            "CASCADE"
        )
    stored: set[tuple[str, int, int]] = set()
    current: dict[object, Step] = {}
    expected: list[tuple[str, int, str, str | None, str, object]] = []
    for batch in history:
        await store(pool, *(event(*row) for row in batch))
        new = [
            Step((symbol, degree), DAY0 + timedelta(days=day), signal)
            for symbol, degree, day, signal in batch
            if (symbol, degree, day) not in stored
        ]
        stored.update((s, d, day) for s, d, day, _ in batch)
        alerts, current = decide(current, new)
        expected += [
            (*a.step.key, a.step.signal, a.previous, a.reason, a.step.candle_time)  # type: ignore[misc]
            for a in alerts
        ]

    async with pool.acquire() as conn:
        got = await conn.fetch(
            "SELECT symbol, degree, signal, previous_signal, reason, last_candle_time"
            " FROM alerts ORDER BY id"
        )
        now = await conn.fetch(
            "SELECT symbol, degree, signal, last_candle_time, alert_id IS NOT NULL AS alerted"
            " FROM current_signals"
        )
    assert [tuple(r) for r in got] == expected
    assert {(r["symbol"], r["degree"]): (r["signal"], r["last_candle_time"]) for r in now} == {
        key: (step.signal, step.candle_time) for key, step in current.items()
    }
    # a key's current alert is the one its current BUY or SELL raised; an ended one is none
    assert all(r["alerted"] == (r["signal"] != "HOLD") for r in now)
