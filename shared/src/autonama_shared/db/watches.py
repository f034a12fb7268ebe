"""Stored watches (the live market's universe besides the default one): managed by the API
and the CLI, read by the fetcher's live feed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from autonama_shared.sources.watches import WatchSpec

__all__ = [
    "WatchView",
    "create_watch",
    "delete_watch",
    "list_watches",
    "published_streams",
    "record_published",
    "stored_specs",
]

Conn = asyncpg.Connection | PoolConnectionProxy


class WatchView(BaseModel):
    """A stored watch."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "name": "majors every minute",
                    "spec": {
                        "symbols": ["BTCUSDT", "ETHUSDT"],
                        "top": None,
                        "all": False,
                        "intervals": ["1m", "1h"],
                        "params": [{"degree": 4, "kstd": 2.0, "days": 1, "price_scale": "linear"}],
                    },
                    "created_at": "2026-03-15T00:00:00Z",
                }
            ]
        }
    )

    id: int
    name: str = Field(min_length=1, max_length=200)
    spec: WatchSpec
    created_at: AwareDatetime


def _view(row: Any) -> WatchView:
    return WatchView(
        id=row["id"],
        name=row["name"],
        spec=WatchSpec.model_validate_json(row["spec"]),
        created_at=row["created_at"],
    )


async def create_watch(conn: Conn, name: str, spec: WatchSpec) -> WatchView:
    row = await conn.fetchrow(
        """INSERT INTO watches (name, spec) VALUES ($1, $2::jsonb)
           RETURNING id, name, spec::text AS spec, created_at""",
        name,
        spec.model_dump_json(),
    )
    return _view(row)


async def list_watches(conn: Conn) -> list[WatchView]:
    rows = await conn.fetch(
        "SELECT id, name, spec::text AS spec, created_at FROM watches ORDER BY id"
    )
    return [_view(r) for r in rows]


async def delete_watch(conn: Conn, watch_id: int) -> bool:
    done = await conn.execute("DELETE FROM watches WHERE id = $1", watch_id)
    return bool(done.endswith(" 1"))


async def published_streams(conn: Conn) -> dict[str, int]:
    """The last candle the live feed published, per stream."""
    rows = await conn.fetch("SELECT stream, last_open_time FROM live_streams")
    return {r["stream"]: r["last_open_time"] for r in rows}


async def record_published(conn: Conn, published: Mapping[str, int]) -> None:
    """The last candle published per stream (a candle never goes back: the newer one stays),
    in one statement; streams in name order, so that two writers never deadlock."""
    streams = sorted(published)
    await conn.execute(
        """INSERT INTO live_streams (stream, last_open_time)
           SELECT * FROM unnest($1::text[], $2::bigint[])
           ON CONFLICT (stream) DO UPDATE SET last_open_time = greatest(
               live_streams.last_open_time, EXCLUDED.last_open_time), updated_at = now()""",
        streams,
        [published[s] for s in streams],
    )


async def stored_specs(conn: Conn) -> list[WatchSpec]:
    """What the stored watches follow, oldest first."""
    return [w.spec for w in await list_watches(conn)]
