"""Writing the pipeline's results to PostgreSQL: batched, idempotent, one transaction per batch.

Signals go through a staging table filled by COPY, then one
``INSERT ... SELECT ... ON CONFLICT`` on the signal key, so a signal delivered
twice is one row; each batch is de-duplicated first (``ON CONFLICT`` cannot
touch one row twice in one statement). Scan progress is kept per symbol in
``scan_symbols`` (idempotent too), and a scan is finished once every symbol
of its plan is in.

Callers run these inside a transaction and commit their Kafka offsets only
after it commits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from asyncpg import Connection
from asyncpg.pool import PoolConnectionProxy

from autonama_shared.messaging.events import ScanPlanned, ScanRequested, SignalComputed

__all__ = [
    "FinishedScan",
    "alerts_channel",
    "notify_state",
    "raise_alerts",
    "record_plan",
    "record_request",
    "recount",
    "state_channel",
    "store_signals",
    "universe_json",
    "update_current",
    "update_progress",
]

Conn = Connection | PoolConnectionProxy

_SIGNAL_COLUMNS = (
    "symbol",
    "interval",
    "degree",
    "kstd",
    "price_scale",
    "days",
    "last_candle_time",
    "signal",
    "price",
    "lower_band",
    "upper_band",
    "fit",
    "sigma",
    "potential_return",
    "target_return",
    "candles",
    "window_candles",
    "partial_window",
    "scan_id",
    "origin",
    "engine_version",
    "computed_at",
)
_KEY_COLUMNS = ("symbol", "interval", "degree", "kstd", "price_scale", "days", "last_candle_time")
_KEY = ", ".join(_KEY_COLUMNS)


def universe_json(symbols: Sequence[str] | None, top: int | None) -> str:
    """How a request chose its symbols, for the ``universe`` column.

    >>> universe_json(None, 10), universe_json(["BTCUSDT"], None), universe_json(None, None)
    ('{"top": 10}', '{"symbols": ["BTCUSDT"]}', '{"core": true}')
    """
    if top is not None:
        return json.dumps({"top": top})
    if symbols is not None:
        return json.dumps({"symbols": list(symbols)})
    return json.dumps({"core": True})


async def record_request(conn: Conn, request: ScanRequested) -> None:
    """A scan as requested (status ``requested``); a second call changes nothing."""
    p = request.params
    await conn.execute(
        """INSERT INTO scans (scan_id, origin, interval, days, degree, kstd, price_scale,
                              universe, schedule, requested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)
           ON CONFLICT (scan_id) DO NOTHING""",
        uuid.UUID(request.scan_id),
        request.origin,
        p.interval,
        p.days,
        p.degree,
        p.kstd,
        p.price_scale,
        universe_json(request.symbols, request.top),
        request.schedule,
        request.requested_at,
    )


async def record_plan(conn: Conn, plan: ScanPlanned) -> None:
    """The fetcher's plan: the symbols to expect. The scan becomes ``running`` (or ``failed``)."""
    error = plan.error
    await record_request(conn, plan.request)
    await conn.execute(
        """UPDATE scans SET started_at = COALESCE(started_at, $2),
                            symbols_expected = $3, window_candles = $4,
                            status = CASE WHEN $5::text IS NOT NULL THEN 'failed'
                                          WHEN status = 'requested' THEN 'running'
                                          ELSE status END,
                            error = COALESCE($5, error),
                            finished_at = CASE WHEN $5::text IS NOT NULL THEN $2
                                               ELSE finished_at END
           WHERE scan_id = $1""",
        uuid.UUID(plan.scan_id),
        plan.planned_at,
        len(plan.symbols),
        plan.window,
        error,
    )


async def store_signals(conn: Conn, events: Sequence[SignalComputed], origin: str) -> int:
    """Store signals and per-symbol outcomes; return how many signal rows are new."""
    if not events:
        return 0
    good: dict[tuple[object, ...], SignalComputed] = {}
    for e in events:
        if e.error is None and e.last_candle_time is not None:
            p = e.params
            good[
                (e.symbol, p.interval, p.degree, p.kstd, p.price_scale, p.days, e.last_candle_time)
            ] = e
    uuids = {s: uuid.UUID(s) for s in {e.scan_id for e in events}}
    inserted: dict[tuple[str, str], int] = {}  # (scan_id, symbol) -> signal id
    fresh: set[int] = set()  # BUY and SELL signal ids inserted now
    stored_now: list[int] = []  # every signal id inserted now, HOLD included
    new_rows = 0
    if good:
        await conn.execute(
            f"""CREATE TEMP TABLE IF NOT EXISTS signals_staging ON COMMIT DELETE ROWS AS
                SELECT 0 AS seq, {", ".join(_SIGNAL_COLUMNS)} FROM signals WITH NO DATA"""  # noqa: S608
        )
        batch = list(good.values())
        records = [
            (
                seq,
                e.symbol,
                e.params.interval,
                e.params.degree,
                e.params.kstd,
                e.params.price_scale,
                e.params.days,
                e.last_candle_time,
                e.signal,
                e.price,
                e.lower,
                e.upper,
                e.fit,
                e.sigma,
                e.potential_return,
                e.target_return,
                e.candles,
                e.window,
                e.partial_window,
                uuids[e.scan_id],
                origin,
                e.engine_version,
                e.computed_at,
            )
            for seq, e in enumerate(batch)
        ]
        await conn.copy_records_to_table(
            "signals_staging", records=records, columns=["seq", *_SIGNAL_COLUMNS]
        )
        cols = ", ".join(_SIGNAL_COLUMNS)
        # Only the staging position, the id and whether the row is new come back:
        # far less to decode than the key columns of every row.
        rows = await conn.fetch(
            f"""WITH stored AS (
                    INSERT INTO signals ({cols})
                    SELECT {cols} FROM signals_staging
                    ON CONFLICT ({_KEY}) DO UPDATE SET symbol = EXCLUDED.symbol
                    RETURNING id, {_KEY}, (xmax = 0) AS inserted)
                SELECT st.seq, stored.id, stored.inserted
                FROM stored JOIN signals_staging st USING ({_KEY})"""  # noqa: S608
        )
        series = []
        for row in rows:
            event = batch[row["seq"]]
            inserted[(event.scan_id, event.symbol)] = row["id"]
            if row["inserted"]:
                new_rows += 1
                stored_now.append(row["id"])
                if event.signal != "HOLD":
                    fresh.add(row["id"])
                s = event.series
                if s:
                    series.append(
                        (
                            row["id"],
                            s.open_time,
                            s.open,
                            s.high,
                            s.low,
                            s.close,
                            s.fit,
                            s.lower,
                            s.upper,
                        )
                    )
        if series:
            await conn.copy_records_to_table(
                "band_series",
                records=series,
                columns=[
                    "signal_id",
                    "open_time",
                    "open",
                    "high",
                    "low",
                    "close",
                    "fit",
                    "lower_band",
                    "upper_band",
                ],
            )
    outcomes = {}
    for e in events:
        signal_id = inserted.get((e.scan_id, e.symbol))
        status = "failed" if e.error is not None or signal_id is None else "done"
        outcomes[(e.scan_id, e.symbol)] = (uuids[e.scan_id], e.symbol, status, signal_id, e.error)
    new_ids = [i for i in inserted.values() if i in fresh]
    if new_ids:
        await raise_alerts(conn, new_ids)
    if stored_now:
        await update_current(conn, stored_now)
        await notify_state(conn)
    columns = list(zip(*outcomes.values(), strict=True))
    await conn.execute(
        """INSERT INTO scan_symbols (scan_id, symbol, status, signal_id, error)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[])
           ON CONFLICT (scan_id, symbol) DO NOTHING""",
        *columns,
    )
    return new_rows


def state_channel(schema: str) -> str:
    """The NOTIFY channel of a change of ``schema``'s current state (current_signals,
    finished scans) that raised no alert; no payload. Readers that cache pages listen."""
    return f"{schema}_state"


async def notify_state(conn: Conn) -> None:
    """Tell listeners (after commit: NOTIFY is transactional) that the current state changed."""
    await conn.execute("SELECT pg_notify(current_schema() || '_state', '')")


def alerts_channel(schema: str) -> str:
    """The NOTIFY channel of ``schema``'s new alerts (payload: the highest new alert id)."""
    return f"{schema}_alerts"


async def raise_alerts(conn: Conn, signal_ids: Sequence[int]) -> int:
    """Alerts for newly stored signals that are BUY or SELL and the newest of their key.

    Serialised by an advisory lock so alert ids commit in order; listeners are
    told after commit (NOTIFY is transactional). Returns how many were raised.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('autonama.alerts'))")
    row = await conn.fetchrow(
        """WITH raised AS (
               INSERT INTO alerts (signal_id, symbol, interval, degree, kstd, price_scale, days,
                                   signal, previous_signal, reason, price, lower_band,
                                   upper_band, fit, potential_return, target_return,
                                   last_candle_time, scan_id)
               SELECT s.id, s.symbol, s.interval, s.degree, s.kstd, s.price_scale, s.days,
                      s.signal, prev.signal,
                      CASE WHEN prev.signal IS NULL THEN 'new'
                           WHEN prev.signal = s.signal THEN 'confirmed'
                           ELSE 'changed' END,
                      s.price, s.lower_band, s.upper_band, s.fit, s.potential_return,
                      s.target_return, s.last_candle_time, s.scan_id
               FROM signals s
               LEFT JOIN LATERAL (
                   SELECT p.signal FROM signals p
                   WHERE (p.symbol, p.interval, p.degree, p.kstd, p.price_scale, p.days)
                       = (s.symbol, s.interval, s.degree, s.kstd, s.price_scale, s.days)
                     AND p.last_candle_time < s.last_candle_time
                   ORDER BY p.last_candle_time DESC LIMIT 1) prev ON true
               WHERE s.id = ANY($1::bigint[])
                 AND s.signal IN ('BUY', 'SELL')
                 AND NOT EXISTS (
                     SELECT 1 FROM signals n
                     WHERE (n.symbol, n.interval, n.degree, n.kstd, n.price_scale, n.days)
                         = (s.symbol, s.interval, s.degree, s.kstd, s.price_scale, s.days)
                       AND n.last_candle_time > s.last_candle_time)
               ORDER BY s.id
               ON CONFLICT (signal_id) DO NOTHING
               RETURNING id)
           SELECT max(id) AS top, count(*) AS raised FROM raised""",
        list(signal_ids),
    )
    if row is None or row["top"] is None:
        return 0
    schema = await conn.fetchval("SELECT current_schema()")
    await conn.execute("SELECT pg_notify($1, $2)", alerts_channel(schema), str(row["top"]))
    raised: int = row["raised"]
    return raised


async def update_current(conn: Conn, signal_ids: Sequence[int]) -> None:
    """Make newly stored signals their key's current signal where their candle is newer
    than the key's current one (an older candle, arriving late, changes nothing), with the
    alert each raised. Called after ``raise_alerts`` in the same transaction."""
    await conn.execute(
        """INSERT INTO current_signals AS c
               (symbol, interval, degree, kstd, price_scale, days, signal_id, signal, price,
                lower_band, upper_band, fit, sigma, potential_return, target_return,
                last_candle_time, alert_id, updated_at)
           SELECT DISTINCT ON (s.symbol, s.interval, s.degree, s.kstd, s.price_scale, s.days)
                  s.symbol, s.interval, s.degree, s.kstd, s.price_scale, s.days, s.id,
                  s.signal, s.price, s.lower_band, s.upper_band, s.fit, s.sigma,
                  s.potential_return, s.target_return, s.last_candle_time, a.id, now()
           FROM signals s LEFT JOIN alerts a ON a.signal_id = s.id
           WHERE s.id = ANY($1::bigint[])
           ORDER BY s.symbol, s.interval, s.degree, s.kstd, s.price_scale, s.days,
                    s.last_candle_time DESC, s.id DESC
           ON CONFLICT (symbol, interval, degree, kstd, price_scale, days) DO UPDATE
           SET signal_id = EXCLUDED.signal_id, signal = EXCLUDED.signal,
               price = EXCLUDED.price, lower_band = EXCLUDED.lower_band,
               upper_band = EXCLUDED.upper_band, fit = EXCLUDED.fit, sigma = EXCLUDED.sigma,
               potential_return = EXCLUDED.potential_return,
               target_return = EXCLUDED.target_return,
               last_candle_time = EXCLUDED.last_candle_time, alert_id = EXCLUDED.alert_id,
               updated_at = EXCLUDED.updated_at
           WHERE c.last_candle_time < EXCLUDED.last_candle_time""",
        list(signal_ids),
    )


@dataclass(frozen=True)
class FinishedScan:
    scan_id: str
    symbols_done: int
    symbols_failed: int
    finished_at: datetime


async def recount(
    conn: Conn, table: str, key: str, parts: str, ids: Sequence[str]
) -> list[asyncpg.Record]:
    """Recount the done and failed parts (rows of ``parts``) of the open rows of ``table``
    whose ``key`` is in ``ids``; a row whose every planned symbol is in becomes finished.

    Returns the recounted rows; ``finished`` is true for those that finished now (only open
    rows are updated). ``table``, ``key`` and ``parts`` are this module's constants.
    """
    if not ids:
        return []
    done_now = "t.symbols_expected IS NOT NULL AND c.done + c.failed >= t.symbols_expected"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""WITH counts AS (
               SELECT t.{key},
                      count(p.symbol) FILTER (WHERE p.status = 'done') AS done,
                      count(p.symbol) FILTER (WHERE p.status = 'failed') AS failed
               FROM {table} t LEFT JOIN {parts} p USING ({key})
               WHERE t.{key} = ANY($1::uuid[])
               GROUP BY t.{key})
           UPDATE {table} t
              SET symbols_done = c.done, symbols_failed = c.failed,
                  status = CASE WHEN {done_now} AND t.status = 'running'
                                THEN 'finished' ELSE t.status END,
                  finished_at = CASE WHEN {done_now} AND t.status = 'running'
                                     THEN now() ELSE t.finished_at END
             FROM counts c
            WHERE t.{key} = c.{key} AND t.status IN ('requested', 'running')
        RETURNING t.{key} AS id, t.symbols_done, t.symbols_failed, t.finished_at,
                  t.status = 'finished' AS finished""",  # noqa: S608 - constants only
        [uuid.UUID(i) for i in set(ids)],
    )
    return rows


async def update_progress(conn: Conn, scan_ids: Sequence[str]) -> list[FinishedScan]:
    """Recount the given scans; return those that finished now (every planned symbol in)."""
    rows = await recount(conn, "scans", "scan_id", "scan_symbols", scan_ids)
    finished = [
        FinishedScan(str(r["id"]), r["symbols_done"], r["symbols_failed"], r["finished_at"])
        for r in rows
        if r["finished"]
    ]
    if finished:
        await notify_state(conn)  # the summary names the last finished scan
    return finished
