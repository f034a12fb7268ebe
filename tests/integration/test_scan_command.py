"""`autonama scan` end to end, as a user runs it: a subprocess against the Binance stand-in."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from numpy.testing import assert_allclose

from autonama_shared.formats.results import generated_schema, results_schema
from tests.naive import naive_fit
from tests.support.binance_standin import StandIn

MAJORS = "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,XRPUSDT,ADAUSDT,DOGEUSDT,AVAXUSDT,LINKUSDT,LTCUSDT"


def autonama(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autonama_cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def only_results_file(folder: Path) -> dict[str, Any]:
    files = list(folder.glob("backtest_results_*.json"))
    assert len(files) == 1, files
    assert re.fullmatch(r"backtest_results_\d{8}_\d{6}\.json", files[0].name)
    data: dict[str, Any] = json.loads(files[0].read_text())
    return data


@pytest.mark.slow
def test_scan_of_ten_majors_matches_an_independent_fit(standin: StandIn, tmp_path: Path) -> None:
    run = autonama(
        "scan",
        "--symbols",
        MAJORS,
        "--binance-url",
        standin.url,
        "--degree",
        "5",
        "--kstd",
        "1.5",
        "--price-scale",
        "log",
        "--charts",
        "charts",
        "--output",
        "out",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    data = only_results_file(tmp_path / "out")
    jsonschema.validate(data, results_schema())
    assert data["parameters"] == {
        "interval": "1d",
        "degree": 5,
        "kstd": 1.5,
        "days": 720,
        "window": 720,
        "price_scale": "log",
        "source": "binance",
        "universe": "symbols",
    }
    assert [r["symbol"] for r in data["results"]] == MAJORS.split(",")
    step = 86_400_000
    for r in data["results"]:
        rows = standin.klines[(r["symbol"], "1d")]
        closed = rows[rows[:, 0] + step <= standin.now_ms][-720:]
        closes = closed[:, 4]
        fit, lower, upper, sigma = naive_fit(closes, 5, 1.5, "log")
        assert r["candles"] == len(closes)
        assert r["partial_window"] == (len(closes) < 720)
        assert_allclose(
            [r["fit"], r["lower"], r["upper"]], [fit[-1], lower[-1], upper[-1]], rtol=1e-9
        )
        assert_allclose(r["sigma"], sigma, rtol=1e-9)
        assert r["price"] == closes[-1]
        expected = "BUY" if closes[-1] < lower[-1] else "SELL" if closes[-1] > upper[-1] else "HOLD"
        assert r["signal"] == expected
        series = r["series"]  # packed: base64 of little-endian int64 / float64 columns
        assert series["encoding"] == "base64-le64"
        times = np.frombuffer(base64.b64decode(series["open_time"]), "<i8")
        assert times.tolist() == closed[:, 0].astype(np.int64).tolist()
        assert_allclose(np.frombuffer(base64.b64decode(series["upper"]), "<f8"), upper, rtol=1e-9)
        assert np.frombuffer(base64.b64decode(series["close"]), "<f8").tolist() == closes.tolist()
        png = tmp_path / "charts" / f"{r['symbol']}_1d.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "results: out/backtest_results_" in run.stdout
    assert (tmp_path / "local_backtest_engine.log").stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--degree", "11"], "degree must be an integer from 2 to 10, got 11"),
        (["--degree", "1"], "degree must be an integer from 2 to 10, got 1"),
        (["--kstd", "0.5"], "kstd must be from 1.0 to 3.0, got 0.5"),
        (["--kstd", "3.5"], "kstd must be from 1.0 to 3.0, got 3.5"),
        (["--days", "721"], "days must be from 1 to 720, got 721"),
        (["--days", "0"], "days must be from 1 to 720, got 0"),
        (["--interval", "7m"], "unknown interval '7m'"),
        (["--symbols", "BTC/USDT"], "symbol 'BTC/USDT' is not a Binance symbol"),
        (["--top", "0"], "top must be from 1 to 1000, got 0"),
    ],
)
def test_out_of_range_arguments_are_refused_not_clamped(
    tmp_path: Path, args: list[str], message: str
) -> None:
    run = autonama("scan", *args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr
    assert not (tmp_path / "results").exists()


def test_flags_over_environment_over_config_file(standin: StandIn, tmp_path: Path) -> None:
    (tmp_path / "autonama.toml").write_text(
        f'degree = 3\nkstd = 2.5\nsymbols = ["BTCUSDT"]\ndays = 100\n'
        f'[binance]\nbase_url = "{standin.url}"\n'
    )
    env = {"AUTONAMA_DEGREE": "5", "AUTONAMA_DAYS": "200"}
    run = autonama("scan", "--config", "autonama.toml", "--days", "300", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    params = only_results_file(tmp_path / "results")["parameters"]
    assert (params["degree"], params["kstd"], params["days"]) == (5, 2.5, 300)


def test_api_secret_is_never_printed_or_logged(standin: StandIn, tmp_path: Path) -> None:
    env = {"BINANCE_API_KEY": "key-4f9a2c", "BINANCE_API_SECRET": "secret-8d1e7b"}
    run = autonama(
        "scan", "-v", "--symbols", "BTCUSDT", "--binance-url", standin.url, cwd=tmp_path, env=env
    )
    assert run.returncode == 0, run.stderr
    log_text = (tmp_path / "local_backtest_engine.log").read_text()
    for secret in env.values():
        assert secret not in run.stdout
        assert secret not in run.stderr
        assert secret not in log_text


def test_unreachable_binance_says_so_in_one_line(tmp_path: Path) -> None:
    run = autonama("scan", "--binance-url", "http://127.0.0.1:9", cwd=tmp_path)
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "cannot reach Binance at http://127.0.0.1:9" in lines[0]
    assert "DATA=<folder of candle files>" in lines[0]


def test_symbol_errors_are_listed_and_the_scan_goes_on(standin: StandIn, tmp_path: Path) -> None:
    run = autonama(
        "scan", "--symbols", "BTCUSDT,NOSUCHUSDT", "--binance-url", standin.url, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    results = {r["symbol"]: r for r in only_results_file(tmp_path / "results")["results"]}
    assert results["BTCUSDT"]["error"] is None
    assert "Invalid symbol" in results["NOSUCHUSDT"]["error"]
    assert results["NOSUCHUSDT"]["signal"] == "HOLD"
    assert "NOSUCHUSDT: Binance refused" in run.stderr


def test_scan_of_local_files(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "klines" / "until-2022-10" / "1d"
    run = autonama("scan", "--data", str(data), "--top", "5", "--days", "365", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    results = only_results_file(tmp_path / "results")
    assert results["parameters"]["source"] == "files"
    assert len(results["results"]) == 5


def test_published_schema_is_the_models_schema() -> None:
    assert results_schema() == generated_schema(), "run `make schema` and commit the file"


@pytest.mark.slow
def test_the_interval_of_a_folder_is_read_from_its_files(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "klines" / "until-2022-10" / "4h"
    run = autonama("scan", "--data", str(data), "--top", "3", "--days", "60", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "interval 4h, from the candle files" in run.stderr
    results = only_results_file(tmp_path / "results")
    assert results["parameters"]["interval"] == "4h"
    assert {r["interval"] for r in results["results"]} == {"4h"}
    # A folder of several intervals needs one chosen; a given one is never overridden.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for interval in ("1d", "4h"):
        source = shared_data / "klines" / "until-2022-10" / interval / "BTCUSDT.csv"
        (mixed / f"BTCUSDT-{interval}.csv").write_bytes(source.read_bytes())
    refused = autonama("scan", "--data", str(mixed), cwd=tmp_path)
    assert refused.returncode == 2
    assert "hold several intervals (4h, 1d): choose one with --interval" in refused.stderr
    chosen = autonama("scan", "--data", str(data), "--interval", "1d", cwd=tmp_path)
    assert chosen.returncode != 0  # 4h files only: nothing to scan at 1d, said so
    assert "1d" in chosen.stderr


def test_unreadable_files_are_named_not_skipped_silently(shared_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for f in sorted((shared_data / "klines" / "until-2022-10" / "1d").iterdir())[:3]:
        (data / f.name).write_bytes(f.read_bytes())
    broken = data / "XRPUSDT-1d-2022-09.zip"  # a Binance dump's name, not a ZIP inside
    broken_name = broken.name
    broken.write_bytes(b"PK\x03\x04 not a zip at all")
    symbols = ",".join([*sorted(f.name.split(".")[0] for f in data.glob("*.csv")), "XRPUSDT"])
    run = autonama("scan", "--data", str(data), "--symbols", symbols, "--days", "365", cwd=tmp_path)
    assert run.returncode == 0, run.stderr  # the readable files are scanned
    assert f"{broken_name}: cannot read: File is not a zip file" in run.stderr  # named, and why


def test_an_asset_alone_gets_a_did_you_mean(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "klines" / "until-2022-10" / "1d"
    run = autonama("scan", "--data", str(data), "--symbols", "BTC,ETHUSDT", cwd=tmp_path)
    assert run.returncode == 0, run.stderr  # ETHUSDT was scanned
    assert "BTC: " in run.stderr
    assert "(did you mean BTCUSDT?)" in run.stderr
    assert not any(line.startswith("ETHUSDT:") for line in run.stderr.splitlines())


def test_messages_name_the_flags_that_were_typed(tmp_path: Path) -> None:
    refused = autonama("request-scan", "--data", str(tmp_path), cwd=tmp_path)
    assert refused.returncode == 2
    assert "--data and --source files do not apply" in refused.stderr
    window = autonama("backtest", "--symbols", "BTCUSDT", "--window", "2000", cwd=tmp_path)
    assert window.returncode == 2
    assert "--window 2000 needs at least 2002 candles of history" in window.stderr
    assert "raise --history" in window.stderr
