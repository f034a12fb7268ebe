"""Files of the package: writing a new file atomically; the published JSON Schemas."""

from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["model_schema", "published_schema", "write_new"]


def published_schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``schemas/<name>.schema.json`` shipped in the package."""
    path = resources.files("autonama_shared") / "formats" / "schemas" / f"{name}.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def model_schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    """The schema as ``model`` defines it now (``make schema`` publishes it as ``name``)."""
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://autonama.dev/schemas/{name}.schema.json"
    return schema


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
