"""Sources of candles: Binance's REST API (with a local cache) and local files.

Both implement ``CandleSource``: ``fetch`` returns the latest closed candles of
one symbol, ``top_symbols`` ranks the universe. A failure for one symbol is a
``DataError`` (bad data, unknown symbol) or a ``TemporaryError`` (the exchange
did not answer after retries); the scan records it for that symbol and goes on.
"""

from autonama_shared.sources.base import CORE_MOVERS, STABLECOINS, CandleSource, is_stable_pair

__all__ = ["CORE_MOVERS", "STABLECOINS", "CandleSource", "is_stable_pair"]
