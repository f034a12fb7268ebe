"""Candles from Binance's REST API through python-binance's async client.

- Public market data: no API key needed; a key and secret are optional and
  never printed or logged (``SecretStr``).
- The REST base URL is configurable (testnet, a mirror, a local stand-in).
- The still-open last candle is dropped (by the server's clock, not ours).
- Windows over 1000 candles are paged; with a cache, a re-scan fetches only
  candles newer than the cache.
- Bounded concurrency; the ``X-MBX-USED-WEIGHT-1M`` header is read after every
  response and requests wait for the next minute rather than exceed the
  budget; HTTP 429 and 418 wait ``Retry-After``; 5xx, timeouts and connection
  errors are retried with exponential backoff; a symbol that still fails is a
  ``TemporaryError`` (its scan result carries the error, the scan goes on).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import aiohttp
from binance import AsyncClient
from binance.exceptions import BinanceAPIException, BinanceRequestException

from autonama_shared.engine.candles import Candles
from autonama_shared.engine.intervals import interval_ms
from autonama_shared.errors import DataError, TemporaryError
from autonama_shared.retry import backoff_seconds, retry_after_seconds
from autonama_shared.sources.base import is_stable_pair
from autonama_shared.sources.binance_settings import BinanceSettings

if TYPE_CHECKING:  # the cache (pyarrow) loads only where one is given
    from autonama_shared.sources.cache import KlineCache

__all__ = ["BinanceSettings", "BinanceSource", "WeightBudget"]

log = logging.getLogger(__name__)

MAX_LIMIT = 1000
TOP_CACHE_SECONDS = 24 * 3600


#: Request weights of the endpoints used (Binance's spot REST documentation).
WEIGHT_KLINES = 2
WEIGHT_TIME = 1
WEIGHT_EXCHANGE_INFO = 20
WEIGHT_TICKER_ALL = 80


class WeightBudget:
    """Request weight used in the current minute, against a budget.

    The server's own count (``X-MBX-USED-WEIGHT-1M``, shared with every other
    client on this IP) overrides ours when higher.
    """

    def __init__(
        self,
        limit: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._minute = -1
        self.used = 0
        self._blocked_until = 0.0
        self.waited = 0.0

    def _roll(self, now: float) -> int:
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self.used = minute, 0
        return minute

    async def acquire(self, weight: int) -> None:
        while True:
            now = self._clock()
            minute = self._roll(now)
            if now < self._blocked_until:
                delay = self._blocked_until - now
            elif self.used + weight <= self.limit:
                self.used += weight
                return
            else:
                delay = (minute + 1) * 60 - now + 0.05
                log.info(
                    "Binance weight %d/%d used this minute; waiting %.1f s",
                    self.used,
                    self.limit,
                    delay,
                )
            self.waited += delay
            await self._sleep(delay)

    def observe(self, used: int) -> None:
        self._roll(self._clock())
        self.used = max(self.used, used)

    def block_for(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)


class BinanceSource:
    """Binance spot klines as a ``CandleSource`` (use as ``async with``)."""

    name = "binance"

    def __init__(
        self,
        settings: BinanceSettings,
        *,
        cache: KlineCache | None = None,
        refresh: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.refresh = refresh
        self._clock = clock
        self._sleep = sleep
        self.budget = WeightBudget(settings.max_weight_per_minute, clock, sleep)
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._client: AsyncClient | None = None
        self._offset_ms: int | None = None
        self._offset_at = 0.0
        self.requests = 0

    async def __aenter__(self) -> BinanceSource:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> AsyncClient:
        """The client, made on first use."""
        if self._client is not None:
            return self._client
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._on_response)
        key, secret = self.settings.api_key, self.settings.api_secret
        client = AsyncClient(
            key.get_secret_value() if key else None,
            secret.get_secret_value() if secret else None,
            session_params={
                "timeout": aiohttp.ClientTimeout(total=self.settings.request_timeout),
                "trace_configs": [trace],
            },
        )
        client.API_URL = self.settings.base_url.rstrip("/") + "/api"
        self._client = client
        return client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close_connection()

    async def check_reachable(self) -> None:
        """One ping, no retries: ``TemporaryError`` when the REST API does not answer."""
        client = await self.open()
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                await client.ping()
        except (
            aiohttp.ClientError,
            TimeoutError,
            BinanceAPIException,
            BinanceRequestException,
        ) as e:
            raise TemporaryError(
                f"cannot reach Binance at {self.settings.base_url} ({type(e).__name__}: {e})"
            ) from e

    async def _on_response(
        self, _session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: Any
    ) -> None:
        used = params.response.headers.get("X-MBX-USED-WEIGHT-1M")
        if used is not None and used.isdigit():
            self.budget.observe(int(used))

    # -- requests ------------------------------------------------------------------

    async def _call(self, what: str, weight: int, method: str, **params: Any) -> Any:
        client = await self.open()
        last: Exception | None = None
        for attempt in range(self.settings.max_retries + 1):
            await self.budget.acquire(weight)
            try:
                async with self._semaphore:
                    self.requests += 1
                    return await getattr(client, method)(**params)
            except BinanceAPIException as e:
                last = e
                if e.status_code in (418, 429):
                    told = _retry_after(e)
                    wait = (
                        min(told, self.settings.max_retry_after) if told else self._backoff(attempt)
                    )
                    log.warning(
                        "Binance answered %d to %s; waiting %.1f s as told",
                        e.status_code,
                        what,
                        wait,
                    )
                    self.budget.block_for(wait)
                    continue
                if e.status_code >= 500:
                    await self._sleep(self._backoff(attempt))
                    continue
                raise DataError(f"Binance refused {what}: {e.message} (code {e.code})") from e
            except (aiohttp.ClientError, TimeoutError, BinanceRequestException) as e:
                last = e
                log.warning("%s failed (%s: %s); retrying", what, type(e).__name__, e)
                await self._sleep(self._backoff(attempt))
        raise TemporaryError(
            f"{what} still failing after {self.settings.max_retries + 1} attempts: {last}"
        ) from last

    def _backoff(self, attempt: int) -> float:
        return backoff_seconds(
            attempt + 1, base=self.settings.backoff_base, cap=self.settings.backoff_max
        )

    async def server_now_ms(self, max_age: float = 300.0) -> int:
        """The exchange's clock, re-synchronised when the last look is older than ``max_age``
        seconds (5 minutes; the live feed's catch-up asks for a fresher one: a candle whose
        closing frame just came must count as closed)."""
        if self._offset_ms is None or self._clock() - self._offset_at > max_age:
            answer = await self._call("GET /api/v3/time", WEIGHT_TIME, "get_server_time")
            self._offset_at = self._clock()
            self._offset_ms = int(answer["serverTime"]) - int(self._offset_at * 1000)
        return int(self._clock() * 1000) + self._offset_ms

    async def _klines(self, symbol: str, interval: str, limit: int, **bounds: int) -> list[Any]:
        rows = await self._call(
            f"klines {symbol} {interval}",
            WEIGHT_KLINES,
            "get_klines",
            symbol=symbol,
            interval=interval,
            limit=limit,
            **bounds,
        )
        if not isinstance(rows, list):
            raise DataError(f"Binance sent klines of {symbol} that are not a list")
        return rows

    # -- CandleSource --------------------------------------------------------------

    async def fetch(self, symbol: str, interval: str, candles: int) -> Candles:
        step = interval_ms(interval)
        now = await self.server_now_ms()
        cached = None if self.cache is None or self.refresh else self.cache.load(symbol, interval)
        have = cached.candles if cached else Candles.empty(symbol, interval)
        complete = cached.complete_history if cached else False
        rows: list[Any] = []
        if len(have):
            # Forward from the last cached candle: usually one small request.
            start = int(have.open_time[-1]) + step
            while True:
                expected = max(1, (now - start) // step + 2)
                limit = int(min(MAX_LIMIT, expected))
                page = await self._klines(symbol, interval, limit, startTime=start)
                rows.extend(page)
                if len(page) < limit or not page:
                    break
                start = int(page[-1][0]) + step
        else:
            page = await self._klines(symbol, interval, min(MAX_LIMIT, candles + 1))
            rows.extend(page)
            complete = len(page) < min(MAX_LIMIT, candles + 1)
        merged = have.merge(_closed(symbol, interval, rows, now))
        # Backward from the oldest candle we hold until the window is full.
        while len(merged) < candles and not complete and len(merged):
            limit = min(MAX_LIMIT, candles - len(merged))
            page = await self._klines(symbol, interval, limit, endTime=int(merged.open_time[0]) - 1)
            merged = _closed(symbol, interval, page, now).merge(merged)
            complete = len(page) < limit
        if not len(merged):
            raise DataError(f"Binance has no closed {interval} candles for {symbol}")
        if self.cache is not None and (
            len(merged) != len(have) or complete != (cached.complete_history if cached else False)
        ):
            self.cache.save(merged, complete_history=complete)
        return merged.tail(candles)

    async def top_symbols(self, n: int) -> list[str]:
        cache_name = "top_symbols"
        if self.cache is not None and not self.refresh:
            hit = self.cache.load_json(cache_name)
            if (
                isinstance(hit, dict)
                and self._clock() - float(hit.get("fetched_at", 0)) < TOP_CACHE_SECONDS
                and len(hit.get("symbols", [])) >= n
            ):
                return list(hit["symbols"][:n])
        info = await self._call(
            "GET /api/v3/exchangeInfo", WEIGHT_EXCHANGE_INFO, "get_exchange_info"
        )
        tickers = await self._call("GET /api/v3/ticker/24hr", WEIGHT_TICKER_ALL, "get_ticker")
        trading = {
            s["symbol"]
            for s in info.get("symbols", [])
            if s.get("status") == "TRADING"
            and s.get("quoteAsset") == "USDT"
            and s.get("isSpotTradingAllowed", True)
            and not is_stable_pair(s["symbol"])
        }
        ranked = sorted(
            (
                (float(t.get("quoteVolume", 0)), t["symbol"])
                for t in tickers
                if t.get("symbol") in trading
            ),
            reverse=True,
        )
        symbols = [s for _, s in ranked]
        if self.cache is not None:
            self.cache.save_json(cache_name, {"fetched_at": self._clock(), "symbols": symbols})
        return symbols[:n]


def _retry_after(e: BinanceAPIException) -> float | None:
    headers = getattr(e.response, "headers", None) or {}
    value = headers.get("Retry-After")
    return retry_after_seconds(value if isinstance(value, str) else None)


def _closed(symbol: str, interval: str, rows: list[Any], now_ms: int) -> Candles:
    """Klines whose close time has passed on the server's clock, as Candles."""
    try:
        kept = [
            (float(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]))
            for r in rows
            if int(r[6]) < now_ms
        ]
    except (TypeError, ValueError, IndexError) as e:
        raise DataError(f"Binance sent a malformed kline for {symbol}: {e}") from e
    kept.sort(key=lambda r: r[0])
    dedup = [r for i, r in enumerate(kept) if i == 0 or r[0] != kept[i - 1][0]]
    return Candles.from_rows(symbol, interval, dedup)
