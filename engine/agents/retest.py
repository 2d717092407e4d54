"""The retest agent (plugin ``retest``): a BOS and a confirmed retest of the zone it left.

The retest stage itself runs for every stream (the ``fusion`` rule reads it too); this agent
only turns its confirmations into signals (see :mod:`engine.retest.kernel` for the rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine.agents.base import AgentState, BarContext
from engine.events import Candle
from engine.retest import kernel as K
from engine.retest.analyzer import RetestParams, to_signal
from greenlight.core.contracts import SignalRaw

if TYPE_CHECKING:
    from greenlight.core.settings import Settings


class RetestAgent:
    """Stateless: the retest stage's state lives with the stream's analysis."""

    name = "retest"
    inputs = ("retest",)

    def __init__(self, params: RetestParams) -> None:
        self._params = params

    def new_state(self) -> AgentState:
        """No state of its own."""
        return {}

    def on_bar(
        self, ctx: BarContext, bar: Candle, feats: Mapping[str, float], state: AgentState
    ) -> list[SignalRaw]:
        """The retest stage's confirmation at this bar, as a signal."""
        row = ctx.retest
        if row[K.O_DIR] == 0.0:
            return []
        return [to_signal(row, self._params, bar.venue, bar.symbol, bar.tf, bar.open_time)]


def plugin(settings: Settings) -> RetestAgent:
    """Entry point ``greenlight.agents: retest``."""
    s = settings
    return RetestAgent(
        RetestParams.from_settings(s.retest, s.strategy.take_profit_r, s.smc.zone_capacity)
    )
