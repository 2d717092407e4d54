"""How a bracket fills over the candles after its entry: the simulator's matching rules
(:mod:`sim.spot.matching`: a triggered stop fills as market at its level, a resting take-profit
limit fills at its price when the path touches it, the stop's quantity shrinks as targets
fill) applied to an intrabar price path.

Paths (``[backtest] intrabar``):

* ``ohlc`` (default): open → the extreme nearer the open → the other extreme → close. A
  candle that opens beyond a level fills it at the open (gaps fill at the open). When the
  path cannot tell (the open is as far from the high as from the low) and a stop and a
  target are both inside the candle, the stop's extreme comes first.
* ``sim``: the simulator's replay path (:func:`sim.replay.player.candle_vertices`: bullish
  O→L→H→C, bearish O→H→L→C) from the previous close, followed literally; the path is
  continuous, so a gap fills at the level, as in ``greenlight demo``.

With a sub-timeframe file, the finer candles inside a candle are walked one by one with
the rule above. Python only looks at candles where a level is touched: a compiled scan
(:func:`first_touch`) finds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from numba import njit

from greenlight.core.candlefile import CandleArrays
from sim.replay.player import candle_vertices

F64 = npt.NDArray[np.float64]
INF = float("inf")


@njit(cache=True)
def first_touch(high: F64, low: F64, start: int, end: int, below: float, above: float) -> int:
    """First candle in ``[start, end)`` whose range reaches ``below`` or ``above``; ``end``
    when none does."""
    for j in range(start, end):
        if low[j] <= below or high[j] >= above:
            return j
    return end


@dataclass(frozen=True)
class Plan:
    """A bracket to fill: side (+1 long, −1 short), the loss-side exit (stop, or the
    liquidation price when nearer) and the take-profit ladder, nearest first."""

    side: int
    quantity: Decimal
    stop: Decimal
    targets: tuple[tuple[Decimal, Decimal], ...]  # (price, quantity)
    liquidation: Decimal | None = None


@dataclass(frozen=True)
class Exit:
    """One exit leg: where (candle index of the main series, the finer candle's open time),
    at what price before slippage, how much, why, and whether it was a market fill."""

    bar: int
    time: int
    price: Decimal
    quantity: Decimal
    reason: str
    market: bool


class _Walk:
    """The remaining levels of one bracket while its candles are walked."""

    def __init__(self, plan: Plan) -> None:
        self.s = plan.side
        self.left = plan.quantity
        self.targets = list(plan.targets)
        stop, liq = plan.stop, plan.liquidation
        nearer_liq = liq is not None and liq > 0 and (liq - stop) * self.s > 0
        self.loss = liq if nearer_liq and liq is not None else stop
        self.loss_reason = "liquidation" if nearer_liq else "stop"
        self.exits: list[Exit] = []

    def levels(self) -> tuple[float, float]:
        """(below, above) levels for the scan."""
        win = float(self.targets[0][0]) if self.targets else (INF if self.s > 0 else -INF)
        loss = float(self.loss)
        return (loss, win) if self.s > 0 else (win, loss)

    def _lost(self, px: float) -> bool:
        return (px - float(self.loss)) * self.s <= 0

    def _won(self, px: float) -> bool:
        return bool(self.targets) and (px - float(self.targets[0][0])) * self.s >= 0

    def _fill_loss(self, bar: int, t: int, price: Decimal) -> None:
        self.exits.append(Exit(bar, t, price, self.left, self.loss_reason, True))
        self.left = Decimal(0)

    def _fill_target(self, bar: int, t: int, price: Decimal | None) -> None:
        level, qty = self.targets.pop(0)
        qty = min(qty, self.left)
        self.exits.append(
            Exit(bar, t, level if price is None else price, qty, "take_profit", False)
        )
        self.left -= qty

    def ohlc(self, bar: int, t: int, o: float, h: float, lo: float, c: float) -> None:
        """One candle on the ``ohlc`` path (see the module docstring)."""
        if self._lost(o):
            self._fill_loss(bar, t, Decimal(repr(o)))
            return
        while self.left > 0 and self._won(o):
            self._fill_target(bar, t, Decimal(repr(o)))
        if self.left <= 0:
            return
        up_first = (h - o) < (o - lo) or ((h - o) == (o - lo) and self.s < 0)
        self.path(bar, t, (o, h, lo, c) if up_first else (o, lo, h, c))

    def path(self, bar: int, t: int, points: tuple[float, ...]) -> None:
        """One candle on a continuous path (``sim``): levels fill at their price in the
        order the path reaches them."""
        for a, b in zip(points, points[1:], strict=False):
            if self.left <= 0:
                return
            toward_loss = (b - a) * self.s < 0
            if toward_loss and self._lost(b):
                self._fill_loss(bar, t, self.loss)
                return
            while not toward_loss and self.left > 0 and self._won(b):
                self._fill_target(bar, t, None)


def resolve(
    plan: Plan,
    c: CandleArrays,
    entry_bar: int,
    mode: str,
    max_hold: int = 0,
    sub: CandleArrays | None = None,
    tf_ms: int = 0,
) -> list[Exit]:
    """The exit legs of ``plan`` entered at the close of candle ``entry_bar``: stops,
    targets, liquidation; ``ttl`` at the close after ``max_hold`` candles (0: never);
    ``end_of_data`` at the last close."""
    w = _Walk(plan)
    n = len(c)
    end = n if max_hold <= 0 else min(n, entry_bar + 1 + max_hold)
    j = entry_bar + 1
    while w.left > 0:
        below, above = w.levels()
        j = int(first_touch(c.high, c.low, j, end, below, above))
        if j >= end:
            last = end - 1
            reason = "end_of_data" if end == n else "ttl"
            t = int(c.open_time[last])
            price = Decimal(repr(float(c.close[last])))
            w.exits.append(Exit(last, t, price, w.left, reason, True))
            break
        _candle(w, c, j, mode, sub, tf_ms)
        j += 1
    return w.exits


def _candle(
    w: _Walk, c: CandleArrays, j: int, mode: str, sub: CandleArrays | None, tf_ms: int
) -> None:
    t0 = int(c.open_time[j])
    if sub is not None:
        a = int(np.searchsorted(sub.open_time, t0, side="left"))
        b = int(np.searchsorted(sub.open_time, t0 + tf_ms, side="left"))
        if b > a:
            for k in range(a, b):
                if w.left <= 0:
                    return
                ohlc = (sub.open[k], sub.high[k], sub.low[k], sub.close[k])
                w.ohlc(j, int(sub.open_time[k]), *(float(v) for v in ohlc))
            return
    o, h, lo, cl = (float(c.open[j]), float(c.high[j]), float(c.low[j]), float(c.close[j]))
    if mode == "sim":
        prev = float(c.close[j - 1]) if j > 0 else o
        w.path(j, t0, (prev, *candle_vertices(o, h, lo, cl)))
    else:
        w.ohlc(j, t0, o, h, lo, cl)
