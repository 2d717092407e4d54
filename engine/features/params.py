"""Indicator periods for one feature stream and the names of the series they produce."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from greenlight.core.settings import StrategySettings

MAX_PERIOD = 100_000


@dataclass(frozen=True)
class FeatureParams:
    """Periods of every indicator the feature engine computes.

    ``ema`` holds three distinct EMA periods, ``macd`` is ``(fast, slow, signal)`` with
    ``fast < slow``, ``bb``/``bb_k`` are the Bollinger period and band width in standard
    deviations. Invalid combinations raise ``ValueError`` at construction.
    """

    ema: tuple[int, int, int] = (20, 50, 200)
    rsi: int = 14
    macd: tuple[int, int, int] = (12, 26, 9)
    atr: int = 14
    bb: int = 20
    bb_k: float = 2.0
    vwma: int = 20
    adx: int = 14

    def __post_init__(self) -> None:
        if len(self.ema) != 3 or len(self.macd) != 3:
            raise ValueError("FeatureParams: ema and macd need exactly three periods each")
        for value in self.periods():
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"FeatureParams: periods must be ints, got {value!r}")
        periods = {
            "ema": (min(self.ema), 2),
            "rsi": (self.rsi, 2),
            "macd fast": (self.macd[0], 2),
            "macd signal": (self.macd[2], 1),
            "atr": (self.atr, 2),
            "bb": (self.bb, 2),
            "vwma": (self.vwma, 1),
            "adx": (self.adx, 2),
        }
        for label, (value, low) in periods.items():
            if not low <= value <= MAX_PERIOD:
                raise ValueError(f"FeatureParams: {label} period must be in [{low}, {MAX_PERIOD}]")
        if max(self.ema) > MAX_PERIOD or max(self.macd) > MAX_PERIOD:
            raise ValueError(f"FeatureParams: ema and macd periods must be <= {MAX_PERIOD}")
        if len(set(self.ema)) != 3:
            raise ValueError(f"FeatureParams: the three EMA periods must differ, got {self.ema}")
        if not self.macd[0] < self.macd[1]:
            raise ValueError(f"FeatureParams: macd fast < slow is required, got {self.macd}")
        if not (math.isfinite(self.bb_k) and self.bb_k > 0):
            raise ValueError(f"FeatureParams: bb_k must be a positive number, got {self.bb_k}")

    @classmethod
    def from_settings(cls, s: StrategySettings) -> FeatureParams:
        """Take the EMA, RSI, MACD and ATR periods from the strategy settings; the rest
        keep their defaults."""
        return cls(
            ema=(s.ema_fast, s.ema_mid, s.ema_slow),
            rsi=s.rsi_period,
            macd=(s.macd_fast, s.macd_slow, s.macd_signal),
            atr=s.atr_period,
        )

    def names(self) -> tuple[str, ...]:
        """Output series names, in the order the kernel writes them."""
        e1, e2, e3 = self.ema
        return (
            f"ema{e1}",
            f"ema{e2}",
            f"ema{e3}",
            f"rsi{self.rsi}",
            "macd",
            "macd_signal",
            "macd_hist",
            f"atr{self.atr}",
            "bb_upper",
            "bb_middle",
            "bb_lower",
            "bb_width",
            "vwap",
            f"vwma{self.vwma}",
            f"adx{self.adx}",
            f"plus_di{self.adx}",
            f"minus_di{self.adx}",
        )

    def periods(self) -> tuple[int, ...]:
        """The integer periods in kernel order (see ``kernels.step``)."""
        return (*self.ema, self.rsi, *self.macd, self.atr, self.bb, self.vwma, self.adx)

    def fconfig(self) -> npt.NDArray[np.float64]:
        """Float constants for the kernels: bb_k, EMA alphas (3 EMAs, MACD fast, slow and
        signal), 1/rsi and 1/bb. Python's ``2.0 / (n + 1)`` is TA-Lib's value to the bit."""
        alphas = [2.0 / (n + 1) for n in (*self.ema, *self.macd)]
        return np.array([self.bb_k, *alphas, 1.0 / self.rsi, 1.0 / self.bb], dtype=np.float64)

    def config(self, groups: int = 255) -> npt.NDArray[np.int64]:
        """The periods plus the indicator-group mask, as the array the numba kernels read."""
        return np.array((*self.periods(), groups), dtype=np.int64)
