"""Every `autonama` subcommand explains itself: a description and examples in its --help."""

from __future__ import annotations

import argparse

from autonama_cli.parsers import build_parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found |= dict(action.choices)
    return found


def test_every_subcommand_has_a_description_and_examples() -> None:
    commands = subcommands(build_parser())
    assert {"scan", "backtest", "request-scan", "ingest", "migrate", "token"} <= set(commands)
    missing = []
    for name, parser in commands.items():
        text = parser.format_help()
        if not parser.description or ("examples:" not in text and "Example:" not in text):
            missing.append(name)
    assert missing == []
