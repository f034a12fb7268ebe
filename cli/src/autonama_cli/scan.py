"""``autonama scan``: the offline engine. No broker, no database.

Fetch candles (Binance or local files), compute the bands of every symbol,
print a table sorted by potential return, write
``backtest_results_YYYYMMDD_HHMMSS.json`` and, with ``--charts``, one PNG per symbol.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from autonama_cli._console import stdout_console
from autonama_cli.config import ScanConfig, load_config
from autonama_cli.logs import setup_logging
from autonama_shared.bands import BandParams
from autonama_shared.errors import ConfigError, TemporaryError
from autonama_shared.intervals import INTERVALS
from autonama_shared.plotting import draw_symbol_chart
from autonama_shared.results import ResultsFile, SymbolResult, from_report, write_results
from autonama_shared.scan import ScanReport, ScanSpec, normalise_symbols, run_scan
from autonama_shared.sources.base import CandleSource
from autonama_shared.sources.binance import BinanceSource
from autonama_shared.sources.cache import KlineCache
from autonama_shared.sources.files import FileSource

__all__ = [
    "add_parser",
    "add_scan_options",
    "add_source_options",
    "build_source",
    "config_from_args",
    "run",
    "spec_from_config",
]

log = logging.getLogger("autonama.scan")


def add_scan_options(p: argparse.ArgumentParser) -> None:
    """The universe, source and band options shared by scan and request-scan."""
    add_source_options(p)
    p.add_argument("--degree", type=int, help="polynomial degree, 2 to 10 (4)")
    p.add_argument("--kstd", type=float, help="band width in residual std, 1.0 to 3.0 (2.0)")
    p.add_argument("--days", type=int, help="days of candles in the window, 1 to 720 (720)")


def add_source_options(p: argparse.ArgumentParser) -> None:
    """Where candles come from and for which symbols (scan, request-scan, backtest)."""
    p.add_argument("--config", type=Path, help="JSON or TOML file of settings")
    universe = p.add_mutually_exclusive_group()
    universe.add_argument("--symbols", help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT")
    universe.add_argument("--top", type=int, metavar="N", help="the N USDT pairs by 24h volume")
    universe.add_argument("--top-100", action="store_true", help="the top 100 by 24h volume")
    p.add_argument("--interval", help=f"candle interval, one of {', '.join(INTERVALS)} (1d)")
    p.add_argument("--price-scale", choices=["linear", "log"], help="fit prices or ln prices")
    p.add_argument("--source", choices=["binance", "files"], help="where candles come from")
    p.add_argument("--data", type=Path, help="candle file or folder for --source files")
    p.add_argument("--data-symbol", help="the symbol of a --data file whose name does not say it")
    p.add_argument("--cache-dir", type=Path, help="candle cache folder (cache/)")
    p.add_argument("--refresh", action="store_true", default=None, help="ignore the cache")
    p.add_argument("--binance-url", help="Binance REST base URL (testnet, mirror, stand-in)")
    p.add_argument("--log-file", type=Path, help="rotating log file (local_backtest_engine.log)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress on stderr too")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("scan", help="scan markets offline and write a results file")
    add_scan_options(p)
    p.add_argument("--output", type=Path, help="folder for the results file (results/)")
    p.add_argument("--charts", type=Path, metavar="DIR", help="write one PNG chart per symbol")
    p.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> ScanConfig:
    flags: dict[str, Any] = {
        "interval": args.interval,
        "degree": getattr(args, "degree", None),
        "kstd": getattr(args, "kstd", None),
        "days": getattr(args, "days", None),
        "price_scale": args.price_scale,
        "source": args.source,
        "data": args.data,
        "data_symbol": args.data_symbol.upper() if args.data_symbol else None,
        "cache_dir": args.cache_dir,
        "refresh": args.refresh,
        "log_file": args.log_file,
        "output": getattr(args, "output", None),
        "charts": getattr(args, "charts", None),
        "top": 100 if args.top_100 else args.top,
        "symbols": args.symbols.split(",") if args.symbols else None,
    }
    if args.data is not None and args.source is None:
        flags["source"] = "files"
    config = load_config(args.config, flags)
    if args.binance_url:
        config = config.model_copy(
            update={"binance": config.binance.model_copy(update={"base_url": args.binance_url})}
        )
    return config


def spec_from_config(config: ScanConfig) -> ScanSpec:
    params = BandParams(degree=config.degree, kstd=config.kstd, price_scale=config.price_scale)
    symbols = normalise_symbols(config.symbols) if config.symbols else None
    if symbols is not None and config.top is not None:
        raise ConfigError("give either --symbols or --top, not both")
    return ScanSpec(
        interval=config.interval, days=config.days, params=params, symbols=symbols, top=config.top
    )


def build_source(config: ScanConfig) -> CandleSource:
    if config.source == "files":
        if config.data is None:
            raise ConfigError("--source files needs --data FILE_OR_FOLDER")
        return FileSource(config.data, interval=config.interval, symbol=config.data_symbol)
    return BinanceSource(
        config.binance, cache=KlineCache(config.cache_dir, "binance"), refresh=config.refresh
    )


async def _scan(
    source: CandleSource, spec: ScanSpec, config: ScanConfig, err: Console
) -> ScanReport:
    try:
        if isinstance(source, BinanceSource):
            await source.check_reachable()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task("resolving symbols", total=None)

            def universe(symbols: list[str]) -> None:
                progress.update(task, description="fetching candles", total=len(symbols))

            def fetched(symbol: str, error: str | None) -> None:
                progress.advance(task)
                if error:
                    log.info("%s: %s", symbol, error)  # listed on stderr at the end

            return await run_scan(
                source, spec, concurrency=config.concurrency,
                on_universe=universe, on_fetched=fetched,
            )  # fmt: skip
    finally:
        await source.close()


def _sort_key(r: SymbolResult) -> tuple[int, float]:
    rank = {"BUY": 0, "SELL": 0, "HOLD": 1}[r.signal] + (2 if r.error else 0)
    return rank, -r.potential_return


def print_table(results: ResultsFile, out: Console) -> None:
    p = results.parameters
    table = Table(
        title=f"{p.interval}, degree {p.degree}, kstd {p.kstd}, {p.days} days, "
        f"{p.price_scale} ({p.source})"
    )
    for name in ("symbol", "signal", "price", "lower", "fit", "upper", "potential %", "to fit %",
                 "candles"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("symbol", "signal") else "right")
    style = {"BUY": "bold green", "SELL": "bold red", "HOLD": ""}
    for r in sorted(results.results, key=_sort_key):
        if r.error:
            table.add_row(r.symbol, "ERROR", "", "", "", "", "", "", str(r.candles), style="dim")
            continue
        table.add_row(
            r.symbol,
            f"[{style[r.signal]}]{r.signal}[/]" if style[r.signal] else r.signal,
            f"{r.price:.6g}", f"{r.lower:.6g}", f"{r.fit:.6g}", f"{r.upper:.6g}",
            f"{r.potential_return:.2f}", f"{r.target_return:+.2f}",
            f"{r.candles}{' (partial)' if r.partial_window else ''}",
        )  # fmt: skip
    out.print(table)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    setup_logging(config.log_file, args.verbose)
    spec = spec_from_config(config)
    source = build_source(config)
    out, err = stdout_console(), Console(stderr=True)
    log.info("scan %s %s days %d params %s source %s", spec.universe, spec.interval, spec.days,
             spec.params, source.name)  # fmt: skip
    try:
        report = asyncio.run(_scan(source, spec, config, err))
    except TemporaryError as e:
        err.print(
            f"autonama scan: {e}; run offline with DATA=<folder of candle files>",
            soft_wrap=True,
            markup=False,
        )
        log.info("scan stopped: %s", e)
        return 1
    results = from_report(report)
    path = write_results(results, config.output)
    print_table(results, out)
    if config.charts is not None:
        drawn = [draw_symbol_chart(r, config.charts) for r in results.results]
        out.print(f"charts: {sum(d is not None for d in drawn)} PNG files in {config.charts}")
    failed = [r for r in results.results if r.error]
    for r in failed:
        err.print(f"{r.symbol}: {r.error}", style="yellow", soft_wrap=True, markup=False)
    out.print(f"results: {path}")
    log.info("wrote %s (%d symbols, %d failed)", path, len(results.results), len(failed))
    if len(failed) == len(results.results):
        err.print("autonama scan: no symbol could be scanned", soft_wrap=True)
        return 1
    return 0
