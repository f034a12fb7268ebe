"""The ``autonama`` command's arguments, light on purpose: ``--help`` loads no pandas,
matplotlib, Kafka or database client. Each command names its handler as
``"module:function"``; ``__main__`` imports it only when the command runs."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autonama_shared import __version__
from autonama_shared.engine.intervals import INTERVALS
from autonama_shared.engine.specs import METRICS

__all__ = ["build_parser"]


def _command(
    sub: Any, name: str, summary: str, description: str, *examples: str
) -> argparse.ArgumentParser:
    """A subcommand with its one-line summary (in ``autonama --help``), a description and
    examples (in ``autonama NAME --help``)."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) if examples else None
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autonama",
        description="Polynomial-regression band signals on Binance spot markets.",
    )
    parser.add_argument("--version", action="version", version=f"autonama {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = _command(
        sub,
        "migrate",
        "apply the database migrations (settings: AUTONAMA_POSTGRES__HOST, ...)",
        "Apply the migrations the database has not seen yet, in order, each in one "
        "transaction (the services do it too at start-up).",
        "autonama migrate",
        "AUTONAMA_POSTGRES__PORT=5433 autonama migrate",
    )
    p.set_defaults(handler="autonama_cli.__main__:migrate")
    _scan(sub)
    _pipeline(sub)
    _backtest(sub)
    _tokens(sub)
    _subscriptions(sub)
    _watches(sub)
    _dead_letters(sub)
    _database(sub)
    p = _command(
        sub,
        "schema",
        "print the JSON Schema of the results file or report",
        "The JSON Schema of the files autonama writes, as the models define it now.",
        "autonama schema results > backtest_results.schema.json",
        "autonama schema report",
    )
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
    p = _command(
        sub,
        "scan",
        "scan markets offline and write a results file",
        "Fit a polynomial regression to each symbol's closes, draw the bands kstd residual "
        "standard deviations around it and call BUY below the lower band, SELL above the "
        "upper, HOLD between; print a table and write backtest_results_YYYYMMDD_HHMMSS.json. "
        "No broker or database needed. Candles from Binance (cached) or from local files "
        "(the interval is read from them when --interval is not given).",
        "autonama scan                                   # BTC, ETH, SOL, 1d, degree 4, kstd 2",
        "autonama scan --top 100 --interval 4h --days 90 --charts results/charts",
        "autonama scan --data ../shared/data/klines/until-2026-03/1d --symbols BTCUSDT,ETHUSDT",
    )
    add_scan_options(p)
    p.add_argument("--output", type=Path, help="folder for the results file (results/)")
    p.add_argument("--charts", type=Path, metavar="DIR", help="write one PNG chart per symbol")
    p.set_defaults(handler="autonama_cli.scan:run")


def _backtest(sub: Any) -> None:
    p = _command(
        sub,
        "backtest",
        "trade the signals through history, sweep parameters",
        "Trade each symbol's band signals through its history without look-ahead (each bar "
        "decided on the candles before it), for every combination of degrees, kstd values "
        "and windows; choose the best by --metric, optionally on a first part only (--split) "
        "or walking forward (--folds), and report it beside buy-and-hold.",
        "autonama backtest --symbols BTCUSDT --degree 2:6 --kstd 1.5,2,2.5",
        "autonama backtest --data ../shared/data/klines/until-2022-10/1d --top 10 --split 0.7",
    )
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
    p = _command(
        sub,
        "request-scan",
        "ask the running pipeline for a scan",
        "Publish a scan request to Kafka for the running pipeline (fetcher, analyzers, "
        "ingestor); its results reach the database, the API and the dashboard. Reads where "
        "the local stack runs from .local/stack.env (make up).",
        "autonama request-scan --top 10 --wait",
        "autonama request-scan --symbols BTCUSDT,ETHUSDT --interval 4h --days 90",
    )
    add_scan_options(p)
    p.add_argument("--wait", action="store_true", help="follow the scan until it finishes")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (600)")
    p.set_defaults(handler="autonama_cli.pipeline:request_scan")
    p = _command(
        sub,
        "ingest",
        "store offline results files in the database",
        "Validate results files against the published schema and store each in one "
        "transaction, as the ingestor's drop folder does; the same content twice is a "
        "duplicate.",
        "autonama ingest results/backtest_results_20260315_000000.json",
    )
    p.add_argument("files", nargs="+", type=Path, help="backtest_results_*.json files")
    p.set_defaults(handler="autonama_cli.pipeline:ingest")
    p = _command(
        sub,
        "ingestions",
        "the recent offline-file ingestions and their outcome",
        "The newest ingestions of results files (by this command or the drop folder): "
        "ingested, duplicate or rejected, and why.",
        "autonama ingestions --limit 5",
    )
    p.add_argument("--limit", type=int, default=20, help="how many, newest first (20)")
    p.set_defaults(handler="autonama_cli.pipeline:ingestions")


def _aware_date(text: str) -> datetime:
    """A day (UTC midnight) or a moment; one without its offset is read as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD) or moment") from e
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _database(sub: Any) -> None:
    db = _command(
        sub,
        "db",
        "the database's size, what retention keeps, and pruning now",
        "What the stack's database holds and what retention does with it: the growing "
        "tables' sizes, each interval's partitions of signals (oldest kept, when the next "
        "goes), and a prune of what is past its keep (the ingestor runs the same every "
        "AUTONAMA_RETENTION__EVERY_MINUTES; the keep per interval is "
        "AUTONAMA_RETENTION__SIGNALS_DAYS).",
        "autonama db stats",
        "autonama db prune --dry-run",
    )
    actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("stats", help="sizes, rows, oldest kept and next drop")
    p.set_defaults(handler="autonama_cli.database:stats")
    p = actions.add_parser("prune", help="drop what is past its keep now")
    p.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")
    p.set_defaults(handler="autonama_cli.database:prune_now")
    p = actions.add_parser(
        "score-alerts",
        help="have the ingestor score the alerts raised since a date that were never scored "
        "(those from before migration 0025)",
    )
    p.add_argument(
        "--since",
        required=True,
        type=_aware_date,
        metavar="DATE",
        help="alerts raised from this day (YYYY-MM-DD, UTC) or moment (ISO 8601) on",
    )
    p.set_defaults(handler="autonama_cli.database:score_alerts")


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


def _subscriptions(sub: Any) -> None:
    p = _command(
        sub,
        "subscribe",
        "alerts delivered to webhooks, Telegram, Discord, Slack, e-mail... (the notifier)",
        "Subscriptions to alerts, in the stack's database; the notifier delivers every alert "
        "a subscription's filter matches (at least once, in order per key, retried for up "
        "to 24 h). A webhook gets the alert as signed JSON (Standard Webhooks); an Apprise "
        "URL a short message (https://github.com/caronc/apprise/wiki for the URLs).",
        "autonama subscribe add --name mine --webhook https://example.com/hooks/autonama",
        "autonama subscribe add --name phone --apprise tgram://BOTTOKEN/CHATID "
        "--symbols 'BTC*' ETHUSDT --signals BUY --min-potential-return 10",
        "autonama subscribe list",
        "autonama subscribe test 1 && autonama subscribe deliveries 1",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("add", help="subscribe a target (prints a webhook's secret once)")
    a.add_argument("--name", required=True, help="what it is for, e.g. phone")
    where = a.add_mutually_exclusive_group(required=True)
    where.add_argument("--webhook", metavar="URL", help="POST each alert here, signed")
    where.add_argument("--apprise", metavar="URL", help="an Apprise URL: tgram://, mailto://...")
    a.add_argument("--events", nargs="+", choices=["raised", "ended"], help="(both)")
    a.add_argument("--signals", nargs="+", choices=["BUY", "SELL"], help="(both)")
    a.add_argument("--symbols", nargs="+", metavar="GLOB", help="e.g. BTCUSDT 'ETH*' (all)")
    a.add_argument("--intervals", nargs="+", choices=INTERVALS, metavar="INTERVAL", help="(all)")
    a.add_argument("--min-potential-return", type=float, metavar="PCT", help="raised alerts only")
    a.add_argument(
        "--confirmed",
        action="store_true",
        help="also the alerts that repeat a key's signal at each newer close (off: a key "
        "turning BUY or SELL, changing side and ending)",
    )
    a.add_argument(
        "--template",
        help="an Apprise message: $symbol $signal $price ... (docs/tutorial/notifications.md)",
    )
    a.set_defaults(handler="autonama_cli.subscriptions:add")
    a = actions.add_parser("list", help="every subscription, enabled or why not")
    a.set_defaults(handler="autonama_cli.subscriptions:listing")
    for name, help_, handler in (
        ("remove", "delete a subscription and its deliveries", "remove"),
        ("enable", "enable a subscription again (its failure count back to 0)", "enable"),
        ("disable", "pause a subscription", "enable"),
        ("test", "queue a test event for a subscription", "send_test"),
    ):
        a = actions.add_parser(name, help=help_)
        a.add_argument("id", type=int)
        a.set_defaults(handler=f"autonama_cli.subscriptions:{handler}")
    a = actions.add_parser("deliveries", help="a subscription's deliveries, newest first")
    a.add_argument("id", type=int)
    a.add_argument("--limit", type=int, default=20, help="how many (20)")
    a.set_defaults(handler="autonama_cli.subscriptions:deliveries")


def _watches(sub: Any) -> None:
    p = _command(
        sub,
        "watch",
        "what the live market follows: symbols, intervals, parameters (the fetcher)",
        "Watches, in the stack's database: the fetcher follows Binance's websocket streams "
        "of every watch and each closed candle is analysed, stored and, when a signal "
        "changes, alerted. Besides the stored ones, a default watch can be set in the "
        "environment (AUTONAMA_WATCH__ENABLED=true, AUTONAMA_WATCH__SYMBOLS=...; see "
        "docs/tutorial/live-market.md).",
        "autonama watch add --name majors --symbols BTCUSDT ETHUSDT --intervals 1m 1h",
        "autonama watch add --name top100 --top 100 --intervals 15m --degree 3 4 --days 2",
        "autonama watch list",
        "autonama watch remove 1",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("add", help="follow a universe live")
    a.add_argument("--name", required=True, help="what it is for")
    universe = a.add_mutually_exclusive_group()
    universe.add_argument("--symbols", nargs="+", help="these symbols (default: core movers)")
    universe.add_argument("--top", type=int, help="the top N by quote volume")
    universe.add_argument("--all", action="store_true", help="every TRADING USDT pair")
    a.add_argument("--intervals", nargs="+", default=["1m"], choices=INTERVALS, metavar="I")
    a.add_argument("--degree", nargs="+", type=int, default=[4], help="one or more (4)")
    a.add_argument("--kstd", nargs="+", type=float, default=[2.0], help="one or more (2)")
    a.add_argument("--days", type=int, default=1, help="the window, in days (1)")
    a.add_argument("--price-scale", choices=["linear", "log"], default="linear")
    a.set_defaults(handler="autonama_cli.watches:add")
    a = actions.add_parser("list", help="the stored watches")
    a.set_defaults(handler="autonama_cli.watches:listing")
    a = actions.add_parser("remove", help="stop following a watch")
    a.add_argument("id", type=int)
    a.set_defaults(handler="autonama_cli.watches:remove")


def _dead_letters(sub: Any) -> None:
    dlq = sub.add_parser(
        "dlq",
        help="list, show or replay what the workers set aside (the dead-letter topic)",
        description="The records a worker could not handle, each with why, where it came "
        "from and its bytes (or, for one too large, its size and digest: it is read back "
        "from its own topic). Replay republishes records to their topics; every handler is "
        "idempotent, and a letter replayed before is skipped unless --again. Example: "
        "autonama dlq replay --topic signals --reason 'read-only'",
    )
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--topic", help="the record's topic (signals, klines, ...)")
        p.add_argument("--since", help="set aside at or after this time (ISO 8601, UTC)")
        p.add_argument("--until", help="set aside before this time (ISO 8601, UTC)")
        p.add_argument("--reason", help="a text found in the letter's error")

    p = actions.add_parser("list", help="the dead letters, oldest first")
    filters(p)
    p.set_defaults(handler="autonama_cli.dlq:listing")
    p = actions.add_parser("show", help="one letter whole, with its record")
    p.add_argument("id", help="the letter's id, PARTITION:OFFSET (see list)")
    p.set_defaults(handler="autonama_cli.dlq:show", topic=None, since=None, until=None, reason=None)
    p = actions.add_parser("replay", help="republish letters' records to their topics")
    p.add_argument("ids", nargs="*", help="letters' ids, PARTITION:OFFSET")
    filters(p)
    p.add_argument("--all", action="store_true", help="every letter (matching the filters)")
    p.add_argument("--again", action="store_true", help="also letters replayed before")
    p.set_defaults(handler="autonama_cli.dlq:replay")
