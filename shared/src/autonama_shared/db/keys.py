"""The signal key's columns for SQL, generated from ``formats.keys.SignalKey``: a table
or a query that names a key names these columns, in this order."""

from __future__ import annotations

from autonama_shared.formats.keys import KEY_FIELDS

__all__ = ["KEY", "key_columns"]


def key_columns(alias: str = "") -> str:
    """The key's columns, each prefixed with ``alias``.

    >>> key_columns("a")
    'a.symbol, a.interval, a.degree, a.kstd, a.price_scale, a.days'
    """
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + column for column in KEY_FIELDS)


#: The key's columns, unprefixed.
KEY = key_columns()
