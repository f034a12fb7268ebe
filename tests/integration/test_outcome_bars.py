"""Outcomes of alerts whose keys are not followed live: the fetcher catches up their bars
(#28), on the real broker and database, through the Binance stand-in's REST klines."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from autonama_shared.settings import KafkaSettings, PostgresSettings
from tests.support.binance_standin import StandIn, default_now, serve
from tests.support.stack import Stack

DAY = 86_400_000


@pytest.mark.slow
async def test_a_scanned_keys_outcomes_are_scored_on_bars_the_fetcher_catches_up(
    daily_2022_klines: dict[tuple[str, str], np.ndarray],
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    tmp_path: Path,
) -> None:
    """A scan a month before the candles end (the stand-in's clock there): its BUY and SELL
    alerts are scored on nothing while their next bar has not closed, though the stand-in
    holds it. Its clock moved 25 days on, the fetcher fetches the bars the open outcomes
    lack and the keeper scores them: each outcome equals one computed here from the real
    candles, and the bars are deleted once no open outcome needs them."""
    fake = StandIn(dict(daily_2022_klines), default_now(daily_2022_klines) - 30 * DAY)
    with serve(fake):
        stack = Stack(kafka_settings, pg_settings, tmp_path, fake.url)
        try:
            stack.start("ingestor", AUTONAMA_INGESTOR_OUTCOMES_SECONDS="0.3")
            stack.start("analyzer")
            stack.start("fetcher", AUTONAMA_FETCHER_OUTCOME_BARS_SECONDS="0.3")
            symbols = sorted(s for s, _ in daily_2022_klines)
            # narrow bands (a month, a line, one sigma): some keys outside them
            scan_id = await stack.request(symbols, kstd=1.0, days=30, degree=2)
            await stack.wait_for_scan(scan_id)
            conn = await stack.connect()
            try:
                query = """SELECT a.id, a.symbol, a.signal, a.fit, a.lower_band, a.upper_band,
                                  a.last_candle_time, o.*
                           FROM alerts a JOIN alert_outcomes o ON o.alert_id = a.id
                           WHERE a.signal IN ('BUY', 'SELL') ORDER BY a.id"""
                expected = await conn.fetchval(
                    "SELECT count(*) FROM alerts WHERE signal IN ('BUY', 'SELL')"
                )
                assert expected > 0, "no alert to score"
                for _ in range(100):  # admitted by the keeper
                    rows = await conn.fetch(query)
                    if len(rows) == expected:
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.5)  # several rounds of the fetcher and the keeper
                rows = await conn.fetch(query)
                # the next bar is in the stand-in, but not closed on its clock: nothing
                assert [(r["bars_seen"], r["entry_price"]) for r in rows] == [(0, None)] * expected
                assert await conn.fetchval("SELECT count(*) FROM outcome_bars") == 0

                fake.advance(25 * DAY)
                for _ in range(300):
                    rows = await conn.fetch(query)
                    if all(r["final"] for r in rows):
                        break
                    await asyncio.sleep(0.1)
                assert all(r["final"] for r in rows), (
                    [(r["symbol"], r["bars_seen"]) for r in rows],
                    stack.services[2].log()[-3000:],  # the fetcher's
                )
                for r in rows:
                    outcome_equals_the_candles(r, daily_2022_klines[(r["symbol"], "1d")])
                # within the weight budget: the scan's requests, then one a symbol caught up
                spent = {sym: len(fake.klines_requests(sym)) for sym in symbols}
                assert max(spent.values()) <= 3, spent
                for _ in range(100):  # no open outcome needs a bar any more
                    if await conn.fetchval("SELECT count(*) FROM outcome_bars") == 0:
                        break
                    await asyncio.sleep(0.1)
                assert await conn.fetchval("SELECT count(*) FROM outcome_bars") == 0
            finally:
                await conn.close()
        finally:
            stack.stop_all()


def outcome_equals_the_candles(r: object, candles: np.ndarray) -> None:
    """The stored outcome against the rules computed again with numpy from the candles."""
    row = dict(r)  # type: ignore[call-overload]
    t = int(row["last_candle_time"].timestamp() * 1000)
    i = int(np.searchsorted(candles[:, 0], t))
    after = candles[i + 1 : i + 21]
    assert len(after) == 20
    opens, highs, lows, closes = after[:, 1], after[:, 2], after[:, 3], after[:, 4]
    buy = row["signal"] == "BUY"
    sign = 1.0 if buy else -1.0
    entry = opens[0]
    assert row["entry_price"] == entry
    for h in (1, 5, 20):
        want = sign * (closes[h - 1] - entry) / entry * 100
        np.testing.assert_allclose(row[f"return_{h}"], want, rtol=1e-9, atol=1e-12)
    reach = highs >= row["fit"] if buy else lows <= row["fit"]
    hit = int(np.argmax(reach)) + 1 if reach.any() else None
    assert row["target_hit_after"] == hit
    opposite = row["upper_band"] if buy else row["lower_band"]
    reach_opposite = highs >= opposite if buy else lows <= opposite
    assert row["opposite_band_hit_after"] == (
        int(np.argmax(reach_opposite)) + 1 if reach_opposite.any() else None
    )
    span = slice(0, hit or 20)
    worst = lows[span].min() if buy else highs[span].max()
    np.testing.assert_allclose(
        row["max_adverse"], min(0.0, sign * (worst - entry) / entry * 100), rtol=1e-9, atol=1e-12
    )
    assert row["ended_after"] is None  # never scanned again: no ended alert
