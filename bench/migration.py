"""How long migrations 0019 (signals and windows into partitions) and 0024 (signals into
closes by key id) take per million rows.

    make services-up && uv run python bench/migration.py [--rows 1000000]

A schema at migration 0018 (the unpartitioned layout) is filled with ``--rows`` 1m
signals of 100 keys over consecutive minutes (about 7 days of a 100-key watch), one in
20 with a 1,440-candle window as the live market stored them, then brought to 0023 and
then to the newest migration; prints each step's time and rate. Run it before moving a
large database: each move copies every row once, in one transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("PGPASSFILE", str(REPO / ".local" / "postgres" / "pgpass"))

from autonama_shared.db import load_migrations, migrate  # noqa: E402
from autonama_shared.db.pool import open_pool  # noqa: E402
from autonama_shared.settings import PostgresSettings  # noqa: E402

KEYS = 100


async def main(rows: int) -> None:
    pg = PostgresSettings(db_schema=f"bench_{uuid.uuid4().hex[:8]}")
    async with open_pool(pg) as pool, pool.acquire() as conn:
        try:
            await migrate(conn, pg.db_schema, [m for m in load_migrations() if m.version <= 18])
            await conn.execute(
                """INSERT INTO signals (symbol, interval, degree, kstd, price_scale, days,
                       last_candle_time, signal, price, lower_band, upper_band, fit, sigma,
                       potential_return, target_return, candles, window_candles,
                       partial_window, origin, engine_version, computed_at)
                   SELECT 'K' || (n % $2) || 'USDT', '1m', 4, 2.0, 'linear', 1,
                          timestamptz '2026-01-01' + (n / $2) * interval '1 minute', 'HOLD',
                          100 + n % 97, 90, 110, 100, 5, 0, 1, 1440, 1440, false, 'bench',
                          '0', now()
                   FROM generate_series(0, $1 - 1) n""",
                rows,
                KEYS,
            )
            await conn.execute(
                """INSERT INTO band_windows (signal_id, candles, open_time, close, fit,
                       lower_band, upper_band)
                   SELECT id, 1440, b, b, b, b, b
                   FROM signals, LATERAL (  -- 11,520 bytes that do not compress, as floats
                       SELECT decode(string_agg(md5(id::text || g), ''), 'hex')
                       FROM generate_series(1, 720) g) x(b)
                   WHERE id % 20 = 0"""
            )
            await conn.execute("VACUUM ANALYZE")
            windows = await conn.fetchval("SELECT count(*) FROM band_windows")
            steps = (
                ("0019-0023 (partitions)", [m for m in load_migrations() if m.version <= 23]),
                ("0024 (closes by key id)", None),
            )
            for name, upto in steps:
                started = time.perf_counter()
                await migrate(conn, pg.db_schema, upto)
                took = time.perf_counter() - started
                moved = await conn.fetchval("SELECT count(*) FROM signals")
                assert moved == rows, moved
                print(
                    f"migrations {name}: {rows:,} signals and {windows:,} windows (1,440 "
                    f"candles) moved in {took:.1f} s: {took / rows * 1e6:.1f} s per million "
                    "signals",
                    flush=True,
                )
        finally:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{pg.db_schema}" CASCADE')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().rows))
