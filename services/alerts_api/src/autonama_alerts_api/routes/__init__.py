"""The API's routers, one module per resource; ``app.create_app`` includes them all."""

from autonama_alerts_api.routes import (
    alerts,
    backtests,
    dashboard,
    market,
    operations,
    scans,
    scorecard,
    stream,
    subscriptions,
    symbols,
    watches,
)

ROUTERS = [
    operations.router,
    alerts.router,
    scorecard.router,
    market.router,
    stream.router,
    scans.router,
    backtests.router,
    subscriptions.router,
    watches.router,
    symbols.router,
    dashboard.router,
]

__all__ = ["ROUTERS"]
