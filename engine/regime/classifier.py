"""Regime stage: parameters, state, batch and streaming runs, and ``regime.v1`` events."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from engine.regime import kernel as K

if TYPE_CHECKING:
    from greenlight.core.settings import RegimeSettings

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RegimeParams:
    """Rolling window (bars), warm-up, ADX trend threshold, ATR-percentile shock threshold and
    the minimum Bollinger-width percentile for a trend."""

    window: int = 500
    min_periods: int = 100
    adx_trend: float = 25.0
    shock_pct: float = 0.95
    trend_bbw_pct: float = 0.30

    def __post_init__(self) -> None:
        if not 1 <= self.min_periods <= self.window:
            raise ValueError(
                f"RegimeParams: need 1 <= min_periods <= window, got "
                f"{self.min_periods}, {self.window}"
            )
        if not (0 < self.shock_pct <= 1 and 0 <= self.trend_bbw_pct <= 1 and self.adx_trend > 0):
            raise ValueError("RegimeParams: percentiles must be in (0, 1], adx_trend > 0")

    @classmethod
    def from_settings(cls, s: RegimeSettings) -> RegimeParams:
        """The ``[regime]`` settings section as stage parameters."""
        return cls(s.window, s.min_periods, s.adx_trend, s.shock_pct, s.trend_bbw_pct)

    def config(self) -> F64:
        """The float64 config vector the numba step reads."""
        return np.array(
            [self.window, self.min_periods, self.adx_trend, self.shock_pct, self.trend_bbw_pct],
            dtype=np.float64,
        )


@dataclass
class RegimeState:
    """Explicit state of one stream's regime stage."""

    scalars: F64
    rings: F64

    @classmethod
    def fresh(cls, params: RegimeParams) -> RegimeState:
        """State before the first candle."""
        return cls(np.zeros(K.S_SIZE), np.zeros((2, params.window)))

    def to_bytes(self) -> bytes:
        """Serialise (npz) for persistence; restore with :meth:`from_bytes`."""
        buf = io.BytesIO()
        np.savez(buf, scalars=self.scalars, rings=self.rings)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> RegimeState:
        """Inverse of :meth:`to_bytes`."""
        with np.load(io.BytesIO(data)) as z:
            return cls(z["scalars"], z["rings"])


def run_regime_batch(
    adx: F64,
    atr: F64,
    close: F64,
    bb_width: F64,
    params: RegimeParams,
    state: RegimeState | None = None,
) -> tuple[F64, RegimeState]:
    """One output row per candle (``kernel.O_*``; O_REGIME codes in ``kernel.NAMES``)."""
    st = state if state is not None else RegimeState.fresh(params)
    out = np.zeros((close.shape[0], K.O_COLS))
    K.regime_run(params.config(), st.scalars, st.rings, adx, atr, close, bb_width, out)
    return out, st


class RegimeClassifier:
    """Streaming regime stage for one stream."""

    def __init__(self, params: RegimeParams, state: RegimeState | None = None) -> None:
        self.params = params
        self.state = state if state is not None else RegimeState.fresh(params)
        self._cfg = params.config()
        self._out = np.zeros(K.O_COLS)

    def update(self, adx: float, atr: float, close: float, bb_width: float) -> F64:
        """Consume one candle's indicators; return its output row (a fresh array)."""
        K.regime_step(
            self._cfg, self.state.scalars, self.state.rings, adx, atr, close, bb_width, self._out
        )
        return self._out.copy()


def regime_changes(out: F64) -> npt.NDArray[np.int64]:
    """Positions where the regime differs from the previous candle's (first known included)."""
    codes = out[:, K.O_REGIME]
    prev = np.concatenate([[K.UNKNOWN], codes[:-1]])
    return np.flatnonzero(codes != prev)
