"""The scan parameters as pydantic types, with their bounds: every model that carries a
degree, a band width, a window in days or a top-N (the events, the API's bodies, the
results file, the watches) declares it with these. The bounds are the engine's
(``engine.specs``), the one place they are stated; the database's CHECKs are held to them
by a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import Field

from autonama_shared.engine.specs import (
    MAX_DAYS,
    MAX_DEGREE,
    MAX_KSTD,
    MAX_TOP,
    MIN_DAYS,
    MIN_DEGREE,
    MIN_KSTD,
)
from autonama_shared.errors import ConfigError

__all__ = ["Days", "Degree", "Kstd", "Top", "checked"]

Degree = Annotated[int, Field(ge=MIN_DEGREE, le=MAX_DEGREE)]
Kstd = Annotated[float, Field(ge=MIN_KSTD, le=MAX_KSTD)]
Days = Annotated[int, Field(ge=MIN_DAYS, le=MAX_DAYS)]
Top = Annotated[int, Field(ge=1, le=MAX_TOP)]


def checked(build: Callable[[], object]) -> None:
    """Run a spec's validation (``engine.specs``) inside a pydantic validator: its
    ``ConfigError`` becomes the ``ValueError`` pydantic reports (a 422 at the API)."""
    try:
        build()
    except ConfigError as e:
        raise ValueError(str(e)) from e
