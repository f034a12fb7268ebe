"""PostgreSQL adapter: connection pools and schema migrations (asyncpg)."""

from autonama_shared.db.migrations import Migration, load_migrations, migrate
from autonama_shared.db.pool import open_pool

__all__ = ["Migration", "load_migrations", "migrate", "open_pool"]
