"""Test configuration. The fixtures live in plugin modules under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.backends",
    "tests.fixtures.data",
    "tests.fixtures.binance",
    "tests.fixtures.stack",
]
