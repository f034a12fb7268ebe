"""BinanceSource through the real python-binance client against the local Binance stand-in."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from autonama_shared.engine.specs import ScanSpec
from autonama_shared.errors import DataError, TemporaryError
from autonama_shared.runs.scan import run_scan
from autonama_shared.sources.binance import BinanceSettings, BinanceSource
from autonama_shared.sources.cache import KlineCache
from tests.support.binance_standin import Fault, StandIn

MAJORS = [
    "ADAUSDT",
    "AVAXUSDT",
    "BNBUSDT",
    "BTCUSDT",
    "DOGEUSDT",
    "ETHUSDT",
    "LINKUSDT",
    "LTCUSDT",
    "SOLUSDT",
    "XRPUSDT",
]
DAY = 86_400_000


def settings(standin: StandIn, **kw: object) -> BinanceSettings:
    base: dict[str, object] = {"base_url": standin.url, "backoff_base": 0.01, "max_retries": 3}
    return BinanceSettings(**{**base, **kw})  # type: ignore[arg-type]


def closed_rows(standin: StandIn, symbol: str, interval: str) -> np.ndarray:
    rows = standin.klines[(symbol, interval)]
    step = 86_400_000 if interval == "1d" else 14_400_000
    return rows[rows[:, 0] + step <= standin.now_ms]


async def test_cold_scan_of_the_majors_then_incremental_rescan(
    standin: StandIn, tmp_path: Path
) -> None:
    cache = KlineCache(tmp_path, "binance")
    async with BinanceSource(settings(standin), cache=cache) as source:
        for symbol in MAJORS:
            candles = await source.fetch(symbol, "1d", 720)
            expected = closed_rows(standin, symbol, "1d")[-720:]
            assert_array_equal(candles.open_time, expected[:, 0].astype(np.int64))
            assert_array_equal(candles.close, expected[:, 4])
            # The still-open candle that the stand-in served last is not in the result.
            assert candles.last_close_time is not None
            assert candles.last_close_time < standin.now_ms
    cold = len(standin.klines_requests())
    assert cold == len(MAJORS)  # 721 candles fit in one page each

    # A day later: one small request per symbol, for the new candles only.
    standin.advance(DAY)
    standin.requests.clear()
    async with BinanceSource(settings(standin), cache=cache) as source:
        for symbol in MAJORS:
            candles = await source.fetch(symbol, "1d", 720)
            expected = closed_rows(standin, symbol, "1d")[-720:]
            assert_array_equal(candles.close, expected[:, 4])
    again = standin.klines_requests()
    assert len(again) == len(MAJORS)
    assert all(int(r.params["limit"]) <= 3 and "startTime" in r.params for r in again)


async def test_long_windows_are_paged(standin: StandIn, tmp_path: Path) -> None:
    """720 days of 4h candles: 4320 candles, five pages of at most 1000."""
    async with BinanceSource(settings(standin), cache=KlineCache(tmp_path, "binance")) as source:
        candles = await source.fetch("ETHUSDT", "4h", 4320)
    expected = closed_rows(standin, "ETHUSDT", "4h")[-4320:]
    assert len(candles) == 4320
    assert_array_equal(candles.close, expected[:, 4])
    pages = standin.klines_requests("ETHUSDT")
    assert len(pages) == 5
    assert all(int(p.params["limit"]) <= 1000 for p in pages)


async def test_newly_listed_symbol_returns_what_exists(standin: StandIn, tmp_path: Path) -> None:
    rows = standin.klines[("BTCUSDT", "1d")][-100:]
    standin.klines[("NEWUSDT", "1d")] = rows
    cache = KlineCache(tmp_path, "binance")
    async with BinanceSource(settings(standin), cache=cache) as source:
        candles = await source.fetch("NEWUSDT", "1d", 720)
    assert len(candles) == len(closed_rows(standin, "NEWUSDT", "1d"))
    assert cache.load("NEWUSDT", "1d").complete_history


async def test_429_and_418_wait_as_told_and_finish(standin: StandIn) -> None:
    standin.faults.append(Fault("/api/v3/klines", 429, retry_after=1, count=2, symbol="BTCUSDT"))
    standin.faults.append(Fault("/api/v3/klines", 418, retry_after=1, count=1, symbol="ETHUSDT"))
    started = time.monotonic()
    async with BinanceSource(settings(standin)) as source:
        btc = await source.fetch("BTCUSDT", "1d", 100)
        eth = await source.fetch("ETHUSDT", "1d", 100)
    assert len(btc) == 100
    assert len(eth) == 100
    btc_calls = standin.klines_requests("BTCUSDT")
    assert [r.status for r in btc_calls] == [429, 429, 200]
    # Each retry came at least Retry-After (1 s) after the refusal.
    assert btc_calls[1].at - btc_calls[0].at >= 0.95
    assert btc_calls[2].at - btc_calls[1].at >= 0.95
    eth_calls = standin.klines_requests("ETHUSDT")
    assert [r.status for r in eth_calls] == [418, 200]
    assert eth_calls[1].at - eth_calls[0].at >= 0.95
    assert time.monotonic() - started >= 2.9


async def test_a_retry_after_of_days_waits_at_most_the_configured_bound(standin: StandIn) -> None:
    """An answer that asks for 11 days (a ban, or a garbled header) waits max_retry_after,
    then asks again: it does not stall every request for as long as it says."""
    standin.faults.append(
        Fault("/api/v3/klines", 429, retry_after=999_999, count=1, symbol="BTCUSDT")
    )
    async with BinanceSource(settings(standin, max_retry_after=1.0)) as source:
        btc = await asyncio.wait_for(source.fetch("BTCUSDT", "1d", 100), timeout=30)
    assert len(btc) == 100
    calls = standin.klines_requests("BTCUSDT")
    assert [r.status for r in calls] == [429, 200]
    assert 0.95 <= calls[1].at - calls[0].at < 10


async def test_5xx_and_timeouts_are_retried(standin: StandIn) -> None:
    standin.faults.append(Fault("/api/v3/klines", 503, count=2, symbol="SOLUSDT"))
    standin.faults.append(Fault("/api/v3/klines", 0, count=1, symbol="XRPUSDT"))
    standin.hang_seconds = 3.0
    async with BinanceSource(settings(standin, request_timeout=1.0)) as source:
        sol = await source.fetch("SOLUSDT", "1d", 50)
        xrp = await source.fetch("XRPUSDT", "1d", 50)
    assert len(sol) == 50
    assert len(xrp) == 50
    assert [r.status for r in standin.klines_requests("SOLUSDT")] == [503, 503, 200]


async def test_a_symbol_that_keeps_failing_is_a_temporary_error(standin: StandIn) -> None:
    standin.faults.append(Fault("/api/v3/klines", 500, count=100, symbol="ADAUSDT"))
    async with BinanceSource(settings(standin, max_retries=2)) as source:
        with pytest.raises(TemporaryError, match="klines ADAUSDT 1d still failing after 3"):
            await source.fetch("ADAUSDT", "1d", 50)
        # Another symbol is unaffected.
        assert len(await source.fetch("BTCUSDT", "1d", 50)) == 50


async def test_unknown_symbol_is_a_data_error(standin: StandIn) -> None:
    async with BinanceSource(settings(standin)) as source:
        with pytest.raises(DataError, match="Invalid symbol"):
            await source.fetch("NOSUCHUSDT", "1d", 50)


async def test_used_weight_header_makes_requests_wait_for_the_next_minute(
    standin: StandIn,
) -> None:
    """The server says other clients used most of the minute's weight: we wait, not exceed."""
    clock = {"now": 1_000_000 * 60 + 30.0}  # half past a minute, simulated
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock["now"] += seconds

    standin.used_weight_floor = 4999
    source = BinanceSource(
        settings(standin, max_weight_per_minute=5000), clock=lambda: clock["now"], sleep=fake_sleep
    )
    async with source:
        await source.fetch("BTCUSDT", "1d", 30)  # learns 4999 from the header
        standin.used_weight_floor = 0
        await source.fetch("ETHUSDT", "1d", 30)
    assert slept
    assert 29.0 <= slept[0] <= 30.1  # until the next minute began


async def test_top_symbols_by_volume_without_stable_or_halted_pairs(
    standin: StandIn, tmp_path: Path
) -> None:
    cache = KlineCache(tmp_path, "binance")
    async with BinanceSource(settings(standin), cache=cache) as source:
        top = await source.top_symbols(5)
    assert "USDCUSDT" not in top
    assert "FDUSDUSDT" not in top
    assert "HALTUSDT" not in top
    served = {t["symbol"]: float(t["quoteVolume"]) for t in standin._tickers()}
    expected = sorted(MAJORS, key=lambda s: -served[s])[:5]
    assert top == expected
    # Cached for 24 hours: a second call asks the exchange nothing.
    standin.requests.clear()
    async with BinanceSource(settings(standin), cache=cache) as source:
        assert await source.top_symbols(5) == top
    assert standin.requests == []
    # --refresh asks again.
    async with BinanceSource(settings(standin), cache=cache, refresh=True) as source:
        assert await source.top_symbols(5) == top
    assert [r.path for r in standin.requests] == ["/api/v3/exchangeInfo", "/api/v3/ticker/24hr"]


async def test_corrupt_cache_file_is_refetched(standin: StandIn, tmp_path: Path) -> None:
    cache = KlineCache(tmp_path, "binance")
    async with BinanceSource(settings(standin), cache=cache) as source:
        first = await source.fetch("BTCUSDT", "1d", 200)
    path = tmp_path / "binance" / "1d" / "BTCUSDT.parquet"
    path.write_bytes(b"not parquet at all")
    async with BinanceSource(settings(standin), cache=cache) as source:
        again = await source.fetch("BTCUSDT", "1d", 200)
    assert_array_equal(first.close, again.close)
    assert cache.load("BTCUSDT", "1d").candles.close.size >= 200


async def test_concurrency_is_bounded(standin: StandIn) -> None:
    standin.latency_seconds = 0.05
    spec = ScanSpec(interval="1d", days=100, symbols=tuple(MAJORS))
    async with BinanceSource(settings(standin, max_concurrency=3)) as source:
        report = await run_scan(source, spec, concurrency=10)
    assert all(i.result.error is None for i in report.items)
    assert standin.max_in_flight == 3


async def test_a_scan_without_symbols_covers_btc_eth_and_sol(standin: StandIn) -> None:
    async with BinanceSource(settings(standin)) as source:
        report = await run_scan(source, ScanSpec(interval="1d", days=100))
    assert [i.symbol for i in report.items] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert sorted(r.params["symbol"] for r in standin.klines_requests()) == [
        "BTCUSDT",
        "ETHUSDT",
        "SOLUSDT",
    ]
