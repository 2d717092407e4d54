"""The starter rule (plugin ``starter``): a deliberately narrow setup that drove the plumbing.

Trend: EMA(mid) above EMA(slow) and close above EMA(slow). Entry: the MACD histogram turns
up (it was falling, now it rises) while RSI sits between ``rsi_low`` and ``rsi_high``. Stop:
``atr_stop_mult`` × ATR below the close. Shorts mirror it where the stream allows them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np

from engine.agents.base import AgentState, BarContext
from engine.events import Candle
from greenlight.core.contracts import SignalRaw
from greenlight.core.settings import StrategySettings

if TYPE_CHECKING:
    from greenlight.core.settings import Settings

AGENT = "starter.v1"


class StarterRule:
    """The ``starter`` agent; its state is the last three MACD-histogram values."""

    name = "starter"

    def __init__(self, params: StrategySettings) -> None:
        self._p = params
        self.inputs = (
            f"ema{params.ema_mid}",
            f"ema{params.ema_slow}",
            f"rsi{params.rsi_period}",
            f"atr{params.atr_period}",
            "macd_hist",
        )

    def new_state(self) -> AgentState:
        """The histogram memory, oldest first (NaN until seen)."""
        return {"hist": np.full(3, np.nan)}

    def on_bar(
        self, ctx: BarContext, bar: Candle, feats: Mapping[str, float], state: AgentState
    ) -> list[SignalRaw]:
        """Evaluate the rule on one closed candle and its features."""
        p = self._p
        hist = state["hist"]
        hist[0], hist[1], hist[2] = hist[1], hist[2], feats["macd_hist"]
        ema_mid, ema_slow = feats[f"ema{p.ema_mid}"], feats[f"ema{p.ema_slow}"]
        rsi, atr = feats[f"rsi{p.rsi_period}"], feats[f"atr{p.atr_period}"]
        h2, h1, h0 = float(hist[0]), float(hist[1]), float(hist[2])
        if math.isnan(ema_mid + ema_slow + rsi + atr + h2 + h1 + h0):  # any NaN (warm-up)
            return []
        if not (p.rsi_low <= rsi <= p.rsi_high and atr > 0):
            return []
        shorts = ctx.shorts or p.allow_short
        if ema_mid > ema_slow and bar.close > ema_slow and h2 > h1 < h0:
            return [self._signal(bar, "long", ema_mid, ema_slow, rsi, atr, h1, h0)]
        if shorts and ema_mid < ema_slow and bar.close < ema_slow and h2 < h1 > h0:
            return [self._signal(bar, "short", ema_mid, ema_slow, rsi, atr, h1, h0)]
        return []

    def _signal(
        self,
        candle: Candle,
        side: Literal["long", "short"],
        ema_mid: float,
        ema_slow: float,
        rsi: float,
        atr: float,
        h1: float,
        h0: float,
    ) -> SignalRaw:
        p = self._p
        sign = 1 if side == "long" else -1
        strength = min(1.0, abs(ema_mid - ema_slow) / ema_slow * 50)
        score = round(0.5 + 0.25 * strength + 0.25 * (1 - abs(rsi - 50) / 50), 4)
        arrow, rel = ("↑", ">") if side == "long" else ("↓", "<")
        return SignalRaw(
            agent=AGENT,
            venue=candle.venue,
            symbol=candle.symbol,
            tf=candle.tf,
            open_time=candle.open_time,
            side_hint=side,
            entry_hint=candle.close,
            sl_hint=candle.close - sign * p.atr_stop_mult * atr,
            tpR=tuple(p.take_profit_r),
            features={
                f"trend_{'up' if side == 'long' else 'down'}": True,
                f"macd_hist_turn_{'up' if side == 'long' else 'down'}": True,
                "rsi_in_band": True,
            },
            score=max(0.0, min(1.0, score)),
            ttl_bars=1,
            why=(
                f"EMA{p.ema_mid}{rel}EMA{p.ema_slow}, MACD hist {arrow} ({_num(h1)}→{_num(h0)}),"
                f" RSI {rsi:.0f}, ATR {_num(atr)}"
            ),
        )


def _num(x: float) -> str:
    """Four significant digits, so an XRP histogram reads 0.0012 rather than 0.00."""
    return f"{x:.4g}" if abs(x) < 10_000 else f"{x:.0f}"


def plugin(settings: Settings) -> StarterRule:
    """Entry point ``greenlight.agents: starter``."""
    return StarterRule(settings.strategy)
