"""Alert outcomes in PostgreSQL (#28; the rules in ``engine/outcomes.py``).

The bars of an alert are its key's own stored closes (each with its candle's open, high
and low), read at the candle times t + k steps (k = 1..20, the store's own step,
``autonama_interval_step``), or where the key stored none, the candle the fetcher caught
up for it (``outcome_bars``, migration 0027): a time with neither is a gap, and nothing
after a gap is scored (never an estimate). So a key followed live has every bar from its
closes; a key only scanned now and then has its bars once the fetcher caught them up.

The ingestor keeps ``alert_outcomes`` (migration 0025) up to date (``keep``): each round
admits the new BUY and SELL alerts (an empty outcome row each, past a position as the
alert relay keeps one), scores again the open outcomes whose key closed a bar (or had one
caught up) since and writes those that changed, and then lets go of those whose bars will
not come: their key 40 bars past them, or nothing of them changed for 40 bars' time. Its
reads are of the open outcomes only (a partial index), however many alerts the table
holds. Scoring the same bars again gives the same numbers, so a replay or a restart
changes nothing. An outcome is final at 20 bars and is kept after its closes are pruned.
The API reads one no longer scored (final or let go) from the table and scores an open one
on the spot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import astuple, fields
from datetime import datetime
from typing import Any

import asyncpg

from autonama_shared.db.channels import notify_state
from autonama_shared.db.keys import key_columns
from autonama_shared.db.pool import CUSTOM_PLANS, Conn
from autonama_shared.engine.outcomes import FINAL_BARS, Bar, Outcome, TrackRecord, score
from autonama_shared.formats.keys import KEY_FIELDS
from autonama_shared.lifecycle import wait_or_stop

__all__ = [
    "OUTCOME_COLUMNS",
    "TRACK_SAMPLE",
    "NotScored",
    "admit_since",
    "alert_outcome",
    "keep",
    "score_alerts",
    "track_records",
    "update",
]

log = logging.getLogger(__name__)

#: The stored columns of an outcome, in ``Outcome``'s order but its signal.
OUTCOME_COLUMNS = tuple(f.name for f in fields(Outcome) if f.name != "signal")


class NotScored(ValueError):
    """The alert is not one that is scored: an ended alert (HOLD)."""


#: For each alert of $1: the alert, and each of the 20 bars after it (null where its key
#: stored none), with whether the key's alert at that bar ended it.
_BARS = f"""
WITH a AS (
    SELECT a.id, a.signal, a.fit, a.lower_band, a.upper_band, a.last_candle_time AS t,
           {key_columns("a")}, e.ended_at
    FROM alerts a
    -- the first of the key's alerts in its 20 bars that ended it: one index range
    -- (alerts_key_time) an alert. As an EXISTS per bar the planner hashed every ended
    -- alert ever raised, every round, and alerts are never pruned: a read that grew for
    -- as long as the stack ran.
    CROSS JOIN LATERAL (
        SELECT min(e.last_candle_time) AS ended_at FROM alerts e
        WHERE ({key_columns("e")}) = ({key_columns("a")})
          AND e.last_candle_time > a.last_candle_time
          AND e.last_candle_time <= a.last_candle_time
              + {FINAL_BARS} * autonama_interval_step(a.interval)
          AND e.reason = 'ended') e
    WHERE a.id = ANY($1::bigint[])),
k AS (
    SELECT a.id, k.id AS key_id FROM a
    JOIN signal_keys k ON ({key_columns("k")}) = ({key_columns("a")}))
SELECT a.id, a.signal, a.fit, a.lower_band, a.upper_band, g.n, x.at,
       o.candle_open, o.candle_high, o.candle_low, o.price,
       b.open AS bar_open, b.high AS bar_high, b.low AS bar_low, b.close AS bar_close,
       x.at = a.ended_at AS ended
FROM a
CROSS JOIN generate_series(1, {FINAL_BARS}) AS g (n)
CROSS JOIN LATERAL (SELECT a.t + g.n * autonama_interval_step(a.interval) AS at) x
LEFT JOIN k USING (id)
-- each bar looked up by its key, interval and time (LATERAL: an index probe per bar; as a
-- plain join the planner hashed the whole closes table, every round: 0.4 s at day 10 of
-- bench/longrun.py, growing with the history kept)
LEFT JOIN LATERAL (
    SELECT c.candle_open, c.candle_high, c.candle_low, c.price FROM closes c
    WHERE c.key_id = k.key_id AND c.interval = a.interval AND c.last_candle_time = x.at
    LIMIT 1  -- (unique anyway) keeps the planner from flattening it into that hash join
) o ON true
LEFT JOIN LATERAL (
    SELECT b.open, b.high, b.low, b.close FROM outcome_bars b
    WHERE (b.symbol, b.interval, b.open_time) = (a.symbol, a.interval, x.at)
    LIMIT 1
) b ON true
ORDER BY a.id, g.n
"""  # noqa: S608 - constants only


async def score_alerts(conn: Conn | asyncpg.Pool, ids: Sequence[int]) -> dict[int, Outcome | None]:
    """The outcome so far of each alert of ``ids`` that exists: None for an ended one."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as acquired:
            return await score_alerts(acquired, ids)
    async with conn.transaction():
        await conn.execute(CUSTOM_PLANS)  # the bars' read: see CUSTOM_PLANS
        rows = await conn.fetch(_BARS, list(ids))
    by_alert: dict[int, list[asyncpg.Record]] = {}
    for r in rows:
        by_alert.setdefault(r["id"], []).append(r)
    out: dict[int, Outcome | None] = {}
    for alert_id, bars_of in by_alert.items():
        first = bars_of[0]
        if first["signal"] not in ("BUY", "SELL"):
            out[alert_id] = None
            continue
        bars: list[Bar] = []
        for r in bars_of:  # in order, up to the first gap
            candle = (r["candle_open"], r["candle_high"], r["candle_low"], r["price"])
            if any(v is None for v in candle):  # no close with its candle: one caught up?
                candle = (r["bar_open"], r["bar_high"], r["bar_low"], r["bar_close"])
            if any(v is None for v in candle):
                break
            bars.append(Bar(r["at"], *candle))
        ended = next((r["n"] for r in bars_of if r["ended"]), None)
        out[alert_id] = score(
            first["signal"], first["fit"], first["lower_band"], first["upper_band"], bars, ended
        )
    return out


async def alert_outcome(pool: asyncpg.Pool, alert_id: int) -> Outcome | None:
    """Alert ``alert_id``'s outcome: the stored one when it is no longer scored (final, or
    let go: its bars will not come, and those caught up are deleted), else scored now from
    the bars; None if there is no such alert; raises ``NotScored`` for an ended alert."""
    stored = await pool.fetchrow(
        f"""SELECT a.signal, {", ".join(f"o.{c}" for c in OUTCOME_COLUMNS)}
            FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id
            WHERE o.alert_id = $1 AND NOT o.open""",  # noqa: S608 - constants only
        alert_id,
    )
    if stored is not None:
        return Outcome(*stored)
    scored = await score_alerts(pool, [alert_id])
    if alert_id not in scored:
        return None
    outcome = scored[alert_id]
    if outcome is None:
        raise NotScored(f"alert {alert_id} is an ended alert (HOLD): only BUY and SELL are scored")
    return outcome


#: The keeper's position: the last alert admitted (the row lock makes two keepers, of two
#: ingestors, take turns).
_POSITION = "SELECT last_id FROM outbox_positions WHERE name = 'outcomes' FOR UPDATE"

#: The new alerts admitted, $1 at a time after position $2: each BUY or SELL alert gets its
#: (empty) outcome row, and the position moves past them. Returns the new position. The
#: position is read first, by ``_POSITION``, and given as a value: the index range of
#: alerts_pkey after it, in any plan. (Read in the same statement, joined to its row, the
#: generic plan that PostgreSQL keeps for a statement after five runs read every alert ever
#: raised in id order, every round: 39 ms a round at 100,000 alerts, and alerts are never
#: pruned.)
_ADMIT = """
WITH next AS (
    SELECT a.id, a.signal, a.fit, a.lower_band, a.upper_band FROM alerts a
    WHERE a.id > $2 ORDER BY a.id LIMIT $1),
admitted AS (
    INSERT INTO alert_outcomes (alert_id, target_price, opposite_band_price, bars_seen, final)
    SELECT id, fit, CASE WHEN signal = 'BUY' THEN upper_band ELSE lower_band END, 0, false
    FROM next WHERE signal IN ('BUY', 'SELL')
    ON CONFLICT DO NOTHING)
UPDATE outbox_positions SET last_id = (SELECT max(id) FROM next)
WHERE name = 'outcomes' AND EXISTS (SELECT 1 FROM next)
RETURNING last_id
"""

#: The open outcomes whose key has closed a candle after the last bar they saw, or whose
#: next bar the fetcher caught up (nothing new, nothing to score), $1 at a time after
#: alert $2.
_MOVED = f"""
SELECT o.alert_id FROM alert_outcomes o
JOIN alerts a ON a.id = o.alert_id
JOIN current_signals cs ON ({key_columns("cs")}) = ({key_columns("a")})
WHERE o.open AND o.alert_id > $2
  AND (cs.last_candle_time > a.last_candle_time
           + o.bars_seen * autonama_interval_step(a.interval)
       OR EXISTS (SELECT 1 FROM outcome_bars b
                  WHERE (b.symbol, b.interval) = (a.symbol, a.interval)
                    AND b.open_time = a.last_candle_time
                        + (o.bars_seen + 1) * autonama_interval_step(a.interval)))
ORDER BY o.alert_id
LIMIT $1
"""  # noqa: S608 - constants only

#: Let go of the open outcomes that will not move any more: their key is 40 bars past the
#: alert (a gap in their first 20 bars will not be filled), or nothing of them changed for
#: 40 bars' time (a key never scanned again whose bars the fetcher cannot catch up: a
#: symbol delisted, the fetcher's catch-up off), so that open outcomes do not pile up.
_LET_GO = f"""
UPDATE alert_outcomes o SET open = false, updated_at = now()
FROM alerts a, current_signals cs
WHERE o.open AND a.id = o.alert_id AND ({key_columns("cs")}) = ({key_columns("a")})
  AND (cs.last_candle_time > a.last_candle_time
           + {2 * FINAL_BARS} * autonama_interval_step(a.interval)
       OR o.updated_at < now() - {2 * FINAL_BARS} * autonama_interval_step(a.interval))
"""  # noqa: S608 - constants only

#: Write the outcomes given (arrays by column) where changed; a final one is closed.
_UPSERT = f"""
INSERT INTO alert_outcomes AS s (alert_id, {", ".join(OUTCOME_COLUMNS)}, open)
SELECT *, NOT final FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::float8[],
                     $5::float8[], $6::float8[], $7::float8[], $8::smallint[], $9::float8[],
                     $10::smallint[], $11::float8[], $12::smallint[], $13::smallint[],
                     $14::boolean[]) AS u (alert_id, {", ".join(OUTCOME_COLUMNS)})
ON CONFLICT (alert_id) DO UPDATE
SET ({", ".join(OUTCOME_COLUMNS)}, open, updated_at)
  = ({", ".join(f"EXCLUDED.{c}" for c in OUTCOME_COLUMNS)}, EXCLUDED.open, now())
WHERE ({", ".join(f"s.{c}" for c in OUTCOME_COLUMNS)})
      IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in OUTCOME_COLUMNS)})
"""  # noqa: S608 - constants only


async def admit_since(conn: Conn, since: datetime) -> int:
    """Have the keeper score the BUY and SELL alerts raised since ``since`` that it never
    admitted (those raised before migration 0025, which started it at the newest alert):
    its position goes back to just before the first of them, and its next rounds admit and
    score them (an alert it has already admitted is left as it is). Returns how many it
    will admit."""
    first = await conn.fetchval("SELECT min(id) FROM alerts WHERE created_at >= $1", since)
    if first is None:
        return 0
    async with conn.transaction():
        await conn.execute(
            """UPDATE outbox_positions SET last_id = least(last_id, $1::bigint - 1)
               WHERE name = 'outcomes'""",
            first,
        )
        count: int = await conn.fetchval(
            """SELECT count(*) FROM alerts a
               WHERE a.id >= $1 AND a.signal IN ('BUY', 'SELL')
                 AND NOT EXISTS (SELECT 1 FROM alert_outcomes o WHERE o.alert_id = a.id)""",
            first,
        )
    return count


async def update(pool: asyncpg.Pool, batch: int = 1000) -> int:
    """One round of the keeper: the new alerts admitted, every open outcome whose key
    closed a bar since scored again (those that changed written), those long past let go;
    how many outcomes moved."""
    async with pool.acquire() as conn:
        while True:
            async with conn.transaction():
                position = await conn.fetchval(_POSITION)
                if position is None or await conn.fetchval(_ADMIT, 5 * batch, position) is None:
                    break
    changed, after = 0, 0
    while True:
        async with pool.acquire() as conn:
            ids = [r["alert_id"] for r in await conn.fetch(_MOVED, batch, after)]
            if not ids:
                # Let go only after scoring: an alert admitted late (the keeper was away,
                # or the closes came in a burst) with its key already 40 bars on has its 20
                # bars stored, and is final now, not dropped unscored.
                await conn.execute(_LET_GO)
                return changed
            scored = [(i, o) for i, o in (await score_alerts(conn, ids)).items() if o]
            if scored:
                columns = list(
                    zip(*((i, *astuple(o)[1:]) for i, o in scored), strict=True)
                )  # astuple(o)[0] is the signal, the alert's own
                status = await conn.execute(_UPSERT, *(list(c) for c in columns))
                moved = int(status.split()[-1])
                if moved:  # cached pages of alerts (their outcomes) are stale now
                    await notify_state(conn)
                changed += moved
        after = ids[-1]


#: How many of a key's newest final outcomes its track record counts: a bound on the work
#: of the notifier's every poll (a key followed live raises an alert a bar for months).
TRACK_SAMPLE = 500

#: Per key of $1-$6 (arrays): of its newest ``TRACK_SAMPLE`` final outcomes (the key's
#: alerts newest first, by the alerts' key-and-time index), the count, how many reached
#: the target, and their median return after 5 bars.
_TRACK = f"""
SELECT {key_columns("k")}, count(r.return_5) AS sample,
       count(r.target_hit_after) AS hits,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.return_5) AS median_return_5
FROM unnest($1::text[], $2::text[], $3::smallint[], $4::float8[], $5::text[], $6::int[])
     AS k ({key_columns()})
LEFT JOIN LATERAL (
    SELECT o.target_hit_after, o.return_5
    FROM alerts a JOIN alert_outcomes o ON o.alert_id = a.id AND o.final
    WHERE ({key_columns("a")}) = ({key_columns("k")})
    ORDER BY a.last_candle_time DESC
    LIMIT {TRACK_SAMPLE}) r ON true
GROUP BY {key_columns("k")}
"""  # noqa: S608 - constants only


async def track_records(
    conn: Conn, keys: Sequence[Sequence[Any]]
) -> dict[tuple[Any, ...], TrackRecord]:
    """The track record of each key (symbol, interval, degree, kstd, price scale, days):
    its newest final outcomes (at most ``TRACK_SAMPLE``), the share that reached the
    target, their median return after 5 bars (the notifications' ``$sample``,
    ``$hit_rate``, ``$median_return_5``)."""
    unique = list(dict.fromkeys(tuple(k) for k in keys))
    if not unique:
        return {}
    rows = await conn.fetch(_TRACK, *(list(c) for c in zip(*unique, strict=True)))
    return {
        tuple(r[f] for f in KEY_FIELDS): TrackRecord(
            r["sample"], r["hits"] / r["sample"] if r["sample"] else None, r["median_return_5"]
        )
        for r in rows
    }


async def keep(pool: asyncpg.Pool, stop: asyncio.Event, every_seconds: float = 10.0) -> None:
    """The outcomes' keeper (the ingestor runs it): ``update`` every ``every_seconds``."""
    while not stop.is_set():
        changed = await update(pool)
        if changed:
            log.info("outcomes: %d alert outcome(s) moved on", changed)
        await wait_or_stop(stop, every_seconds)
