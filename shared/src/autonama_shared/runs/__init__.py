"""Use cases built on the engine: one scan, one symbol's backtest
(as the CLI and the services run them).."""
