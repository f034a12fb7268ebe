"""Writing a new file atomically under a name that no other file has."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_new"]


def write_new(folder: Path, stem: str, text: str, suffix: str = ".json") -> Path:
    """Write ``text`` to ``folder/stem.json`` (or ``stem_1.json``, ...), never overwriting.

    The file appears under its final name only when complete: a hidden
    temporary file is written, synced, then hard-linked to the name (which
    fails, rather than replaces, if another writer took the name in between).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        name = f"{stem}{'' if n == 0 else f'_{n}'}{suffix}"
        target = folder / name
        if target.exists():
            continue
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, target)
        except FileExistsError:
            continue
        finally:
            Path(tmp).unlink(missing_ok=True)
        return target
    raise FileExistsError(f"too many files named {stem}* in {folder}")
