"""Writing the pipeline's results to PostgreSQL: batched, idempotent, one transaction per batch.

A batch of signals is COPied (binary) into a staging table, then one statement
stores what is new (``ON CONFLICT DO NOTHING`` on the signal key: a signal
delivered twice is one row), decides the alerts set-wise against
``current_signals`` (the latest signal of every key), moves the current state
forward and records each symbol's outcome in ``scan_symbols`` (idempotent too);
a scan is finished once every symbol of its plan is in. Each batch is
de-duplicated first. Writers of different keys store at once: each batch locks its keys
first, and only its alerts are written under the writers' lock, held from there to the
commit. Five round trips per batch, whatever its size (one makes the batch's partitions
and keys where missing, migrations 0019 and 0024, and locks its keys; one takes the
writers' lock and writes the alerts), and two more when it carries windows.

Callers run these inside a transaction and commit their Kafka offsets only
after it commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

from autonama_shared.db.keys import KEY, key_columns
from autonama_shared.db.pool import CUSTOM_PLANS, Conn, one
from autonama_shared.db.windows import WINDOW_COLUMNS, pack
from autonama_shared.formats.keys import KEY_FIELDS
from autonama_shared.messaging.events import SignalComputed

__all__ = ["WRITERS_LOCK", "Staged", "stage_signals", "store_signals", "store_staged"]

#: Held by every transaction that writes alerts, plans or progress, from its alerts until
#: it commits (``store_staged`` takes it after the batch's signals are stored; nothing that
#: another holder may wait on is written before it but those signals, under their keys'
#: locks): the writers (the ingestor's replicas, its drop folder, ``autonama ingest``)
#: commit one at a time, so alert ids commit in id order (the outbox and the stream read
#: "every id above the last") and each recount sees the rows of every writer before it (a
#: scan's plan stored by one ingestor, its last signals by another, still finishes it).
WRITERS_LOCK = "SELECT pg_advisory_xact_lock(hashtext('autonama.alerts'))"


#: The columns of ``signals`` read straight off the event, each with its attribute.
_EVENT_COLUMNS = (
    ("last_candle_time", "last_candle_time"),
    ("signal", "signal"),
    ("price", "price"),
    ("lower_band", "lower"),
    ("upper_band", "upper"),
    ("fit", "fit"),
    ("sigma", "sigma"),
    ("potential_return", "potential_return"),
    ("target_return", "target_return"),
    ("candles", "candles"),
    ("window_candles", "window"),
    ("partial_window", "partial_window"),
    ("engine_version", "engine_version"),
    ("computed_at", "computed_at"),
)
#: Every column a signal row is written with, in the order ``_signal_row`` gives them.
_SIGNAL_COLUMNS = (
    *KEY_FIELDS,
    *(column for column, _ in _EVENT_COLUMNS),
    "scan_id",
    "origin",
    "candle_open",
    "candle_high",
    "candle_low",
)
#: The columns of a row of ``closes`` (migration 0024): a signal's, its key's but the
#: interval (the partition's) named by ``key_id`` instead.
_CLOSE_COLUMNS = ("interval", *_SIGNAL_COLUMNS[len(KEY_FIELDS) :])
_event_values = attrgetter(*(attribute for _, attribute in _EVENT_COLUMNS))
#: An event's key values: its symbol, then its parameters'.
_key_values = attrgetter("symbol", *(f"params.{name}" for name in KEY_FIELDS[1:]))
#: A signal is unique by its key and candle.
_KEY = f"{KEY}, last_candle_time"
#: The key's id of staging row ``st`` (made by ``_PARTITIONS`` where new).
_KEY_ID = f"(SELECT k.id FROM signal_keys k WHERE ({key_columns('k')}) = ({key_columns('st')}))"  # noqa: S608

#: The columns an alert is written with (``_STORE`` decides them, ``_RAISE`` writes them).
_ALERT_COLUMNS = (
    f"signal_id, {KEY}, signal, previous_signal, reason, price, lower_band, upper_band, fit, "
    "potential_return, target_return, last_candle_time, scan_id"
)

#: Before each batch: the staging table (once per connection, empty in every transaction).
#: Staging is the connection's own: it needs no lock, so one writer stages its batch
#: while another holds the writers' lock.
_PREPARE = f"""
CREATE TEMP TABLE IF NOT EXISTS signals_staging ON COMMIT DELETE ROWS AS
    SELECT 0 AS seq, {", ".join(_SIGNAL_COLUMNS)} FROM signals WITH NO DATA;
DELETE FROM signals_staging;
CREATE TEMP TABLE IF NOT EXISTS alerts_pending ON COMMIT DELETE ROWS AS
    SELECT 0 AS key_id, true AS newest, {_ALERT_COLUMNS} FROM alerts WITH NO DATA;
DELETE FROM alerts_pending;
"""  # noqa: S608 - constants only

#: After the batch is staged: the partitions its candles go to (migration 0019) and its
#: keys (migration 0024), made where missing (a new day of 1m closes, an old results file,
#: a new key) before anything is inserted. Only keys not there are offered: an insert that
#: conflicts would still draw an id, and a batch's every key would use up the ids.
#: The candle times are made distinct before their partitions are computed (a batch holds
#: a few, and the function costs 2.5 us a row), and the keys are looked up by one hash
#: anti-join instead of an index probe per row (10 -> 2.6 ms a batch of 2,000).
_PARTITIONS = f"""
SELECT autonama_ensure_partition(interval, lo)
FROM (SELECT DISTINCT interval, autonama_partition_start(interval, t) AS lo
      FROM (SELECT DISTINCT interval, last_candle_time AS t FROM signals_staging) times
     ) batch;
INSERT INTO signal_keys ({KEY})
SELECT {KEY} FROM (SELECT DISTINCT {KEY} FROM signals_staging) st
WHERE NOT EXISTS (SELECT FROM signal_keys k WHERE ({key_columns("k")}) = ({key_columns("st")}))
ON CONFLICT DO NOTHING;
"""  # noqa: S608 - constants only

#: Each key of the batch locked (its ``signal_keys`` row, in id order, so that two writers
#: never wait on each other's): a key's closes are decided by one writer at a time, against
#: its current state as the writer before left it. Writers of other keys go on.
_LOCK_KEYS = f"""
SELECT k.id FROM signal_keys k
WHERE ({key_columns("k")}) IN (SELECT {KEY} FROM signals_staging)
ORDER BY k.id
FOR NO KEY UPDATE
"""  # noqa: S608 - constants only

#: Where a window is kept: its signal's partition (band_windows is partitioned as signals).
_WINDOW_PLACE = ("interval", "last_candle_time")

_CURRENT_COLUMNS = (
    "signal_id, signal, price, lower_band, upper_band, fit, sigma, potential_return, "
    "target_return, last_candle_time, alert_id, updated_at, run_start"
)

#: The batch in staging becomes, in one statement (one snapshot):
#:
#: - ``new``: its signal rows not stored before (a replay inserts nothing), with ids
#:   drawn in staging order, stored in ``closes`` by key id (``stored``, migration 0024)
#:   and read back with their key's columns;
#: - ``steps``: every new row whose candle is newer than its key's current signal (a
#:   late, older candle changes nothing), each with its previous signal: the batch's row
#:   before it when that is newer than the current one, else the current one. So several
#:   closes of one key stored together (a live feed filling a gap) are decided in candle
#:   order, as if stored one at a time;
#: - ``pending``: an alert for each step to BUY or SELL, and an "ended" one for each step
#:   to HOLD whose previous signal was BUY or SELL, into ``alerts_pending``: ``_RAISE``
#:   writes them under the writers' lock;
#: - ``made_current``: each key's newest step becomes its current signal (its alert is
#:   set by ``_RAISE``), with where its run of closes starts (migration 0030): the newest
#:   of its steps that does not follow the close before it by one candle, else the run of
#:   the current one, which they extend (else, no run known, the newest step);
#: - ``progress``: one outcome per scan and symbol, the signal's id (new or stored before)
#:   or why it failed ($1-$3);
#:
#: then listeners are told (NOTIFY is delivered at commit). ``new_seqs``/``new_ids`` map
#: staging rows to new signal ids when $4 (there are windows to store in band_windows).
_STORE = f"""
WITH ids AS MATERIALIZED (
    SELECT seq, nextval('signals_id_seq') AS id FROM signals_staging ORDER BY seq),
stored AS (
    INSERT INTO closes (id, key_id, {", ".join(_CLOSE_COLUMNS)})
    SELECT ids.id, k.id, {", ".join("st." + c for c in _CLOSE_COLUMNS)}
    FROM signals_staging st JOIN ids USING (seq)
    JOIN signal_keys k ON ({key_columns("k")}) = ({key_columns("st")})
    ON CONFLICT (key_id, interval, last_candle_time) DO NOTHING
    RETURNING id, key_id, last_candle_time, signal, price, lower_band, upper_band, fit,
              sigma, potential_return, target_return, scan_id),
new AS (
    SELECT s.*, {key_columns("k")} FROM stored s JOIN signal_keys k ON k.id = s.key_id),
ranked AS (
    SELECT n.*,
           lag(signal) OVER oldest_first AS batch_previous,
           lag(last_candle_time) OVER oldest_first AS batch_previous_time,
           row_number() OVER (PARTITION BY key_id ORDER BY last_candle_time DESC) AS rank
    FROM new n
    WINDOW oldest_first AS (PARTITION BY key_id ORDER BY last_candle_time)),
stepped AS (
    SELECT r.*,
           CASE WHEN c.last_candle_time IS NULL
                  OR r.batch_previous_time > c.last_candle_time THEN r.batch_previous
                ELSE c.signal END AS previous,
           CASE WHEN c.last_candle_time IS NULL
                  OR r.batch_previous_time > c.last_candle_time THEN r.batch_previous_time
                ELSE c.last_candle_time END AS previous_time,
           c.run_start AS current_run_start
    FROM ranked r LEFT JOIN current_signals c ON c.key_id = r.key_id
    WHERE c.last_candle_time IS NULL OR c.last_candle_time < r.last_candle_time),
steps AS (
    SELECT s.*,
           max(s.last_candle_time) FILTER (
               WHERE s.previous_time IS NULL
                  OR s.previous_time + autonama_interval_step(s.interval) <> s.last_candle_time
           ) OVER (PARTITION BY s.key_id) AS run_break
    FROM stepped s),
pending AS (
    INSERT INTO alerts_pending (key_id, newest, {_ALERT_COLUMNS})
    SELECT key_id, rank = 1, id, {KEY}, signal, previous,
           CASE WHEN signal = 'HOLD' THEN 'ended'
                WHEN previous IS NULL THEN 'new'
                WHEN previous = signal THEN 'confirmed'
                ELSE 'changed' END,
           price, lower_band, upper_band, fit, potential_return, target_return,
           last_candle_time, scan_id
    FROM steps
    WHERE signal IN ('BUY', 'SELL') OR previous IN ('BUY', 'SELL')
    RETURNING 1),
made_current AS (
    INSERT INTO current_signals AS c (key_id, {KEY}, {_CURRENT_COLUMNS})
    SELECT p.key_id, {key_columns("p")}, p.id, p.signal,
           p.price, p.lower_band, p.upper_band, p.fit, p.sigma, p.potential_return,
           p.target_return, p.last_candle_time, NULL::bigint, now(),
           COALESCE(p.run_break, NULLIF(p.current_run_start, 'infinity'), p.last_candle_time)
    FROM steps p
    WHERE p.rank = 1
    ON CONFLICT (key_id) DO UPDATE
    SET ({_CURRENT_COLUMNS}) = (EXCLUDED.signal_id, EXCLUDED.signal, EXCLUDED.price,
         EXCLUDED.lower_band, EXCLUDED.upper_band, EXCLUDED.fit, EXCLUDED.sigma,
         EXCLUDED.potential_return, EXCLUDED.target_return, EXCLUDED.last_candle_time,
         EXCLUDED.alert_id, EXCLUDED.updated_at, EXCLUDED.run_start)
    WHERE c.last_candle_time < EXCLUDED.last_candle_time
    RETURNING 1),
outcomes AS (
    SELECT DISTINCT ON (st.scan_id, st.symbol) st.scan_id, st.symbol,
           COALESCE(n.id, (SELECT o.id FROM closes o
                           WHERE o.key_id = {_KEY_ID} AND o.interval = st.interval
                             AND o.last_candle_time = st.last_candle_time)) AS signal_id
    FROM signals_staging st JOIN ids USING (seq) LEFT JOIN new n ON n.id = ids.id
    ORDER BY st.scan_id, st.symbol, st.last_candle_time DESC),
progress AS (
    INSERT INTO scan_symbols (scan_id, symbol, status, signal_id, error)
    SELECT scan_id, symbol, CASE WHEN signal_id IS NULL THEN 'failed' ELSE 'done' END,
           signal_id, CASE WHEN signal_id IS NULL THEN 'signal not stored' END
    FROM outcomes
    UNION ALL
    SELECT scan_id, symbol, 'failed', NULL, error
    FROM unnest($1::uuid[], $2::text[], $3::text[]) AS f (scan_id, symbol, error)
    ON CONFLICT (scan_id, symbol) DO NOTHING
    RETURNING 1),
counts AS (
    SELECT (SELECT count(*) FROM new) AS new_rows,
           (SELECT count(*) FROM pending) AS alerts,
           (SELECT count(*) FROM made_current) AS changed,
           (SELECT count(*) FROM progress) AS outcomes)
SELECT new_rows, alerts,
       news.seqs AS new_seqs, news.ids AS new_ids,
       (CASE WHEN new_rows > 0 THEN pg_notify(current_schema() || '_state', '') END)
           IS NULL AS s
FROM counts,
     LATERAL (SELECT array_agg(ids.seq ORDER BY ids.seq) AS seqs,
                     array_agg(ids.id ORDER BY ids.seq) AS ids
              FROM ids JOIN new USING (id) WHERE $4) news
"""  # noqa: S608 - constants only


#: Under the writers' lock, the batch's alerts decided by ``_STORE`` are written: ids drawn
#: in candle order (then signal id), so that alert ids commit in id order whatever the
#: writers (the outbox and the stream read "every id above the last"); each key whose
#: newest step raised one has it as its current alert (an ended alert is no key's current
#: alert); listeners are told the newest id.
_RAISE = f"""
WITH raised AS (
    INSERT INTO alerts ({_ALERT_COLUMNS})
    SELECT {_ALERT_COLUMNS} FROM alerts_pending
    ORDER BY last_candle_time, signal_id
    RETURNING id, signal_id),
made_current AS (  -- run to completion though nothing reads it, as every such CTE
    UPDATE current_signals c SET alert_id = r.id
    FROM raised r JOIN alerts_pending p USING (signal_id)
    WHERE p.newest AND p.signal <> 'HOLD' AND c.key_id = p.key_id AND c.signal_id = p.signal_id)
SELECT pg_notify(current_schema() || '_alerts', max(id)::text) FROM raised HAVING count(*) > 0
"""  # noqa: S608 - constants only


@dataclass(frozen=True)
class Staged:
    """A batch of signals in the connection's staging table (``stage_signals``), to be stored
    in the same transaction (``store_staged``)."""

    batch: list[SignalComputed]
    #: (scan, symbol) -> why it has no signal
    failed: dict[tuple[str, str], str]


async def store_signals(conn: Conn, events: Sequence[SignalComputed], origin: str) -> int:
    """Store signals, their alerts, the current state and per-symbol outcomes in one statement;
    return how many signal rows are new (``stage_signals`` then ``store_staged``)."""
    if not events:
        return 0
    return await store_staged(conn, await stage_signals(conn, events, origin))


async def stage_signals(conn: Conn, events: Sequence[SignalComputed], origin: str) -> Staged:
    """COPY the batch, de-duplicated, into the connection's staging table: no lock is taken
    (the ingestor stages while another writer stores)."""
    good: dict[tuple[object, ...], SignalComputed] = {}
    for e in events:
        if e.error is None and e.last_candle_time is not None:
            good[(*_key_values(e), e.last_candle_time)] = e
    done = {(e.scan_id, e.symbol) for e in good.values()}
    failed = {  # a symbol's outcome is its signal when one of its events carried one
        (e.scan_id, e.symbol): e.error or "no closed candle"
        for e in events
        if (e.scan_id, e.symbol) not in done
    }
    uuids = {s: uuid.UUID(s) for s in {e.scan_id for e in events}}
    batch = list(good.values())
    await conn.execute(_PREPARE)
    if batch:
        await conn.copy_records_to_table(
            "signals_staging",
            records=[
                (seq, *_signal_row(e, uuids[e.scan_id], origin)) for seq, e in enumerate(batch)
            ],
            columns=["seq", *_SIGNAL_COLUMNS],
        )
    return Staged(batch, failed)


async def store_staged(conn: Conn, staged: Staged) -> int:
    """Store what ``stage_signals`` staged in this transaction; return how many rows are new.

    The batch's keys are locked first (``_LOCK_KEYS``): each key's closes are decided
    against its current state as the writer before left it, while writers of other keys
    store theirs. Then, holding the writers' lock until the transaction ends
    (``WRITERS_LOCK``), the alerts are written (``_RAISE``): alert ids commit in order, and
    what the caller does after (plans, the scans' recount) sees every writer before it.
    The transaction plans each statement for its values (``CUSTOM_PLANS``).
    """
    batch, failed = staged.batch, staged.failed
    # one round trip: windows' coverage reads closes (CUSTOM_PLANS), partitions, keys
    await conn.execute(f"{CUSTOM_PLANS}; {_PARTITIONS}; {_LOCK_KEYS}" if batch else CUSTOM_PLANS)
    if not batch and not failed:
        await conn.execute(WRITERS_LOCK)
        return 0
    row = await conn.fetchrow(
        _STORE,
        [uuid.UUID(s) for s, _ in failed],
        [symbol for _, symbol in failed],
        list(failed.values()),
        any(e.series for e in batch),
    )
    row = one(row, "the signals' store")
    if row["new_seqs"]:
        windowed = {
            seq: signal_id
            for seq, signal_id in zip(row["new_seqs"], row["new_ids"], strict=True)
            if batch[seq].series
        }
        windows = [
            (*pack(windowed[seq], series), e.params.interval, e.last_candle_time)
            for seq in await _uncovered(conn, {seq: batch[seq] for seq in windowed})
            if (series := (e := batch[seq]).series)
        ]
        if windows:
            await conn.copy_records_to_table(
                "band_windows", records=windows, columns=[*WINDOW_COLUMNS, *_WINDOW_PLACE]
            )
    await conn.execute(f"{WRITERS_LOCK}; {_RAISE}" if row["alerts"] else WRITERS_LOCK)
    new_rows: int = row["new_rows"]
    return new_rows


#: Of the new signals that carry a window ($1 their staging seqs, then their keys, candle
#: times and window lengths), those whose key's own stored closes do not already hold the
#: window: the key's run of closes (``current_signals.run_start`` to its current close,
#: one every candle, migration 0030) does not hold the ``candles - 1`` before the signal's
#: (a key's first window, a gap, a scan's history). The others' charts are their key's
#: closes (``queries/windows.py``), so their windows are not stored again (migration 0021).
_UNCOVERED = f"""
SELECT n.seq FROM unnest($1::int[], $2::text[], $3::text[], $4::smallint[], $5::float8[],
                         $6::text[], $7::int[], $8::timestamptz[], $9::int[])
                  AS n (seq, {KEY}, t, candles)
LEFT JOIN signal_keys k ON ({key_columns("k")}) = ({key_columns("n")})
LEFT JOIN current_signals c ON c.key_id = k.id
WHERE c.run_start IS NULL
   OR c.run_start > n.t - (n.candles - 1) * autonama_interval_step(n.interval)
   OR c.last_candle_time < n.t
"""  # noqa: S608 - constants only


async def _uncovered(conn: Conn, windowed: dict[int, SignalComputed]) -> list[int]:
    """The staging seqs of ``windowed`` whose windows are to be stored (``_UNCOVERED``)."""
    if not windowed:
        return []
    events = list(windowed.values())
    columns = list(zip(*(_key_values(e) for e in events), strict=True))
    rows = await conn.fetch(
        _UNCOVERED,
        list(windowed),
        *(list(c) for c in columns),
        [e.last_candle_time for e in events],
        [len(e.series.open_time) if e.series else 0 for e in events],
    )
    return sorted(r["seq"] for r in rows)


def _signal_row(e: SignalComputed, scan_id: uuid.UUID, origin: str) -> tuple[object, ...]:
    """``e`` as a row of ``signals``, in ``_SIGNAL_COLUMNS`` order (an attrgetter, not a
    dict by name: this runs for every signal of every batch, and a dict cost 3.5 us a row).
    Without a last candle (a scan's signal), its window's last candle: the window may not
    be stored (``_UNCOVERED``), the candle is kept with the signal."""
    c, w = e.last_candle, e.series
    if c is not None:
        candle: tuple[float | None, ...] = (c.open, c.high, c.low)
    elif w is not None and w.open is not None and w.high is not None and w.low is not None:
        # its window's last candle, kept with it (lists, or a packed results file's arrays)
        candle = (float(w.open[-1]), float(w.high[-1]), float(w.low[-1]))
    else:
        candle = (None, None, None)
    return (*_key_values(e), *_event_values(e), scan_id, origin, *candle)
