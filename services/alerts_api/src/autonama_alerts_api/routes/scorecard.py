"""The scorecard: how the alerts did, by key field and signal (README: How alerts are
scored; ``autonama_shared.engine.scorecard``)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from autonama_alerts_api.auth import READ_ERRORS, ReadAccess
from autonama_alerts_api.deps import IntervalQ, SignalQ, StateDep, SymbolQ
from autonama_alerts_api.models.alerts import GroupField, Scorecard, ScorecardGroup
from autonama_alerts_api.queries.scorecard import final_outcomes, scored_bars
from autonama_shared.engine.scorecard import MIN_SAMPLE, Segment, beside, scorecard
from autonama_shared.engine.specs import TradeRules
from autonama_shared.errors import ConfigError
from autonama_shared.formats.keys import KEY_FIELDS

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
    compare: Annotated[
        Literal["backtest"] | None,
        Query(
            description="`backtest`: beside each group, the backtest of its keys over the "
            "bars their alerts were scored on"
        ),
    ] = None,
) -> Scorecard:
    """The final outcomes of the alerts (20 bars seen) grouped by any of symbol, interval,
    degree, kstd, price_scale, days and signal (default: signal): count, the share that
    reached the target and the opposite band with Wilson 95 % intervals, median and mean
    returns after 1, 5 and 20 bars (gross, and net of the backtest's default fee and
    slippage), median bars to the target, median max adverse excursion. A group under
    20 outcomes is given with its count and `insufficient`.

    With `compare=backtest`, each group also has `backtest`: its keys' stored bars from
    their first scored alert to 20 bars past their last, traded by the backtest (the band
    signals they closed with, the same fee and slippage, shorts allowed; a group of one
    signal counts its side's trades): trades, the share that left at the target, win rate,
    median and mean net return per trade. Example:
    `GET /v1/scorecard?by=symbol&by=interval&signal=BUY&compare=backtest`."""
    fields = list(dict.fromkeys(by or ["signal"]))
    rows = await final_outcomes(state.pool, symbol, interval, signal)
    rules = TradeRules()
    groups = scorecard(rows, fields, rules)
    besides: dict[int, dict[str, Any]] = {}
    if compare == "backtest":
        try:
            segments = await scored_bars(state.pool, symbol, interval, signal)
        except ConfigError as e:
            raise HTTPException(422, str(e)) from e
        shorts = TradeRules(fee=rules.fee, slippage_bps=rules.slippage_bps, allow_short=True)

        # each key's segments under its group's values (the key fields grouped by; the
        # signal is not a key field: a key's segments go to its BUY and its SELL group)
        keyed = [f for f in fields if f != "signal"]
        by_group: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], Segment]]] = {}
        for key, seg in segments:
            values = dict(zip(KEY_FIELDS, key, strict=True))
            by_group.setdefault(tuple(values[f] for f in keyed), []).append((key, seg))

        def trade() -> dict[int, dict[str, Any]]:
            return {
                n: asdict(
                    beside(
                        by_group.get(tuple(g.key[f] for f in keyed), []),
                        g.key.get("signal", signal),
                        shorts,
                    )
                )
                for n, g in enumerate(groups)
            }

        # CPU work (and numba's first load): off the event loop the other requests share
        besides = await asyncio.to_thread(trade)
    return Scorecard(
        by=fields,
        fee=rules.fee,
        slippage_bps=rules.slippage_bps,
        min_sample=MIN_SAMPLE,
        groups=[
            ScorecardGroup.model_validate(asdict(g) | {"backtest": besides.get(n)})
            for n, g in enumerate(groups)
        ],
    )
