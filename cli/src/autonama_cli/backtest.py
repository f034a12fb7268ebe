"""``autonama backtest``: trade the band signals through history, without look-ahead.

Sweeps degree x kstd x window (single values, lists ``2,4,6`` or ranges
``2:10`` / ``1.0:3.0:0.25``), chooses the best combination per symbol by a
metric (optionally on the first part of the history only, ``--split``, and
reports it on the rest), prints a table beside buy-and-hold, and writes
``backtest_report_YYYYMMDD_HHMMSS.json`` with PNGs: the equity curve against
buy-and-hold with the trades marked, and a degree x kstd heatmap.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table

from autonama_cli._console import progress_bar, stdout_console
from autonama_cli.logs import setup_logging
from autonama_cli.scan import build_source, config_from_args
from autonama_shared import __version__
from autonama_shared.engine.candles import Candles
from autonama_shared.engine.specs import (
    BacktestSpec,
    ScanSpec,
    TradeRules,
    normalise_symbols,
)
from autonama_shared.errors import ConfigError
from autonama_shared.formats.report import (
    BacktestReport,
    MetricsModel,
    write_report,
)

# matplotlib, numba's kernels and the sources are loaded once the arguments are valid: a
# refused flag answers at once.
if TYPE_CHECKING:
    from autonama_shared.runs.backtest import SymbolRun

__all__ = ["parse_values", "run"]

log = logging.getLogger("autonama.backtest")


def parse_values(text: str, kind: type, name: str) -> list[Any]:
    """``4``, ``2,4,6`` or an inclusive range ``2:10`` / ``1.0:3.0:0.25``.

    >>> parse_values("2:5", int, "--degree"), parse_values("1:2:0.5", float, "--kstd")
    ([2, 3, 4, 5], [1.0, 1.5, 2.0])
    """
    try:
        if ":" in text:
            parts = [kind(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else kind(1)
            if step <= 0 or stop < start:
                raise ConfigError(f"{name} {text!r}: the range must go up by a positive step")
            count = round((stop - start) / step) + 1
            values = [kind(round(start + i * step, 10)) for i in range(count)]
            return [v for v in values if v <= stop + 1e-9]
        return [kind(p) for p in text.split(",") if p.strip()]
    except ValueError as e:
        raise ConfigError(
            f"{name} {text!r} is not a value, a list (a,b,c) or a range (start:stop[:step])"
        ) from e


def _draw(
    folder: Path,
    candles: Candles,
    run: SymbolRun,
    metric: str,
    degrees: list[int],
    kstds: list[float],
) -> None:
    """The equity curve of the reported run against buy and hold, and the in-sample heatmap."""
    from autonama_shared.formats.plotting import equity_chart_png, heatmap_png

    if run.times is None or run.equity is None or run.hold is None:
        return
    split = run.row.out_of_sample is not None
    png = equity_chart_png(
        f"{candles.symbol} {candles.interval}: {run.title} against buy and hold",
        run.times.tolist(),
        run.equity,
        run.hold,
        run.entries,
        run.exits,
        notes=[
            "out of sample: the held-out bars after the ones the parameters were chosen on"
            if split
            else "walk-forward: the test parts chained"
            if run.row.folds
            else "in sample: chosen and traded on the same bars"
        ],
    )
    (folder / f"equity_{candles.symbol}_{candles.interval}.png").write_bytes(png)
    if run.sweep is not None and (len(degrees) > 1 or len(kstds) > 1):
        grid = np.full((len(degrees), len(kstds)), np.nan)
        for r in run.sweep.results:
            if r.combo.window == run.window:
                value = getattr(r.metrics, metric)
                grid[degrees.index(r.combo.degree), kstds.index(r.combo.kstd)] = value
        png = heatmap_png(
            f"{candles.symbol}: {metric} at window {run.window} (in sample)",
            degrees,
            kstds,
            grid,
            metric,
            chosen=(run.row.chosen.degree, run.row.chosen.kstd) if run.row.chosen else None,
        )
        (folder / f"heatmap_{candles.symbol}_{candles.interval}.png").write_bytes(png)


def run(args: argparse.Namespace) -> int:
    # --degree and --kstd are lists and ranges here: the source settings are read without them.
    source_args = {k: v for k, v in vars(args).items() if k not in ("degree", "kstd")}
    config = config_from_args(argparse.Namespace(**source_args))
    setup_logging(config.log_file, args.verbose)
    rules = TradeRules(
        fee=args.fee,
        slippage_bps=args.slippage_bps,
        allow_short=args.allow_short,
        stop_loss=args.stop_loss,
        max_hold=args.max_hold,
    )
    bt = BacktestSpec(
        interval=config.interval,
        degrees=tuple(parse_values(args.degree, int, "--degree")),
        kstds=tuple(parse_values(args.kstd, float, "--kstd")),
        windows=tuple(parse_values(args.window, int, "--window")),
        rules=rules,
        price_scale=config.price_scale,
        split=args.split,
        folds=args.folds,
        metric=args.metric,
        history=args.history,
    )
    symbols = normalise_symbols(config.symbols) if config.symbols else None
    spec = ScanSpec(interval=config.interval, symbols=symbols, top=config.top)
    from autonama_shared.runs.backtest import (
        metrics_model,
        parameters_of,
        portfolio,
        run_symbol,
    )
    from autonama_shared.runs.scan import fetch_all, resolve_universe

    source = build_source(config)
    err = Console(stderr=True)

    async def load() -> list[tuple[str, Candles | None, str | None]]:
        try:
            names = await resolve_universe(source, spec)
            return await fetch_all(
                source, names, config.interval, bt.history, concurrency=config.concurrency
            )
        finally:
            await source.close()

    loaded = asyncio.run(load())
    folder = config.output
    folder.mkdir(parents=True, exist_ok=True)
    runs = []
    with progress_bar(err) as progress:
        task = progress.add_task("backtesting", total=bt.combinations * len(loaded))
        for name, candles, error in loaded:
            done = progress.tasks[0].completed
            one = run_symbol(name, candles, error, bt, on_combo=lambda: progress.advance(task))
            progress.update(task, completed=done + bt.combinations)
            if candles is not None:
                _draw(folder, candles, one, bt.metric, list(bt.degrees), list(bt.kstds))
            runs.append(one)
    curves = [(r.times, r.equity) for r in runs if r.times is not None and r.equity is not None]
    holds = [(r.times, r.hold) for r in runs if r.times is not None and r.hold is not None]
    strategy, hold = portfolio(curves, bt.per_year), portfolio(holds, bt.per_year)
    rows = [r.row for r in runs]
    report_file = BacktestReport(
        engine_version=__version__,
        generated_at=datetime.now(UTC),
        parameters=parameters_of(bt, source.name),
        symbols=rows,
        portfolio=metrics_model(strategy) if strategy else None,
        portfolio_buy_and_hold=metrics_model(hold) if hold else None,
    )
    path = write_report(report_file, folder)
    _print(report_file, stdout_console())
    for r in rows:
        if r.error:
            err.print(f"{r.symbol}: {r.error}", style="yellow", soft_wrap=True, markup=False)
    print(f"report: {path} (charts: {folder}/equity_*.png, {folder}/heatmap_*.png)")
    return 0 if any(r.error is None for r in rows) else 1


def _print(report: BacktestReport, out: Console) -> None:
    p = report.parameters
    split = f", chosen on the first {p.split:.0%}, shown on the rest" if p.split else ""
    if p.folds:
        split = f", walk-forward over {p.folds} folds (the last fold's choice shown)"
    # Read at 80 columns: no vertical rules, the parameters in one column, CAGR only where
    # there is room, short headers (explained under the table).
    wide = out.width >= 100
    table = Table(
        title=f"{p.interval}, best by {p.metric}{split}; fee {p.fee:.2%} per side",
        box=None,  # no rules: 8 more columns for numbers
        pad_edge=False,
        header_style="bold underline",
        caption="deg/k/win: degree/kstd/window; ret, DD: return, max drawdown; hold: buy-and-hold",
    )
    names = ["symbol", "deg/k/win", "ret %", *(["CAGR %"] if wide else [])]
    names += ["Sharpe", "DD %", "trades", "win %", "hold %", "hold Sh"]
    for name in names:
        table.add_column(name, justify="left" if name == "symbol" else "right", no_wrap=True)

    def cells(m: MetricsModel | None) -> list[str]:
        if m is None:
            return [""] * (4 if wide else 3)
        return [
            f"{m.total_return * 100:.1f}",
            *([f"{m.cagr * 100:.1f}"] if wide else []),
            f"{m.sharpe:.2f}",
            f"{m.max_drawdown * 100:.1f}",
        ]

    for r in report.symbols:
        shown = r.folds[-1].chosen if r.folds else (r.out_of_sample or r.chosen)
        if shown is None:
            table.add_row(r.symbol, "error", *[""] * (len(names) - 2), style="dim")
            continue
        hold = r.buy_and_hold_out_of_sample or r.buy_and_hold
        m = r.walk_forward or shown.metrics
        table.add_row(
            r.symbol,
            f"{shown.degree}/{shown.kstd:g}/{shown.window}",
            *cells(m),
            str(m.trades),
            f"{m.win_rate * 100:.0f}",
            f"{hold.total_return * 100:.1f}" if hold else "",
            f"{hold.sharpe:.2f}" if hold else "",
        )
    if report.portfolio is not None:
        hold = report.portfolio_buy_and_hold
        table.add_row(
            "portfolio",
            "",
            *cells(report.portfolio),
            "",
            "",
            f"{hold.total_return * 100:.1f}" if hold else "",
            f"{hold.sharpe:.2f}" if hold else "",
            style="bold",
        )
    out.print(table)
