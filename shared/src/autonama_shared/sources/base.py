"""The interface every candle source implements, and the universe rules they share."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from autonama_shared.engine.candles import Candles

__all__ = ["CORE_MOVERS", "STABLECOINS", "CandleSource", "is_stable_pair"]

#: The default universe.
CORE_MOVERS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")

#: Base assets pegged to a fiat currency: a pair of two of them (USDCUSDT) is
#: not a market worth a signal, so the top-N universe leaves it out.
STABLECOINS = frozenset(
    {
        "USDC",
        "FDUSD",
        "TUSD",
        "BUSD",
        "USDP",
        "PAX",
        "DAI",
        "PYUSD",
        "USDE",
        "USDS",
        "USD1",
        "UST",
        "USTC",
        "SUSD",
        "GUSD",
        "XUSD",
        "BFUSD",
        "RLUSD",
        "EURI",
        "AEUR",
        "EUR",
        "GBP",
        "TRY",
        "BRL",
        "ARS",
        "UAH",
        "ZAR",
        "JPY",
        "IDRT",
        "BIDR",
        "BVND",
    }
)


def is_stable_pair(symbol: str, quote: str = "USDT") -> bool:
    """True for a stablecoin (or fiat) against the quote stablecoin.

    >>> is_stable_pair("USDCUSDT"), is_stable_pair("BTCUSDT")
    (True, False)
    """
    return symbol.endswith(quote) and symbol[: -len(quote)] in STABLECOINS


@runtime_checkable
class CandleSource(Protocol):
    """Where candles come from. Implementations are async context managers."""

    #: Short name, part of the cache key and of the results file (``binance``, ``files``).
    name: str

    async def fetch(self, symbol: str, interval: str, candles: int) -> Candles:
        """The latest ``candles`` closed candles (fewer for a newly listed symbol)."""
        ...

    async def top_symbols(self, n: int) -> list[str]:
        """The ``n`` USDT spot pairs with the highest 24 h quote volume, stable pairs excluded."""
        ...

    async def close(self) -> None:
        """Release connections; safe to call twice."""
        ...
