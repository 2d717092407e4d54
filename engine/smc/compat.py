"""Compatibility mode: the outputs of smartmoneyconcepts 0.0.27 (``swing_highs_lows``,
``bos_choch``, ``fvg``, ``ob``) computed by our numba kernels.

This mode labels with hindsight, exactly like the library; it exists so that our definitions
can be checked against a peer. Trading uses the causal engine (:mod:`engine.smc.engine`).
Indices are 0-based row positions, as in the library; the library is purely positional, so
gaps in the candle times are ignored here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.smc.compat_structure import compat_bos_choch, compat_swings
from engine.smc.compat_zones import compat_fvg, compat_ob
from greenlight.core.candlefile import CandleArrays

F64 = npt.NDArray[np.float64]

COMPAT_COLUMNS = (
    "swing_HighLow",
    "swing_Level",
    "bos_BOS",
    "bos_CHOCH",
    "bos_Level",
    "bos_BrokenIndex",
    "fvg_FVG",
    "fvg_Top",
    "fvg_Bottom",
    "fvg_MitigatedIndex",
    "ob_OB",
    "ob_Top",
    "ob_Bottom",
    "ob_OBVolume",
    "ob_MitigatedIndex",
    "ob_Percentage",
)
# Columns the library produces as float32; written with float32's shortest representation.
FLOAT32_COLUMNS = frozenset({"bos_Level", "ob_Top", "ob_Bottom", "ob_OBVolume", "ob_Percentage"})


def _nan_where(mask: npt.NDArray[np.bool_], values: npt.ArrayLike) -> F64:
    out = np.asarray(values, dtype=np.float64).copy()
    out[~mask] = np.nan
    return out


@dataclass(frozen=True)
class SmcCompat:
    """Library-shaped columns, one float64 array per name in :data:`COMPAT_COLUMNS` (NaN where
    the library gives NaN; float32 columns hold float32-rounded values)."""

    columns: dict[str, F64]

    def __getitem__(self, name: str) -> F64:
        return self.columns[name]


def smc_compat(
    candles: CandleArrays, swing_length: int = 50, join_consecutive_fvg: bool = False
) -> SmcCompat:
    """Run the four library functions with their defaults (``close_break=True``,
    ``close_mitigation=False``); volume NaN (file without volume) counts as 0."""
    if swing_length < 1:
        raise ValueError(f"swing_length must be >= 1, got {swing_length}")
    o, h, lo, c = candles.open, candles.high, candles.low, candles.close
    vol = np.nan_to_num(candles.volume, nan=0.0)
    kind, level = compat_swings(h, lo, swing_length)
    bos, choch, bos_level, broken = compat_bos_choch(kind, level, c)
    fvg, f_top, f_bot, f_mit = compat_fvg(o, h, lo, c, join_consecutive_fvg)
    ob, ob_top, ob_bot, ob_vol, ob_mit, ob_pct = compat_ob(h, lo, c, vol, kind)
    has_fvg = fvg != 0
    has_ob = ob != 0
    cols: dict[str, F64] = {
        "swing_HighLow": _nan_where(kind != 0, kind),
        "swing_Level": level,
        "bos_BOS": _nan_where(bos != 0, bos),
        "bos_CHOCH": _nan_where(choch != 0, choch),
        "bos_Level": bos_level,
        "bos_BrokenIndex": _nan_where(broken >= 0, broken),
        "fvg_FVG": _nan_where(has_fvg, fvg),
        "fvg_Top": f_top,
        "fvg_Bottom": f_bot,
        "fvg_MitigatedIndex": _nan_where(has_fvg, f_mit),
        "ob_OB": _nan_where(has_ob, ob),
        "ob_Top": _nan_where(has_ob, ob_top),
        "ob_Bottom": _nan_where(has_ob, ob_bot),
        "ob_OBVolume": _nan_where(has_ob, ob_vol),
        "ob_MitigatedIndex": _nan_where(has_ob, ob_mit),
        "ob_Percentage": _nan_where(has_ob, ob_pct),
    }
    return SmcCompat(cols)
