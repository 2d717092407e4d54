"""The product's rule (plugin ``fusion``): structure, then a retest or indicator confluence.

See :mod:`engine.agents.fusion_kernel` for the rule. The signal names every confirmation in
its ``features``, carries the opening BOS as ``setup`` (one decision per setup) and the
``[fusion] ttl_bars`` the decision stays open for. The guards (news, funding, volatility)
are applied to it by the decision stage like to every agent's signals.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from engine.agents import fusion_kernel as K
from engine.agents.base import AgentState, BarContext
from engine.events import Candle
from engine.retest import kernel as RK
from greenlight.core.contracts import SignalRaw
from greenlight.core.settings_decision import FusionSettings

if TYPE_CHECKING:
    from greenlight.core.settings import Settings

AGENT = "fusion.v1"


def _hhmm(ms: float) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%m-%d %H:%M}"


class FusionAgent:
    """CHOCH→BOS within ``setup_bars``, then a retest or EMA-200/MACD/RSI confluence."""

    name = "fusion"

    def __init__(
        self, params: FusionSettings, tp_r: tuple[float, ...], ema: str, atr: str, rsi: str
    ) -> None:
        self.params = params
        self.tp_r = tuple(tp_r)
        self._ema, self._atr, self._rsi = ema, atr, rsi
        self.inputs = ("smc", "retest", ema, atr, rsi, "macd_hist")
        cfg = np.zeros(K.C_SIZE)
        cfg[K.C_SETUP_BARS] = params.setup_bars
        cfg[K.C_WAIT] = params.wait_bars
        cfg[K.C_MIN_SCORE] = params.min_score
        cfg[K.C_SL_ATR] = params.sl_atr
        cfg[K.C_RSI_LO] = params.rsi_low
        cfg[K.C_RSI_HI] = params.rsi_high
        self._cfg_long = cfg
        self._cfg_both = cfg.copy()
        self._cfg_both[K.C_SHORTS] = 1.0
        self._out = np.zeros(K.O_COLS)
        self._x = np.zeros(K.X_SIZE)

    def new_state(self) -> AgentState:
        """Scalars (bar count, previous indicators, last swings, CHOCHs) and setup rows."""
        scalars, setups = K.fresh_state()
        return {"scalars": scalars, "setups": setups}

    def on_bar(
        self, ctx: BarContext, bar: Candle, feats: Mapping[str, float], state: AgentState
    ) -> list[SignalRaw]:
        """Advance the rule by one bar; a signal when a setup confirmed."""
        rt, out, x = ctx.retest, self._out, self._x
        x[:] = (
            bar.close,
            feats[self._atr],
            feats[self._rsi],
            feats["macd_hist"],
            feats[self._ema],
            rt[RK.O_DIR],
            rt[RK.O_BOS_TIME],
        )
        cfg = self._cfg_both if ctx.shorts else self._cfg_long
        K.fusion_step(cfg, state["scalars"], state["setups"], ctx.events, x, out)
        if out[K.O_DIR] == 0.0:
            return []
        return [self.signal(out, bar, feats[self._rsi])]

    def signal(self, out: np.ndarray, bar: Candle, rsi: float) -> SignalRaw:
        """The ``signals_raw.v1`` event of a kernel output row with a signal."""
        bits = int(out[K.O_FEATURES])
        flags = {name: bool(bits & bit) for name, bit, _ in K.FEATURE_BITS}
        long = out[K.O_DIR] > 0
        arrow = "↑" if long else "↓"
        parts = [
            f"CHOCH {_hhmm(out[K.O_CHOCH_TIME])} → BOS {_hhmm(out[K.O_BOS_TIME])} "
            f"{'up' if long else 'down'}"
        ]
        if flags["retest"]:
            parts.append("retest confirmed")
        if flags["ema200_side"]:
            parts.append("above rising EMA200" if long else "below falling EMA200")
        if flags["macd_uptick"]:
            parts.append(f"MACD hist {arrow}")
        if flags["rsi_bounce"]:
            parts.append(f"RSI {rsi:.0f} {arrow}")
        return SignalRaw(
            agent=AGENT,
            venue=bar.venue,
            symbol=bar.symbol,
            tf=bar.tf,
            open_time=bar.open_time,
            side_hint="long" if long else "short",
            entry_hint=float(out[K.O_ENTRY]),
            sl_hint=float(out[K.O_SL]),
            tpR=self.tp_r,
            features=flags,
            score=float(out[K.O_SCORE]),
            ttl_bars=self.params.ttl_bars,
            why=", ".join(parts),
            setup=int(out[K.O_BOS_TIME]),
        )


def plugin(settings: Settings) -> FusionAgent:
    """Entry point ``greenlight.agents: fusion``."""
    st = settings.strategy
    ema, atr, rsi = f"ema{st.ema_slow}", f"atr{st.atr_period}", f"rsi{st.rsi_period}"
    return FusionAgent(settings.fusion, st.take_profit_r, ema, atr, rsi)
