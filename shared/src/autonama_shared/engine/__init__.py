"""The pure core: band maths, parameter specs, candles, trade accounting and metrics.

numpy (and numba for the backtest's compiled loops) and ``autonama_shared.errors``
only: no I/O, no logging of data, no
pandas, pydantic, Kafka, PostgreSQL or plotting (a test enforces it).
"""
