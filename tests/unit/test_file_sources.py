"""Candle files of the three formats, read through FileSource, against the raw shared data."""

from __future__ import annotations

import asyncio
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from autonama_shared.errors import ConfigError, DataError
from autonama_shared.sources.files import FileSource, read_candle_file
from tests.naive import read_closes

DAY = 86_400_000


def binance_row(t_ms: int, o: float, h: float, low: float, c: float, v: float, us: bool) -> str:
    scale = 1000 if us else 1
    close_time = (t_ms + DAY - 1) * scale + (999 if us else 0)
    quote = f"{c * v:.4f},123,{v / 2},{c * v / 2:.4f},0"
    return f"{t_ms * scale},{o},{h},{low},{c},{v},{close_time},{quote}"


@pytest.fixture
def btc_daily(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    return read_closes(shared_data / "klines" / "until-2026-03" / "1d" / "BTCUSDT.csv")


def make_monthly_dumps(folder: Path, times: np.ndarray, closes: np.ndarray, header: bool) -> None:
    """Binance's monthly dump ZIPs: ms timestamps before 2025, microseconds from 2025."""
    months: dict[str, list[str]] = {}
    for t, c in zip(times.tolist(), closes.tolist(), strict=True):
        day = datetime.fromtimestamp(t / 1000, tz=UTC)
        line = binance_row(t, c, c * 1.01, c * 0.99, c, 10.0, us=day.year >= 2025)
        months.setdefault(day.strftime("%Y-%m"), []).append(line)
    for month, lines in months.items():
        name = f"BTCUSDT-1d-{month}"
        text = "\n".join(lines) + "\n"
        if header:
            text = (
                "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                "taker_buy_volume,taker_buy_quote_volume,ignore\n" + text
            )
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as zf:
            zf.writestr(f"{name}.csv", text)


@pytest.mark.parametrize("header", [False, True])
async def test_monthly_dump_zips_across_2025(
    tmp_path: Path, btc_daily: tuple[np.ndarray, np.ndarray], header: bool
) -> None:
    times, closes = btc_daily
    pick = (times >= 1_727_740_800_000) & (times < 1_746_057_600_000)  # 2024-10 .. 2025-04
    make_monthly_dumps(tmp_path, times[pick], closes[pick], header)
    source = FileSource(tmp_path)
    assert source.symbols("1d") == ["BTCUSDT"]
    candles = await source.fetch("BTCUSDT", "1d", 10_000)
    assert_array_equal(candles.open_time, times[pick])
    assert_array_equal(candles.close, closes[pick])
    assert len({t // DAY for t in candles.open_time.tolist()}) == pick.sum()


async def test_freqtrade_json(shared_data: Path) -> None:
    path = shared_data / "original-formats" / "BTC_USDT-1d.json"
    rows = json.loads(path.read_text())
    candles = read_candle_file(path)
    assert (candles.symbol, candles.interval) == ("BTCUSDT", "1d")
    assert len(candles) == len(rows)
    assert candles.open_time[0] == 1502928000000
    assert candles.close[0] == 4285.08
    assert_array_equal(candles.close, [r[4] for r in rows])


async def test_csv_with_iso_timestamps_and_binance_column_names(shared_data: Path) -> None:
    path = shared_data / "original-formats" / "ETHUSDT_1d.csv"
    candles = read_candle_file(path)
    assert (candles.symbol, candles.interval) == ("ETHUSDT", "1d")
    assert candles.open_time[0] == 1710633600000  # 2024-03-17 00:00 UTC
    assert candles.close[0] == 3644.71
    assert bool(np.all(np.diff(candles.open_time) == DAY))


async def test_normalised_csv_takes_the_interval_from_its_folder(shared_data: Path) -> None:
    folder = shared_data / "klines" / "until-2022-10" / "4h"
    source = FileSource(folder)
    candles = await source.fetch("ETHUSDT", "4h", 500)
    times, closes = read_closes(folder / "ETHUSDT.csv")
    assert_array_equal(candles.close, closes[-500:])
    assert_array_equal(candles.open_time, times[-500:])


async def test_bad_row_names_file_and_line_and_spares_other_symbols(tmp_path: Path) -> None:
    good = "open_time,open,high,low,close,volume\n" + "".join(
        f"{i * DAY},{100 + i},{101 + i},{99 + i},{100 + i},5\n" for i in range(40)
    )
    (tmp_path / "AAAUSDT_1d.csv").write_text(good)
    lines = good.splitlines()
    lines[7] = f"{6 * DAY},106,107,105,oops,5"
    (tmp_path / "BBBUSDT_1d.csv").write_text("\n".join(lines) + "\n")
    source = FileSource(tmp_path)
    assert len(await source.fetch("AAAUSDT", "1d", 100)) == 40
    with pytest.raises(DataError, match=r"BBBUSDT_1d\.csv:8: close 'oops' is not valid"):
        await source.fetch("BBBUSDT", "1d", 100)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{t},1,2,0.5,-3,5", "close '-3' is not valid"),
        ("{t},1,2,0.5,nan,5", "close 'nan' is not valid"),
        ("soon,1,2,0.5,1.5,5", "open_time 'soon' is not a number"),
        ("{t},1,2,0.5,1.5", "volume"),
    ],
)
def test_bad_values_are_errors_never_dropped(tmp_path: Path, row: str, message: str) -> None:
    lines = ["open_time,open,high,low,close,volume"] + [
        f"{i * DAY},1,2,0.5,1.5,5" for i in range(5)
    ]
    lines.append(row.format(t=5 * DAY))
    path = tmp_path / "XUSDT_1d.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message):
        read_candle_file(path)


def test_mixed_timestamp_units_in_one_file_are_refused(tmp_path: Path) -> None:
    rows = [binance_row(i * DAY + 1_735_689_600_000, 1, 2, 0.5, 1.5, 5, us=i > 2) for i in range(5)]
    path = tmp_path / "BTCUSDT-1d-2025-01.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"BTCUSDT-1d-2025-01\.csv:4: open_time mixes"):
        read_candle_file(path)


def test_overlapping_files_of_one_symbol_are_refused(
    tmp_path: Path, btc_daily: tuple[np.ndarray, np.ndarray]
) -> None:
    times, closes = btc_daily
    make_monthly_dumps(tmp_path, times[:40], closes[:40], header=False)
    first = sorted(tmp_path.iterdir())[0]
    (tmp_path / first.name.replace(".zip", "-01.zip")).write_bytes(first.read_bytes())
    source = FileSource(tmp_path)
    with pytest.raises(DataError, match="also appear in another file"):
        asyncio.run(source.fetch("BTCUSDT", "1d", 100))


async def test_freely_named_file_takes_symbol_and_interval_from_flags(
    shared_data: Path, tmp_path: Path
) -> None:
    original = shared_data / "original-formats" / "BTC_USDT-1d.json"
    path = tmp_path / "my candles.json"
    path.write_bytes(original.read_bytes())
    source = FileSource(path, interval="1d", symbol="BTCUSDT")
    candles = await source.fetch("BTCUSDT", "1d", 50)
    assert_array_equal(candles.close, read_candle_file(original).close[-50:])
    with pytest.raises(ConfigError, match="no candle files"):
        FileSource(path)  # without the flags nothing says what the file holds


def test_missing_folder_and_empty_folder_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        FileSource(tmp_path / "nope")
    with pytest.raises(ConfigError, match="no candle files"):
        FileSource(tmp_path)
