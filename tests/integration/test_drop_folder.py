"""Offline results files dropped in the ingestor's folder, against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest

from autonama_ingestor.files import DropFolder
from autonama_shared.engine.specs import ScanSpec
from autonama_shared.errors import DataError
from autonama_shared.formats.results import ResultsFile, write_results
from autonama_shared.lifecycle import supervise
from autonama_shared.runs.scan import results_file, run_scan
from autonama_shared.settings import PostgresSettings
from autonama_shared.sources.files import FileSource
from tests.support.cli import cli
from tests.support.factories import make_signal, store


@pytest.fixture(scope="module")
async def scan_results(shared_data: Path) -> ResultsFile:
    source = FileSource(shared_data / "klines" / "until-2022-10" / "1d")
    report = await run_scan(source, ScanSpec(symbols=("BTCUSDT", "ETHUSDT", "APEUSDT", "NOPEUSDT")))
    return results_file(report)


def reason(folder: Path, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / f"{name}.reason.json").read_text())
    return data


async def drain(drop: DropFolder) -> None:
    """Two looks: a file is taken once it has not changed between them."""
    await drop.scan_once()
    await drop.scan_once()


async def test_valid_duplicate_truncated_wrong_schema_and_tricks(
    pool: asyncpg.Pool, scan_results: ResultsFile, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    valid = write_results(scan_results, folder)
    text = valid.read_text()
    (folder / "backtest_results_20240101_000001.json").write_text(text)  # same content
    (folder / "backtest_results_20240101_000002.json").write_text(text[: len(text) // 2])
    wrong = json.loads(text)
    wrong["results"][0]["signal"] = "MAYBE"
    (folder / "backtest_results_20240101_000003.json").write_text(json.dumps(wrong))
    (folder / "backtest_results_..%2F..%2Fetc.json").write_text(text)
    os.symlink("/etc/hostname", folder / "backtest_results_20240101_000004.json")
    (folder / "notes.txt").write_text("not for the ingestor")

    drop = DropFolder(folder, pool, settle_seconds=0, max_bytes=100 * 1024 * 1024)
    await drain(drop)

    processed, rejected = folder / "processed", folder / "rejected"
    assert sorted(p.name for p in processed.glob("*.json") if ".reason" not in p.name) == [
        valid.name
    ]
    assert reason(processed, valid.name)["status"] == "ingested"
    assert reason(processed, valid.name)["rows"] == 3  # NOPEUSDT is an error result
    dup = reason(rejected, "backtest_results_20240101_000001.json")
    assert dup["status"] == "duplicate"
    assert f"same content as {valid.name}" in str(dup["error"])
    truncated = reason(rejected, "backtest_results_20240101_000002.json")
    assert "not valid JSON" in str(truncated["error"])
    schema = reason(rejected, "backtest_results_20240101_000003.json")
    assert "does not match the results schema" in str(schema["error"])
    assert "signal" in str(schema["error"])
    tricky = reason(rejected, "backtest_results_..%2F..%2Fetc.json")
    assert "file name not accepted" in str(tricky["error"])
    link = reason(rejected, "backtest_results_20240101_000004.json")
    assert "not a regular file" in str(link["error"])
    assert (folder / "notes.txt").exists()  # not ours: left alone
    assert Path("/etc/hostname").exists()

    async with pool.acquire() as conn:
        signals = await conn.fetch("SELECT symbol, origin FROM signals ORDER BY symbol")
        history = await conn.fetch("SELECT file_name, status FROM ingestions ORDER BY id")
        scan = await conn.fetchrow("SELECT * FROM scans WHERE origin = 'file'")
        failed = await conn.fetchval(
            "SELECT error FROM scan_symbols WHERE symbol = 'NOPEUSDT' AND status = 'failed'"
        )
    assert [(r["symbol"], r["origin"]) for r in signals] == [
        ("APEUSDT", "file"),
        ("BTCUSDT", "file"),
        ("ETHUSDT", "file"),
    ]
    assert sorted(r["status"] for r in history) == [
        "duplicate",
        "ingested",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert scan["status"] == "finished"
    assert (scan["symbols_done"], scan["symbols_failed"]) == (3, 1)
    assert "no 1d candle file for NOPEUSDT" in failed


async def test_half_written_files_are_left_alone_until_complete(
    pool: asyncpg.Pool, scan_results: ResultsFile, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    text = scan_results.model_dump_json()
    hidden = folder / ".backtest_results_20240101_000000.json.tmp"  # the scanner's temporary name
    hidden.write_text(text[:100])
    growing = folder / "backtest_results_20240101_000009.json"
    growing.write_text(text[:1000])
    drop = DropFolder(folder, pool, settle_seconds=0, max_bytes=100 * 1024 * 1024)
    assert await drop.scan_once() == []  # first sight
    with growing.open("a") as f:
        f.write(text[1000:5000])
    assert await drop.scan_once() == []  # it changed: still being written
    with growing.open("a") as f:
        f.write(text[5000:])
    assert await drop.scan_once() == []
    (outcome,) = await drop.scan_once()  # unchanged since the last look: complete
    assert outcome.status == "ingested"
    assert hidden.exists()
    assert not (folder / "rejected").exists()


async def test_a_50_mb_file(pool: asyncpg.Pool, scan_results: ResultsFile, tmp_path: Path) -> None:
    base = next(r for r in scan_results.results if r.symbol == "BTCUSDT")
    many = [base.model_copy(update={"symbol": f"S{i:04d}USDT"}) for i in range(900)]
    big = scan_results.model_copy(update={"results": many})
    folder = tmp_path / "drop"
    path = write_results(big, folder)
    assert path.stat().st_size > 50_000_000
    drop = DropFolder(folder, pool, settle_seconds=0, max_bytes=200 * 1024 * 1024)
    await drain(drop)
    assert reason(folder / "processed", path.name)["status"] == "ingested"
    async with pool.acquire() as conn:
        count = await conn.fetchval("SELECT count(*) FROM signals")
        series = await conn.fetchval("SELECT count(*) FROM band_windows")
        codecs = await conn.fetch(
            "SELECT pg_column_compression(open_time) AS codec, count(*) FROM band_windows "
            "GROUP BY 1"
        )
    assert count == 900
    assert series == 900
    # compressed as stored, with lz4 (migration 0026: pglz took twice the time)
    assert [(r["codec"], r["count"]) for r in codecs] == [("lz4", 900)]


async def test_a_file_over_the_size_limit_is_rejected(
    pool: asyncpg.Pool, scan_results: ResultsFile, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    path = write_results(scan_results, folder)
    drop = DropFolder(folder, pool, settle_seconds=0, max_bytes=1024)
    await drain(drop)
    assert "over the limit of 1024" in str(reason(folder / "rejected", path.name)["error"])


@pytest.mark.slow
async def test_ingest_command_and_history(
    pg_settings: PostgresSettings, scan_results: ResultsFile, tmp_path: Path
) -> None:
    path = write_results(scan_results, tmp_path)
    bad = tmp_path / "backtest_results_20240101_000000.json"
    bad.write_text("{")
    first = await asyncio.to_thread(cli, pg_settings, "ingest", str(path))
    assert first.returncode == 0, first.stderr
    assert f"{path}: ingested, 3 signals" in first.stdout
    again = await asyncio.to_thread(cli, pg_settings, "ingest", str(path), str(bad))
    assert again.returncode == 1
    assert f"{path}: duplicate" in again.stdout
    assert f"{bad}: rejected, 0 signals: not valid JSON" in again.stdout
    history = await asyncio.to_thread(cli, pg_settings, "ingestions", "--limit", "5")
    assert history.returncode == 0, history.stderr
    lines = [line for line in history.stdout.splitlines() if path.name in line]
    assert [s for s in ("ingested", "duplicate") if any(f" {s} " in line for line in lines)] == [
        "ingested",
        "duplicate",
    ]
    assert any(bad.name in line and " rejected " in line for line in history.stdout.splitlines())


async def test_one_bad_file_never_stops_the_folder(
    pool: asyncpg.Pool, scan_results: ResultsFile, tmp_path: Path
) -> None:
    """The files that once killed the watcher for good are rejected with a reason, and the
    file dropped after them is ingested; NaN never reaches the table."""
    folder = tmp_path / "drop"
    valid = write_results(scan_results, tmp_path / "later")
    good = json.loads(valid.read_text())
    sell = next(i for i, r in enumerate(good["results"]) if r["error"] is None)
    bad_interval = json.loads(json.dumps(good))
    bad_interval["parameters"]["interval"] = "7x"
    null_price = json.loads(json.dumps(good))
    null_price["results"][sell] |= {"signal": "BUY", "price": None}
    folder.mkdir()
    (folder / "backtest_results_20240101_000011.json").write_text(json.dumps(bad_interval))
    (folder / "backtest_results_20240101_000012.json").write_text(json.dumps(null_price))
    nan = re.sub(
        r'"potential_return":[-0-9.eE+]+', '"potential_return":NaN', valid.read_text(), count=1
    )
    (folder / "backtest_results_20240101_000013.json").write_text(nan)
    (folder / "backtest_results_20240101_000014.json").write_text(valid.read_text())

    drop = DropFolder(folder, pool, settle_seconds=0, max_bytes=100 * 1024 * 1024)
    await drain(drop)

    rejected, processed = folder / "rejected", folder / "processed"
    assert "interval" in str(reason(rejected, "backtest_results_20240101_000011.json")["error"])
    assert "BUY signal needs price" in str(
        reason(rejected, "backtest_results_20240101_000012.json")["error"]
    )
    assert reason(rejected, "backtest_results_20240101_000013.json")["status"] == "rejected"
    assert reason(processed, "backtest_results_20240101_000014.json")["status"] == "ingested"
    finite = await pool.fetchval(
        "SELECT bool_and(potential_return < 'Infinity' AND price < 'Infinity') FROM signals"
    )
    assert finite is True


async def test_the_database_refuses_non_finite_numbers(pool: asyncpg.Pool) -> None:
    """The last line: a NaN or Infinity that got past every check is refused by a CHECK."""
    ok = make_signal("BTCUSDT", "BUY", 3)
    await store(pool, ok)
    for column in ("price", "potential_return"):
        with pytest.raises(asyncpg.CheckViolationError, match="closes_finite"):
            await pool.execute(f"UPDATE closes SET {column} = 'NaN'")
        with pytest.raises(asyncpg.CheckViolationError, match="closes_finite"):
            await pool.execute(f"UPDATE closes SET {column} = '-Infinity'")
    with pytest.raises(asyncpg.CheckViolationError, match="signal_keys_kstd_check"):
        await pool.execute("UPDATE signal_keys SET kstd = 'Infinity'")
    with pytest.raises(asyncpg.CheckViolationError, match="band_series_finite"):
        await pool.execute(
            "INSERT INTO band_series SELECT id, '{1}', NULL, NULL, NULL, "
            "'{Infinity}', '{1}', '{1}', '{1}' FROM signals"
        )
    # Windows are packed since migration 0009: a non-finite value is refused before COPY,
    # and the batch stores nothing.
    bad = make_signal("ETHUSDT", "SELL", 4)
    assert bad.series is not None
    close = [*bad.series.close[:-1], float("nan")]
    nan = bad.model_copy(update={"series": bad.series.model_copy(update={"close": close})})
    with pytest.raises(DataError, match="close holds NaN or infinity"):
        await store(pool, nan)
    assert await pool.fetchval("SELECT count(*) FROM signals WHERE symbol = 'ETHUSDT'") == 0
    assert await pool.fetchval("SELECT count(*) FROM band_windows") == 1


async def test_a_linked_rejected_folder_is_refused_and_reported(
    pool: asyncpg.Pool, scan_results: ResultsFile, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    outside = tmp_path / "outside"
    outside.mkdir()
    folder.mkdir()
    os.symlink(outside, folder / "rejected")
    (folder / "backtest_results_20240101_000021.json").write_text("{not json")
    drop = DropFolder(folder, pool, settle_seconds=0, max_bytes=1024 * 1024)
    stop = asyncio.Event()
    failures: list[str] = []

    async def failed(why: str) -> None:
        failures.append(why)
        await drop.report(False, why)
        stop.set()

    await asyncio.wait_for(
        supervise("drop folder", lambda: drop.run(stop, 0.01), stop, on_failure=failed), 10
    )
    assert failures
    assert "is a link or not a folder" in failures[0]
    assert list(outside.iterdir()) == []  # nothing written outside the drop folder
    assert (folder / "backtest_results_20240101_000021.json").exists()  # left in place
    row = await pool.fetchrow("SELECT running, detail FROM worker_status")
    assert row is not None
    assert row["running"] is False
    assert "is a link or not a folder" in row["detail"]


def unpacked(series: dict[str, Any]) -> dict[str, list[Any]]:
    """A version 3 series as JSON arrays (base64 of little-endian int64 times, float64 values)."""
    return {
        name: np.frombuffer(
            base64.b64decode(text), "<i8" if name == "open_time" else "<f8"
        ).tolist()
        for name, text in series.items()
        if name != "encoding"
    }


async def test_version_3_packs_windows_and_versions_1_and_2_are_still_read(
    pool: asyncpg.Pool, scan_results: ResultsFile, tmp_path: Path
) -> None:
    assert scan_results.schema_version == 3
    folder = tmp_path / "drop"
    new = write_results(scan_results, folder)
    written = json.loads(new.read_text())
    btc = next(r for r in written["results"] if r["symbol"] == "BTCUSDT")
    assert btc["series"]["encoding"] == "base64-le64"
    btc_plain = unpacked(btc["series"])
    # the real candles: every high is its candle's highest price, every low its lowest
    for o, h, lo, c in zip(
        btc_plain["open"], btc_plain["high"], btc_plain["low"], btc_plain["close"], strict=True
    ):
        assert lo <= min(o, c) <= max(o, c) <= h
    assert btc_plain["close"][-1] == btc["price"]
    assert btc_plain["fit"][-1] == pytest.approx(btc["fit"], rel=1e-12)

    def rewritten(day: int, version: int, prefix: str, keep_candles: bool = True) -> None:
        doc = json.loads(new.read_text())
        doc["schema_version"] = version
        doc["generated_at"] = f"2026-01-{day:02d}T00:00:00Z"
        for r in doc["results"]:
            r["symbol"] = prefix + r["symbol"]  # other keys than the others'
            if r["series"] is not None:
                r["series"] = unpacked(r["series"])
                if not keep_candles:
                    for column in ("open", "high", "low"):
                        del r["series"][column]
        (folder / f"backtest_results_202601{day:02d}_000000.json").write_text(json.dumps(doc))

    rewritten(2, 2, "TWO")  # as version 2 wrote it: JSON arrays with the candles
    rewritten(3, 1, "ONE", keep_candles=False)  # version 1: closes only
    rewritten(4, 1, "BAD")  # version 1 with candles is not what version 1 was
    rewritten(5, 3, "BAD")  # version 3 with JSON arrays
    packed_in_2 = json.loads(new.read_text()) | {"schema_version": 2}
    packed_in_2["generated_at"] = "2026-01-06T00:00:00Z"
    (folder / "backtest_results_20260106_000000.json").write_text(json.dumps(packed_in_2))

    # Packed columns that are not what they say: each file refused, saying why.
    def hostile(day: int, column: str, text: str) -> None:
        doc = json.loads(new.read_text())
        doc["generated_at"] = f"2026-01-{day:02d}T00:00:00Z"
        next(r for r in doc["results"] if r["symbol"] == "BTCUSDT")["series"][column] = text
        (folder / f"backtest_results_202601{day:02d}_000000.json").write_text(json.dumps(doc))

    closes = np.asarray(btc_plain["close"], "<f8")
    times = np.asarray(btc_plain["open_time"], "<i8")
    b64 = lambda a: base64.b64encode(a.tobytes()).decode()  # noqa: E731
    hostile(10, "close", "not base64!")
    hostile(11, "close", b64(closes)[:-4])  # 3 bytes short
    hostile(12, "close", b64(np.append(closes[:-1], np.nan)))
    hostile(13, "close", b64(closes[1:]))  # a value short
    hostile(14, "open_time", b64(times[::-1]))  # times backwards
    hostile(15, "low", b64(-np.asarray(btc_plain["low"], "<f8")))  # negative prices

    drop = DropFolder(folder, pool, settle_seconds=0, max_bytes=200 * 1024 * 1024)
    await drain(drop)
    processed, rejected = folder / "processed", folder / "rejected"
    for name in (
        new.name,
        "backtest_results_20260102_000000.json",
        "backtest_results_20260103_000000.json",
    ):
        assert reason(processed, name)["status"] == "ingested", name
    refused = {
        4: "open, high and low in a series need schema_version 2",
        5: "schema_version 3 packs each column of a series (encoding base64-le64)",
        6: "a packed series needs schema_version 3",
        10: "close is not base64",
        11: f"close holds {8 * len(closes) - 3} bytes, not a whole number of 8-byte values",
        12: "close holds NaN or infinity",
        13: f"close holds {len(closes) - 1} values, open_time {len(closes)}",
        14: "open_time is not strictly increasing at row 1",
        15: "low is not a finite positive number at row 0",
    }
    for day, why in refused.items():
        error = str(reason(rejected, f"backtest_results_202601{day:02d}_000000.json")["error"])
        assert why in error, (day, error)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT s.symbol, w.open IS NOT NULL AS candles, w.close, w.open_time
               FROM band_windows w JOIN signals s ON s.id = w.signal_id"""
        )
        assert await conn.fetchval("SELECT count(*) FROM signals WHERE symbol LIKE 'BAD%'") == 0
    stored = {r["symbol"]: r for r in rows}
    assert stored["BTCUSDT"]["candles"] is True
    assert stored["TWOBTCUSDT"]["candles"] is True
    assert stored["ONEBTCUSDT"]["candles"] is False  # closes only, as version 1 had them
    # packed or not, the same window stored (8-byte big-endian columns, migration 0009)
    for symbol in ("BTCUSDT", "TWOBTCUSDT", "ONEBTCUSDT"):
        assert np.frombuffer(stored[symbol]["close"], ">f8").tolist() == btc_plain["close"]
        assert np.frombuffer(stored[symbol]["open_time"], ">i8").tolist() == btc_plain["open_time"]


async def test_a_file_renamed_or_rewritten_while_read_never_stalls_the_folder(
    pool: asyncpg.Pool, scan_results: ResultsFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone renames one file in place right after the watcher read it, and rewrites
    another: neither is moved under a name it no longer has, the file behind them is taken
    in the same pass, and each file standing afterwards is taken on its own turn."""
    from autonama_ingestor import files

    folder = tmp_path / "drop"
    valid = write_results(scan_results, tmp_path / "src")
    good = json.loads(valid.read_text())
    folder.mkdir()
    renamed = folder / "backtest_results_20240101_000021.json"
    rewritten = folder / "backtest_results_20240101_000022.json"
    behind = folder / "backtest_results_20240101_000023.json"
    renamed.write_text(valid.read_text())
    other = json.loads(json.dumps(good))
    other["parameters"]["degree"] = 3
    rewritten.write_text(json.dumps(other))
    third = json.loads(json.dumps(good))
    third["parameters"]["degree"] = 5
    behind.write_text(json.dumps(third))
    read = files.read_file

    def read_then_interfere(path: Path, max_bytes: int) -> object:
        result = read(path, max_bytes)
        if path.name == renamed.name:
            os.replace(path, folder / "backtest_results_20240101_000029.json")
        elif path.name == rewritten.name:
            path.write_text(json.dumps(other) + "\n\n")  # a new version under the same name
        return result

    monkeypatch.setattr(files, "read_file", read_then_interfere)
    drop = DropFolder(folder, pool, settle_seconds=0, max_bytes=100 * 1024 * 1024)
    await drain(drop)  # no exception: the folder goes on

    processed, rejected = folder / "processed", folder / "rejected"
    assert reason(processed, behind.name)["status"] == "ingested"  # taken in the same pass
    assert not (processed / renamed.name).exists()
    assert not (processed / rewritten.name).exists()
    assert rewritten.exists()  # its new version waits for its own turn
    monkeypatch.setattr(files, "read_file", read)
    await drain(drop)
    # the new name and the new version are each taken: content already stored is a duplicate
    assert reason(rejected, "backtest_results_20240101_000029.json")["status"] == "duplicate"
    assert reason(processed, rewritten.name)["status"] == "ingested"  # its new bytes
    assert sorted(p.name for p in folder.glob("backtest_results_*")) == []
    history = await pool.fetch("SELECT file_name, status FROM ingestions ORDER BY id")
    names = [r["file_name"] for r in history]
    assert names.count(renamed.name) == 1  # what was read is recorded once
