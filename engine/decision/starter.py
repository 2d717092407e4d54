"""The starter rule: a deliberately narrow long-only setup that drives the plumbing.

Trend: EMA(mid) above EMA(slow) and close above EMA(slow). Entry: the MACD histogram turns
up (it was falling, now it rises) while RSI sits between ``rsi_low`` and ``rsi_high``. Stop:
``atr_stop_mult`` × ATR below the close. Replaceable by the SMC/retest agents.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

from engine.contracts import Candle, SignalRaw
from engine.settings import StrategySettings

AGENT = "starter.v1"


class StarterRule:
    """Stateful per stream: remembers the last histogram values it saw."""

    def __init__(self, params: StrategySettings, shorts: bool = False) -> None:
        self._p = params
        self._shorts = shorts or params.allow_short
        self._hist: deque[float] = deque(maxlen=3)

    def seed(self, hist_values: list[float]) -> None:
        """Restore the histogram memory after a restart (oldest first)."""
        self._hist.clear()
        self._hist.extend(hist_values[-3:])

    def on_candle(self, candle: Candle, f: dict[str, float]) -> SignalRaw | None:
        """Evaluate the rule on one closed candle and its features."""
        p = self._p
        self._hist.append(f["macd_hist"])
        ema_mid, ema_slow = f[f"ema{p.ema_mid}"], f[f"ema{p.ema_slow}"]
        rsi, atr = f[f"rsi{p.rsi_period}"], f[f"atr{p.atr_period}"]
        if len(self._hist) < 3 or any(
            math.isnan(v) for v in (ema_mid, ema_slow, rsi, atr, *self._hist)
        ):
            return None
        if not (p.rsi_low <= rsi <= p.rsi_high and atr > 0):
            return None
        h2, h1, h0 = self._hist
        if ema_mid > ema_slow and candle.close > ema_slow and h2 > h1 < h0:
            return self._signal(candle, "long", ema_mid, ema_slow, rsi, atr)
        if self._shorts and ema_mid < ema_slow and candle.close < ema_slow and h2 < h1 > h0:
            return self._signal(candle, "short", ema_mid, ema_slow, rsi, atr)
        return None

    def _signal(
        self,
        candle: Candle,
        side: Literal["long", "short"],
        ema_mid: float,
        ema_slow: float,
        rsi: float,
        atr: float,
    ) -> SignalRaw:
        p = self._p
        sign = 1 if side == "long" else -1
        h1, h0 = self._hist[1], self._hist[2]
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
                f"EMA{p.ema_mid}{rel}EMA{p.ema_slow}, MACD hist {arrow} ({h1:.2f}→{h0:.2f}), "
                f"RSI {rsi:.0f}, ATR {atr:.2f}"
            ),
        )
