"""The scorecard: how the alerts did, by key field and signal (README: How alerts are
scored; ``autonama_shared.engine.scorecard``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from autonama_alerts_api.auth import READ_ERRORS, ReadAccess
from autonama_alerts_api.deps import IntervalQ, SignalQ, StateDep, SymbolQ
from autonama_alerts_api.models.alerts import GroupField, Scorecard, ScorecardGroup
from autonama_shared.db.keys import key_columns
from autonama_shared.engine.scorecard import MIN_SAMPLE, scorecard
from autonama_shared.engine.specs import TradeRules

router = APIRouter(
    prefix="/v1/scorecard", tags=["alerts"], responses=READ_ERRORS, dependencies=[ReadAccess]
)


@router.get("", response_model=Scorecard, summary="How the alerts did, by group")
async def get_scorecard(
    state: StateDep,
    by: Annotated[list[GroupField] | None, Query(description="Fields to group by")] = None,
    symbol: SymbolQ = None,
    interval: IntervalQ = None,
    signal: SignalQ = None,
) -> Scorecard:
    """The final outcomes of the alerts (20 bars seen) grouped by any of symbol, interval,
    degree, kstd, price_scale, days and signal (default: signal): count, the share that
    reached the target and the opposite band with Wilson 95 % intervals, median and mean
    returns after 1, 5 and 20 bars (gross, and net of the backtest's default fee and
    slippage), median bars to the target, median max adverse excursion. A group under
    20 outcomes is given with its count and `insufficient`. Example:
    `GET /v1/scorecard?by=symbol&by=interval&signal=BUY`."""
    fields = list(dict.fromkeys(by or ["signal"]))
    conditions, args = ["o.final"], []
    for column, value in (("a.symbol", symbol), ("a.interval", interval), ("a.signal", signal)):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    rows = await state.pool.fetch(
        f"""SELECT {key_columns("a")}, a.signal, o.return_1, o.return_5, o.return_20,
                   o.target_hit_after, o.opposite_band_hit_after, o.max_adverse
            FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id
            WHERE {" AND ".join(conditions)}""",  # noqa: S608 - constants and placeholders
        *args,
    )
    rules = TradeRules()
    groups = scorecard([dict(r) for r in rows], fields, rules)
    return Scorecard(
        by=fields,
        fee=rules.fee,
        slippage_bps=rules.slippage_bps,
        min_sample=MIN_SAMPLE,
        groups=[ScorecardGroup.model_validate(asdict(g)) for g in groups],
    )
