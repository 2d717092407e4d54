"""The starter rule: a deliberately narrow long-only setup that drives the plumbing.

Trend: EMA(mid) above EMA(slow) and close above EMA(slow). Entry: the MACD histogram turns
up (it was falling, now it rises) while RSI sits between ``rsi_low`` and ``rsi_high``. Stop:
``atr_stop_mult`` × ATR below the close. Replaceable by the SMC/retest agents.
"""

from __future__ import annotations

import math
from collections import deque

from engine.contracts import Candle, SignalRaw
from engine.settings import StrategySettings

AGENT = "starter.v1"


class StarterRule:
    """Stateful per stream: remembers the last histogram values it saw."""

    def __init__(self, params: StrategySettings) -> None:
        self._p = params
        self._hist: deque[float] = deque(maxlen=3)

    def seed(self, hist_values: list[float]) -> None:
        """Restore the histogram memory after a restart (oldest first)."""
        self._hist.clear()
        self._hist.extend(hist_values[-3:])

    def on_candle(self, candle: Candle, f: dict[str, float]) -> SignalRaw | None:
        """Evaluate the rule on one closed candle and its features."""
        p = self._p
        hist = f["macd_hist"]
        self._hist.append(hist)
        ema_mid, ema_slow = f[f"ema{p.ema_mid}"], f[f"ema{p.ema_slow}"]
        rsi, atr = f[f"rsi{p.rsi_period}"], f[f"atr{p.atr_period}"]
        values = (hist, ema_mid, ema_slow, rsi, atr)
        if len(self._hist) < 3 or any(math.isnan(v) for v in (*values, *self._hist)):
            return None
        h2, h1, h0 = self._hist
        trend = ema_mid > ema_slow and candle.close > ema_slow
        turn = h2 > h1 and h0 > h1
        rsi_ok = p.rsi_low <= rsi <= p.rsi_high
        if not (trend and turn and rsi_ok and atr > 0):
            return None
        stop = candle.close - p.atr_stop_mult * atr
        strength = min(1.0, (ema_mid - ema_slow) / ema_slow * 50)
        score = round(0.5 + 0.25 * strength + 0.25 * (1 - abs(rsi - 50) / 50), 4)
        return SignalRaw(
            agent=AGENT,
            venue=candle.venue,
            symbol=candle.symbol,
            tf=candle.tf,
            open_time=candle.open_time,
            side_hint="long",
            entry_hint=candle.close,
            sl_hint=stop,
            tpR=tuple(p.take_profit_r),
            features={"trend_up": trend, "macd_hist_turn_up": turn, "rsi_in_band": rsi_ok},
            score=max(0.0, min(1.0, score)),
            ttl_bars=1,
            why=(
                f"EMA{p.ema_mid}>EMA{p.ema_slow}, MACD hist ↑ ({h1:.2f}→{h0:.2f}), "
                f"RSI {rsi:.0f}, ATR {atr:.2f}"
            ),
        )
