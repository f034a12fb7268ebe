"""`autonama backtest` as a user runs it, on real daily candles from ../shared/data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from autonama_shared.formats.report import generated_report_schema, report_schema


def backtest(*args: str, cwd: Path, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autonama_cli", "backtest", *args],
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"}
        | ({"COLUMNS": str(columns)} if columns else {}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def report_in(folder: Path) -> dict[str, Any]:
    (path,) = folder.glob("backtest_report_*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_sweep_report_charts_and_best_choice(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "klines" / "until-2022-10" / "1d"
    run = backtest(
        "--data",
        str(data),
        "--symbols",
        "BTCUSDT,ETHUSDT,APEUSDT",
        "--degree",
        "2:4",
        "--kstd",
        "1.5:2.5:0.5",
        "--window",
        "200,365",
        "--output",
        "out",
        cwd=tmp_path,
        columns=80,  # as in an 80-column terminal
    )
    assert run.returncode == 0, run.stderr
    report = report_in(tmp_path / "out")
    jsonschema.validate(report, report_schema())
    assert report["parameters"]["degrees"] == [2, 3, 4]
    assert report["parameters"]["kstds"] == [1.5, 2.0, 2.5]
    by_symbol = {s["symbol"]: s for s in report["symbols"]}
    assert "fewer than the window" in by_symbol["APEUSDT"]["error"]
    for symbol in ("BTCUSDT", "ETHUSDT"):
        s = by_symbol[symbol]
        assert len(s["combinations"]) == 3 * 3 * 2
        best = max(s["combinations"], key=lambda c: c["metrics"]["sharpe"])
        assert s["chosen"]["metrics"]["sharpe"] == best["metrics"]["sharpe"]
        assert s["chosen"]["metrics"]["trades"] == len(s["trades"])
        assert all(t["entry_time"] > t["signal_time"] for t in s["trades"])  # next open
        assert (tmp_path / "out" / f"equity_{symbol}_1d.png").read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / "out" / f"heatmap_{symbol}_1d.png").exists()
    assert report["portfolio"] is not None
    assert "portfolio" in run.stdout
    # The table reads at 80 columns: no line wider, and each symbol's row whole (no cell
    # wrapped onto a second line), its chosen parameters in one cell.
    table = [line for line in run.stdout.splitlines() if not line.startswith("report: ")]
    assert max(len(line) for line in table) <= 80
    btc = by_symbol["BTCUSDT"]["chosen"]
    row = next(line for line in table if "BTCUSDT" in line)
    assert f"{btc['degree']}/{btc['kstd']:g}/{btc['window']}" in row
    assert f"{btc['metrics']['sharpe']:.2f}" in row
    assert "APEUSDT: 208 candles are fewer than the window" in run.stderr


def test_split_reports_the_in_sample_choice_out_of_sample(
    shared_data: Path, tmp_path: Path
) -> None:
    data = shared_data / "klines" / "until-2022-10" / "1d"
    run = backtest(
        "--data",
        str(data),
        "--symbols",
        "BTCUSDT",
        "--degree",
        "2:5",
        "--kstd",
        "1.5,2",
        "--split",
        "0.6",
        "--allow-short",
        "--stop-loss",
        "0.1",
        "--max-hold",
        "60",
        "--output",
        "out",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    (s,) = report_in(tmp_path / "out")["symbols"]
    chosen, tested = s["chosen"], s["out_of_sample"]
    assert (chosen["degree"], chosen["kstd"], chosen["window"]) == (
        tested["degree"],
        tested["kstd"],
        tested["window"],
    )
    assert all(t["entry_time"] >= s["first_time"] for t in s["trades"])
    assert s["buy_and_hold_out_of_sample"] is not None
    assert any(t["side"] == "short" for t in s["trades"]) or not s["trades"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--degree", "2:x"], "--degree '2:x' is not a value, a list"),
        (["--degree", "2:12"], "--degree 11 is outside 2 to 10"),
        (["--kstd", "0.5"], "--kstd 0.5 is outside 1.0 to 3.0"),
        (["--kstd", "3:1"], "the range must go up"),
        (["--window", "10"], "--window 10 must be from 30"),
        (["--split", "0.95"], "--split must be from 0.1 to 0.9"),
        (["--fee", "0.5"], "fee must be from 0 to 0.1"),
        (["--stop-loss", "2"], "stop-loss must be a fraction"),
    ],
)
def test_bad_arguments_are_refused(
    shared_data: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    data = shared_data / "klines" / "until-2022-10" / "1d"
    run = backtest("--data", str(data), *args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr


def test_published_report_schema_is_the_models_schema() -> None:
    assert report_schema() == generated_report_schema(), "run `make schema` and commit the file"


@pytest.mark.slow
def test_walk_forward_folds(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "klines" / "until-2022-10" / "1d"
    sweep = ["--degree", "2:5", "--kstd", "1.5,2", "--window", "200", "--folds", "3"]
    run = backtest(
        "--data", str(data), "--symbols", "ETHUSDT", *sweep, "--output", "out", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    report = report_in(tmp_path / "out")
    jsonschema.validate(report, report_schema())
    (s,) = report["symbols"]
    assert len(s["folds"]) == 3
    assert [f["test_start"] > f["train_end"] for f in s["folds"]] == [True] * 3
    assert s["walk_forward"]["trades"] == len(s["trades"])
    assert s["first_time"] == s["folds"][0]["test_start"]
    assert "walk-forward over 3 folds" in run.stdout
    both = backtest("--data", str(data), "--folds", "3", "--split", "0.5", cwd=tmp_path)
    assert both.returncode == 2
    assert "give --split or --folds, not both" in both.stderr
