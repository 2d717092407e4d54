"""The volatility guard: OK / CHOP / SHOCK (UNKNOWN while the regime stage warms up).

From the regime stage's output at the candle: SHOCK when the regime is SHOCK (normalised-ATR
percentile at or above ``regime.shock_pct``); CHOP when the regime is RANGE and the
Bollinger-width percentile is at most ``[volatility] chop_bbw_pct`` (a squeezed, directionless
market where structure breaks are noise); OK otherwise. Which of CHOP and SHOCK block is
``[volatility] block``; UNKNOWN always blocks (a guard that cannot see does not pass).

The classification is a numba step (:func:`vol_step`), looped over arrays by :func:`vol_run`
for batch runs, so live and batch agree by construction.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.guards.verdict import Verdict
from engine.regime import kernel as RK
from greenlight.core.settings_decision import VolatilitySettings

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

OK = 0
CHOP = 1
SHOCK = 2
UNKNOWN = 3
NAMES = ("OK", "CHOP", "SHOCK", "UNKNOWN")


@njit(cache=True)
def vol_step(regime: int, bbw_pct: float, chop_bbw_pct: float) -> int:
    """The volatility state of one candle from its regime code and Bollinger-width
    percentile."""
    if regime == RK.SHOCK:
        return SHOCK
    if regime == RK.UNKNOWN:
        return UNKNOWN
    if regime == RK.RANGE and bbw_pct <= chop_bbw_pct:
        return CHOP
    return OK


@njit(cache=True)
def vol_run(regime: F64, bbw_pct: F64, chop_bbw_pct: float, out: I64) -> None:
    """Batch: :func:`vol_step` over every candle (regime codes as float, as the regime
    stage writes them)."""
    for i in range(regime.shape[0]):
        out[i] = vol_step(int(regime[i]), bbw_pct[i], chop_bbw_pct)


def vol_states(regime_out: F64, settings: VolatilitySettings) -> I64:
    """The state of every candle of a batch regime output (``regime.kernel.O_*`` columns)."""
    out = np.zeros(regime_out.shape[0], np.int64)
    regime = np.ascontiguousarray(regime_out[:, RK.O_REGIME])
    bbw = np.ascontiguousarray(regime_out[:, RK.O_BBW_PCT])
    vol_run(regime, bbw, settings.chop_bbw_pct, out)
    return out


def vol_verdict(code: int, settings: VolatilitySettings, atr_pct: float, bbw_pct: float) -> Verdict:
    """The verdict of a state code; the note quotes the percentiles."""
    if code == UNKNOWN:
        return _UNKNOWN
    name = NAMES[code]
    return Verdict("vol", name, name in settings.block, _WHY[code], None, _why(atr_pct, bbw_pct))


@lru_cache(maxsize=8192)  # percentiles are ranks in a window: the same values come back
def _why(atr_pct: float, bbw_pct: float) -> str:
    return f"ATR pct {atr_pct:.2f}, BB-width pct {bbw_pct:.2f}"


_UNKNOWN = Verdict("vol", "UNKNOWN", True, "regime unknown (warming up)")
_WHY = {
    OK: "",
    CHOP: "ranging with Bollinger width in its lowest percentiles",
    SHOCK: "ATR in its highest percentiles",
}
