"""The ``autonama`` command's arguments, light on purpose: ``--help`` loads no pandas,
matplotlib, Kafka or database client. Each command names its handler as
``"module:function"``; ``__main__`` imports it only when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from autonama_shared import __version__
from autonama_shared.engine.intervals import INTERVALS
from autonama_shared.engine.specs import METRICS

__all__ = ["build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autonama",
        description="Polynomial-regression band signals on Binance spot markets.",
    )
    parser.add_argument("--version", action="version", version=f"autonama {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "migrate",
        help="apply the database migrations (settings: AUTONAMA_POSTGRES__HOST, ...)",
    )
    p.set_defaults(handler="autonama_cli.__main__:migrate")
    _scan(sub)
    _pipeline(sub)
    _backtest(sub)
    _tokens(sub)
    p = sub.add_parser("schema", help="print the JSON Schema of the results file or report")
    p.add_argument("which", nargs="?", choices=["results", "report"], default="results")
    p.set_defaults(handler="autonama_cli.__main__:schema")
    return parser


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


def _scan(sub: Any) -> None:
    p = sub.add_parser("scan", help="scan markets offline and write a results file")
    add_scan_options(p)
    p.add_argument("--output", type=Path, help="folder for the results file (results/)")
    p.add_argument("--charts", type=Path, metavar="DIR", help="write one PNG chart per symbol")
    p.set_defaults(handler="autonama_cli.scan:run")


def _backtest(sub: Any) -> None:
    p = sub.add_parser("backtest", help="trade the signals through history, sweep parameters")
    add_source_options(p)
    p.add_argument("--degree", default="4", help="degrees: 4, 2,4,6 or 2:10 (4)")
    p.add_argument("--kstd", default="2.0", help="kstd values: 2.0, 1.5,2 or 1.0:3.0:0.25 (2.0)")
    p.add_argument("--window", default="365", help="windows in candles: 365, 180,365 (365)")
    p.add_argument("--history", type=int, default=2000,
                   help="candles of history to test on, per symbol (2000)")  # fmt: skip
    p.add_argument("--fee", type=float, default=0.001, help="fee per side, fraction (0.001)")
    p.add_argument("--slippage-bps", type=float, default=0.0, help="slippage per fill (0)")
    p.add_argument("--allow-short", action="store_true", help="also sell short on SELL")
    p.add_argument("--stop-loss", type=float, help="stop-loss, fraction of the entry (off)")
    p.add_argument("--max-hold", type=int, help="most bars in a position (off)")
    p.add_argument(
        "--split", type=float, help="choose on this part of the history (0.1-0.9), test on the rest"
    )
    p.add_argument(
        "--folds",
        type=int,
        help="walk-forward: cut into N+1 parts, choose on each, test on the next",
    )
    p.add_argument("--metric", choices=METRICS, default="sharpe", help="what best means")
    p.add_argument("--output", type=Path, default=Path("results"), help="report folder")
    p.set_defaults(handler="autonama_cli.backtest:run")


def _pipeline(sub: Any) -> None:
    p = sub.add_parser("request-scan", help="ask the running pipeline for a scan")
    add_scan_options(p)
    p.add_argument("--wait", action="store_true", help="follow the scan until it finishes")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (600)")
    p.set_defaults(handler="autonama_cli.pipeline:request_scan")
    p = sub.add_parser("ingest", help="store offline results files in the database")
    p.add_argument("files", nargs="+", type=Path, help="backtest_results_*.json files")
    p.set_defaults(handler="autonama_cli.pipeline:ingest")
    p = sub.add_parser("ingestions", help="the recent offline-file ingestions and their outcome")
    p.add_argument("--limit", type=int, default=20, help="how many, newest first (20)")
    p.set_defaults(handler="autonama_cli.pipeline:ingestions")


def _tokens(sub: Any) -> None:
    token = sub.add_parser(
        "token",
        help="create, list or revoke the alerts API's tokens",
        description="Tokens for the alerts API, sent as 'Authorization: Bearer <token>'. "
        "A read token may call every GET; a write token may also request scans and "
        "backtests. Example: autonama token create --scope write --name laptop",
    )
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("create", help="create a token and print it (shown only once)")
    p.add_argument("--name", required=True, help="what the token is for, e.g. laptop")
    p.add_argument("--scope", choices=["read", "write"], required=True)
    p.add_argument("--quiet", action="store_true", help="print the token alone")
    p.set_defaults(handler="autonama_cli.tokens:create")
    p = actions.add_parser("list", help="the tokens, their scope, whether revoked")
    p.set_defaults(handler="autonama_cli.tokens:listing")
    p = actions.add_parser("revoke", help="revoke a token by its name")
    p.add_argument("name")
    p.set_defaults(handler="autonama_cli.tokens:revoke_token")
