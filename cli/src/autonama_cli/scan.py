"""``autonama scan``: the offline engine. No broker, no database.

Fetch candles (Binance or local files), compute the bands of every symbol,
print a table sorted by potential return, write
``backtest_results_YYYYMMDD_HHMMSS.json`` and, with ``--charts``, one PNG per symbol.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from autonama_cli._console import progress_bar, stdout_console
from autonama_cli.config import ScanConfig, load_config
from autonama_cli.logs import setup_logging
from autonama_shared.engine.specs import BandParams, ScanSpec, normalise_symbols
from autonama_shared.errors import ConfigError, TemporaryError

# pandas, matplotlib, python-binance and the engine are loaded once the arguments are
# valid: a refused flag answers at once (measured: 4.3 s -> 0.8 s of CPU for a refusal).
if TYPE_CHECKING:
    from autonama_shared.formats.results import ResultsFile, SymbolResult
    from autonama_shared.runs.scan import ScanReport
    from autonama_shared.sources.base import CandleSource

__all__ = [
    "build_source",
    "config_from_args",
    "interval_from_files",
    "run",
    "spec_from_config",
]

log = logging.getLogger("autonama.scan")


#: Quote assets of Binance spot pairs: a symbol ending in none of them is likely a base alone.
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL")


def did_you_mean(symbol: str) -> str:
    """A hint for a symbol that names an asset, not a pair (BTC: did you mean BTCUSDT?).

    >>> did_you_mean("BTC"), did_you_mean("ETHBTC")
    (' (did you mean BTCUSDT?)', '')
    """
    if any(symbol.endswith(q) and len(symbol) > len(q) for q in QUOTES):
        return ""
    return f" (did you mean {symbol}USDT?)"


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


def interval_from_files(config: ScanConfig) -> ScanConfig:
    """``config`` with the interval its candle files hold, when it reads files (its interval
    was not given); several intervals are refused, naming them."""
    if config.source != "files" or config.data is None:
        return config
    from autonama_shared.sources.files import FileSource

    held = FileSource(config.data, symbol=config.data_symbol).intervals()
    if len(held) > 1:
        raise ConfigError(
            f"the files in {config.data} hold several intervals "
            f"({', '.join(held)}): choose one with --interval"
        )
    return config.model_copy(update={"interval": held[0]})


def build_source(config: ScanConfig) -> CandleSource:
    if config.source == "files":
        from autonama_shared.sources.files import FileSource

        if config.data is None:
            raise ConfigError("--source files needs --data FILE_OR_FOLDER")
        return FileSource(config.data, interval=config.interval, symbol=config.data_symbol)
    from autonama_shared.sources.binance import BinanceSource
    from autonama_shared.sources.cache import KlineCache

    return BinanceSource(
        config.binance, cache=KlineCache(config.cache_dir, "binance"), refresh=config.refresh
    )


async def _scan(
    source: CandleSource, spec: ScanSpec, config: ScanConfig, err: Console
) -> ScanReport:
    from autonama_shared.runs.scan import run_scan

    try:
        check = getattr(source, "check_reachable", None)  # an exchange, not files
        if check is not None:
            await check()
        with progress_bar(err) as progress:
            task = progress.add_task("resolving symbols", total=None)

            def universe(symbols: list[str]) -> None:
                progress.update(task, description="fetching candles", total=len(symbols))

            def fetched(symbol: str, error: str | None) -> None:
                progress.advance(task)
                if error:
                    log.info("%s: %s", symbol, error)  # listed on stderr at the end

            return await run_scan(
                source,
                spec,
                concurrency=config.concurrency,
                on_universe=universe,
                on_fetched=fetched,
            )
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
    for name in (
        "symbol",
        "signal",
        "price",
        "lower",
        "fit",
        "upper",
        "potential %",
        "to fit %",
        "candles",
    ):
        table.add_column(name, justify="left" if name in ("symbol", "signal") else "right")
    style = {"BUY": "bold green", "SELL": "bold red", "HOLD": ""}
    for r in sorted(results.results, key=_sort_key):
        if r.error:
            table.add_row(r.symbol, "ERROR", "", "", "", "", "", "", str(r.candles), style="dim")
            continue
        table.add_row(
            r.symbol,
            f"[{style[r.signal]}]{r.signal}[/]" if style[r.signal] else r.signal,
            f"{r.price:.6g}",
            f"{r.lower:.6g}",
            f"{r.fit:.6g}",
            f"{r.upper:.6g}",
            f"{r.potential_return:.2f}",
            f"{r.target_return:+.2f}",
            f"{r.candles}{' (partial)' if r.partial_window else ''}",
        )
    out.print(table)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    setup_logging(config.log_file, args.verbose)
    if args.interval is None:
        config = interval_from_files(config)
    spec = spec_from_config(config)
    source = build_source(config)
    from autonama_shared.formats.results import write_results
    from autonama_shared.runs.scan import results_file

    out, err = stdout_console(), Console(stderr=True)
    if config.source == "files":
        if args.interval is None:
            err.print(f"interval {spec.interval}, from the candle files", soft_wrap=True)
        for problem in getattr(source, "problems", ()):  # never skipped silently
            err.print(f"skipped: {problem}", style="yellow", soft_wrap=True, markup=False)
    log.info(
        "scan %s %s days %d params %s source %s",
        spec.universe,
        spec.interval,
        spec.days,
        spec.params,
        source.name,
    )
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
    results = results_file(report)
    path = write_results(results, config.output)
    print_table(results, out)
    if config.charts is not None:
        from autonama_shared.formats.plotting import draw_symbol_chart

        drawn = [draw_symbol_chart(r, config.charts, results.parameters) for r in results.results]
        out.print(f"charts: {sum(d is not None for d in drawn)} PNG files in {config.charts}")
    failed = [r for r in results.results if r.error]
    for r in failed:
        err.print(
            f"{r.symbol}: {r.error}{did_you_mean(r.symbol)}",
            style="yellow",
            soft_wrap=True,
            markup=False,
        )
    out.print(f"results: {path}")
    log.info("wrote %s (%d symbols, %d failed)", path, len(results.results), len(failed))
    if len(failed) == len(results.results):
        err.print("autonama scan: no symbol could be scanned", soft_wrap=True)
        return 1
    return 0
