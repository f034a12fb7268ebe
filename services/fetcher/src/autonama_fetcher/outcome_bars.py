"""The fetcher's catch-up of the bars that open alert outcomes lack (#28).

A key followed live stores every close with its candle; a key only scanned now and then
does not, and its alerts' outcomes would stop at their first bar. Every
``outcome_bars_seconds`` this asks the database which symbols and intervals lack a bar
that has closed (``db.outcome_bars.wanted``: at most ``outcome_bars_symbols`` a round,
the longest waiting first), fetches their candles as scans do (the candle cache first,
then Binance's klines within the one weight budget of this IP), keeps the bars of the
spans asked for, and deletes the ones no open outcome needs any more. The ingestor's
keeper then scores the outcomes on them (``db.outcomes``).

One replica catches up at a time: the one holding a PostgreSQL session lock (released by
the server when that replica dies).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg

from autonama_fetcher.settings import Settings
from autonama_shared.db.outcome_bars import Wanted, keep, prune, wanted
from autonama_shared.db.pool import classified, open_pool
from autonama_shared.engine.intervals import interval_ms
from autonama_shared.errors import DataError
from autonama_shared.lifecycle import wait_for_any
from autonama_shared.sources.binance import MAX_LIMIT, BinanceSource

__all__ = ["OutcomeBars"]

log = logging.getLogger("autonama.fetcher")


class OutcomeBars:
    def __init__(self, settings: Settings, source: BinanceSource) -> None:
        self.settings = settings
        self.source = source
        # (symbol, interval) -> the exchange's time before which asking again is useless:
        # the bar wanted had not closed, or the exchange had no candle for it
        self._not_before: dict[tuple[str, str], int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Catch up until ``stop`` (raises when a dependency fails: supervise it)."""
        s = self.settings
        async with (
            open_pool(s.postgres, application_name=f"fetcher-{s.replica}-outcomes") as pool,
            pool.acquire() as holder,
        ):
            while not await holder.fetchval(
                "SELECT pg_try_advisory_lock(hashtext(current_schema() || '.outcome-bars'))"
            ):
                await wait_for_any(s.outcome_bars_seconds, stop)
                if stop.is_set():
                    return
            while not stop.is_set():
                await self.round(pool)
                await wait_for_any(s.outcome_bars_seconds, stop)

    async def round(self, pool: asyncpg.Pool) -> int:
        """One round: the bars wanted fetched and kept, those no longer needed deleted;
        how many bars were new."""
        # the exchange's clock says what has closed (the database's may be ahead of it)
        now = await self.source.server_now_ms(max_age=self.settings.outcome_bars_seconds)
        waiting = {k for k, until in self._not_before.items() if now < until}
        self._not_before = {k: self._not_before[k] for k in waiting}
        with classified("PostgreSQL: the outcomes' bars cannot be read"):
            async with pool.acquire() as conn:
                wants = await wanted(conn, self.settings.outcome_bars_symbols, waiting)
        new = 0
        for want in wants:
            step = interval_ms(want.interval)
            start = int(want.start.timestamp() * 1000)
            if now < start + step:
                # not closed on the exchange yet: no request spent on it until it is
                self._not_before[(want.symbol, want.interval)] = start + step
                continue
            bars = await self._bars(want, now)
            if not bars or bars[0][0] != want.start:
                # the exchange has no candle there (yet): not asked again for one interval
                self._not_before[(want.symbol, want.interval)] = now + step
            with classified("PostgreSQL: the outcomes' bars cannot be stored"):
                async with pool.acquire() as conn:
                    new += await keep(conn, want.symbol, want.interval, bars)
        with classified("PostgreSQL: the outcomes' bars cannot be pruned"):
            async with pool.acquire() as conn:
                gone = await prune(conn)
        if new or gone:
            log.info(
                "outcome bars: %d caught up for %d symbol(s), %d let go", new, len(wants), gone
            )
        return new

    async def _bars(
        self, want: Wanted, now: int
    ) -> list[tuple[datetime, float, float, float, float]]:
        """The closed candles of ``want``'s span: what the source has of the newest ones
        back to its start (none when the start is further back than one request reaches,
        or the symbol has no candles any more: its outcomes stay short and are let go)."""
        start = int(want.start.timestamp() * 1000)
        end = int(want.end.timestamp() * 1000)
        step = interval_ms(want.interval)
        count = (now - start) // step + 2
        if count > MAX_LIMIT:
            log.warning(
                "outcome bars: %s %s from %s is more than %d candles back: not caught up",
                want.symbol,
                want.interval,
                want.start.isoformat(),
                MAX_LIMIT,
            )
            return []
        try:
            candles = await self.source.fetch(want.symbol, want.interval, int(count))
        except DataError as e:
            log.warning("outcome bars: %s %s: %s", want.symbol, want.interval, e)
            return []
        out = []
        for t, o, h, low, c in zip(
            candles.open_time.tolist(),
            candles.open.tolist(),
            candles.high.tolist(),
            candles.low.tolist(),
            candles.close.tolist(),
            strict=True,
        ):
            if not start <= t <= end:
                continue
            if not low <= min(o, c) <= max(o, c) <= h:  # not a candle: never stored
                log.warning(
                    "outcome bars: %s %s at %d is not a candle", want.symbol, want.interval, t
                )
                break  # nothing after it either: a gap, as the scorer reads one
            out.append((datetime.fromtimestamp(t / 1000, tz=UTC), o, h, low, c))
        return out
