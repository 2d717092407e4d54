"""The agent (``Bot``) protocol of the product spec, and what an agent sees at each bar.

An agent is a plugin: an object with a ``name``, the ``inputs`` it reads (feature names such
as ``ema200``, or the stages ``smc``, ``retest``, ``regime``, ``micro``), a ``new_state()``
giving its per-stream state before the first bar, and ``on_bar(ctx, bar, feats, state)``
returning the signals it found on that closed candle (usually none). The state is a dict of
float64 arrays the agent mutates in place; the pipeline persists it with the stream's other
step-function states, so a restarted engine resumes every agent exactly.

Time comes only from ``bar`` (never the wall clock); an agent must be deterministic. One that
raises is quarantined by the pipeline (see :mod:`engine.agents.registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from engine.events import Candle
from greenlight.core.contracts import SignalRaw

if TYPE_CHECKING:
    from greenlight.core.settings import Settings

F64 = npt.NDArray[np.float64]
AgentState = dict[str, F64]
STAGES = frozenset({"smc", "retest", "regime", "micro"})
_EMPTY_EVENTS = np.zeros((0, 9))
_NO_RETEST = np.zeros(8)


class BarContext:
    """Everything but the candle and its features an agent may read at one bar. One object
    per stream, updated in place before the agents run (do not keep references)."""

    __slots__ = (
        "atr_pct",
        "bbw_pct",
        "events",
        "market",
        "micro_dn",
        "micro_up",
        "regime",
        "retest",
        "shorts",
        "symbol",
        "tf",
        "tf_ms",
        "venue",
    )

    def __init__(
        self, venue: str, symbol: str, tf: str, tf_ms: int, market: str, shorts: bool
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.tf = tf
        self.tf_ms = tf_ms
        self.market = market  # "spot" or "usdm"
        self.shorts = shorts  # whether short signals can be traded on this stream
        self.events: F64 = _EMPTY_EVENTS  # SMC event rows of this candle (engine.smc.layout)
        self.retest: F64 = _NO_RETEST  # retest output row (engine.retest.kernel.O_*)
        self.regime = ""  # TREND / RANGE / SHOCK, "" while unknown
        self.atr_pct = float("nan")  # the regime stage's percentiles at this candle
        self.bbw_pct = float("nan")
        self.micro_up = False  # structure breaks on the sub-timeframe inside this candle
        self.micro_dn = False

    def update(
        self,
        events: F64,
        retest: F64 | None,
        regime: str,
        atr_pct: float,
        bbw_pct: float,
        micro: tuple[bool, bool] = (False, False),
    ) -> None:
        """Set the analysis outputs of the next bar."""
        self.events = events
        self.retest = _NO_RETEST if retest is None else retest
        self.regime = regime
        self.atr_pct = atr_pct
        self.bbw_pct = bbw_pct
        self.micro_up, self.micro_dn = micro


@runtime_checkable
class Bot(Protocol):
    """A decision agent (see the module docstring)."""

    name: str
    inputs: tuple[str, ...]

    def new_state(self) -> AgentState:
        """The agent's per-stream state before the first bar."""
        ...

    def on_bar(
        self, ctx: BarContext, bar: Candle, feats: Mapping[str, float], state: AgentState
    ) -> list[SignalRaw]:
        """Signals found on the closed candle ``bar`` (usually none)."""
        ...


# What an entry point or a plugin file provides: ``plugin(settings) -> Bot``.
PluginFactory = Callable[["Settings"], Bot]
