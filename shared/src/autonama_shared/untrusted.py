"""Text from outside (a receiver's answer, an exchange's error, a file's name) made safe to
store and to log: bounded, and every control or formatting character escaped, so that it
can neither break a log line into a forged one, nor stop PostgreSQL (which refuses NUL in
text), nor turn a terminal's output around.

>>> printable('evil\\x00\\nFAKE LOG LINE')
'evil\\\\x00\\\\nFAKE LOG LINE'
>>> printable("x" * 10, limit=4)
'xxxx...'
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, limit: int = 500) -> str:
    """``text`` cut to ``limit`` characters (``...`` marks the cut) with every control
    (Cc), format (Cf: bidirectional overrides, zero-width characters), line or paragraph
    separator and unassigned code point written as an escape; lone surrogates likewise."""
    cut = len(text) > limit
    out = []
    for ch in text[:limit]:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(_escaped(ch))
        else:
            out.append(ch)
    return "".join(out) + ("..." if cut else "")
