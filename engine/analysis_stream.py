"""The analysis stages after the features for one live stream: SMC → retest → regime.

:class:`StreamAnalysis` feeds one closed candle and its feature values through the causal SMC
engine, the retest analyzer and the regime classifier (the same numba steps the batch
``greenlight analyze`` loops), and serialises the three states together so the pipeline can
persist them with the feature state and resume after a restart without recomputing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.events import Candle, RegimeEvent
from engine.features import FeatureParams
from engine.regime import kernel as RK
from engine.regime.classifier import RegimeClassifier, RegimeParams, RegimeState
from engine.retest.analyzer import RetestAnalyzer, RetestParams, RetestState, to_signal
from engine.smc import layout as L
from engine.smc.engine import SmcEngine, SmcParams, SmcState
from greenlight.core.contracts import SignalRaw
from greenlight.core.settings import Settings

F64 = npt.NDArray[np.float64]

_MAGIC = b"GLAN"
_VERSION = 1
# Header of a stream-state blob: magic, version and one int64 (here: the last regime code).
STATE_HEAD = struct.Struct("<4sBq")
_ARRAY = struct.Struct("<cBqq")  # dtype ('f' float64 / 'i' int64), ndim, rows, cols


class AnalysisStateError(ValueError):
    """Persisted analysis state is unreadable or does not fit the configured parameters."""


@dataclass(frozen=True)
class AnalysisStep:
    """What one candle produced: SMC event rows, a retest signal (and the retest stage's
    output row when it confirmed), the regime with its code and percentiles and, when the
    regime changed to a known one, its ``regime.v1`` event."""

    smc_rows: F64
    signal: SignalRaw | None
    regime: str  # "" while unknown
    regime_event: RegimeEvent | None
    retest_out: F64 | None = None
    regime_code: int = 0
    atr_pct: float = float("nan")
    bbw_pct: float = float("nan")


@dataclass(frozen=True)
class AnalysisParams:
    """Parameters of the three stages and the feature names they read."""

    smc: SmcParams
    retest: RetestParams
    regime: RegimeParams
    atr: str
    rsi: str
    adx: str

    @classmethod
    def from_settings(cls, s: Settings) -> AnalysisParams:
        """From the ``[smc]``, ``[retest]``, ``[regime]`` and ``[strategy]`` sections."""
        f = FeatureParams.from_settings(s.strategy)
        return cls(
            SmcParams.from_settings(s.smc),
            RetestParams.from_settings(s.retest, s.strategy.take_profit_r, s.smc.zone_capacity),
            RegimeParams.from_settings(s.regime),
            f"atr{f.atr}",
            f"rsi{f.rsi}",
            f"adx{f.adx}",
        )


def pack_arrays(arrays: list[npt.NDArray[Any]]) -> bytes:
    """Serialise float64/int64 arrays (1-D or 2-D) back to back; see :func:`unpack_arrays`."""
    parts: list[Any] = []
    for a in arrays:
        code = b"i" if a.dtype == np.int64 else b"f"
        parts.append(_ARRAY.pack(code, a.ndim, a.shape[0], a.shape[1] if a.ndim == 2 else 0))
        parts.append(a if a.flags.c_contiguous else np.ascontiguousarray(a))  # its buffer
    return b"".join(parts)


def read_state_head(data: bytes, magic: bytes, version: int, what: str) -> int:
    """The int64 of a :data:`STATE_HEAD` header after checking its magic and version; raise
    :class:`AnalysisStateError` naming ``what`` (the kind of state) otherwise."""
    if len(data) < STATE_HEAD.size or data[:4] != magic:
        raise AnalysisStateError(f"not {what} (bad header)")
    _magic, got, value = STATE_HEAD.unpack_from(data)
    if got != version:
        raise AnalysisStateError(f"{what} version {got}, expected {version}")
    return int(value)


def unpack_arrays(data: bytes, offset: int, count: int) -> list[npt.NDArray[Any]]:
    """Read ``count`` arrays written by :func:`pack_arrays` from ``data[offset:]``, which must
    end exactly after them; raise :class:`AnalysisStateError` otherwise."""
    out = []
    for _ in range(count):
        if offset + _ARRAY.size > len(data):
            raise AnalysisStateError("analysis state is truncated")
        code, ndim, rows, cols = _ARRAY.unpack_from(data, offset)
        offset += _ARRAY.size
        dtype = np.int64 if code == b"i" else np.float64
        n = rows * (cols if ndim == 2 else 1)
        if offset + 8 * n > len(data):
            raise AnalysisStateError("analysis state is truncated")
        a = np.frombuffer(data, dtype, n, offset).copy()
        out.append(a.reshape((rows, cols)) if ndim == 2 else a)
        offset += 8 * n
    if offset != len(data):
        raise AnalysisStateError(f"analysis state has {len(data) - offset} unexpected bytes")
    return out


class StreamAnalysis:
    """SMC, retest and regime state of one (venue, symbol, tf) stream."""

    def __init__(self, params: AnalysisParams) -> None:
        self.params = params
        self.smc = SmcEngine(params.smc)
        self.retest = RetestAnalyzer(params.retest)
        self.regime = RegimeClassifier(params.regime)
        self.regime_code = RK.UNKNOWN

    @property
    def regime_name(self) -> str:
        """The regime at the last candle ("" while unknown)."""
        return RK.NAMES[self.regime_code]

    def step(self, candle: Candle, f: dict[str, float]) -> AnalysisStep:
        """Advance every stage by one closed candle with its feature values."""
        c = candle
        rows = self.smc.update(c.open_time, c.open, c.high, c.low, c.close, c.volume)
        p = self.params
        atr = f[p.atr]
        out = self.retest.update(
            rows, c.open, c.high, c.low, c.close, atr, f[p.rsi], f["macd_hist"]
        )
        signal = None
        if out is not None:
            signal = to_signal(out, p.retest, c.venue, c.symbol, c.tf, c.open_time)
        reg = self.regime.update(f[p.adx], atr, c.close, f["bb_width"])
        code = int(reg[RK.O_REGIME])
        event = None
        if code != self.regime_code and code != RK.UNKNOWN:
            event = RegimeEvent(
                venue=c.venue,
                symbol=c.symbol,
                tf=c.tf,
                open_time=c.open_time,
                regime=RK.NAMES[code],
                adx=float(reg[RK.O_ADX]),
                atr_pct=float(reg[RK.O_ATR_PCT]),
                bbw_pct=float(reg[RK.O_BBW_PCT]),
            )
        self.regime_code = code
        atr_pct, bbw_pct = float(reg[RK.O_ATR_PCT]), float(reg[RK.O_BBW_PCT])
        return AnalysisStep(rows, signal, RK.NAMES[code], event, out, code, atr_pct, bbw_pct)

    def to_bytes(self) -> bytes:
        """Serialise the three states (restore with :meth:`from_bytes`)."""
        s, t, r = self.smc.state, self.retest.state, self.regime.state
        arrays = [s.cfg, s.ints, s.floats, s.ring, s.zones, t.scalars, t.zones, t.setups]
        return STATE_HEAD.pack(_MAGIC, _VERSION, self.regime_code) + pack_arrays(
            [*arrays, r.scalars, r.rings]
        )

    @classmethod
    def from_bytes(cls, params: AnalysisParams, data: bytes) -> StreamAnalysis:
        """Restore a stream saved by :meth:`to_bytes`; raise :class:`AnalysisStateError` when
        the data is damaged or was made with other parameters."""
        code = read_state_head(data, _MAGIC, _VERSION, "analysis state")
        a = unpack_arrays(data, STATE_HEAD.size, 10)
        self = cls(params)
        smc = SmcState(a[0].astype(np.int64), a[1].astype(np.int64), a[2], a[3], a[4])
        fresh = SmcState.fresh(params.smc)
        same = np.array_equal(smc.cfg, fresh.cfg) and smc.floats.shape == fresh.floats.shape
        same = same and smc.floats[L.F_ZZ_MULT] == fresh.floats[L.F_ZZ_MULT]
        if not same or smc.zones.shape != fresh.zones.shape:
            raise AnalysisStateError(
                "analysis state was saved with other [smc] settings; rebuild it by warming up"
            )
        if a[9].shape[1] != params.regime.window or a[6].shape[0] != params.retest.zone_capacity:
            raise AnalysisStateError(
                "analysis state was saved with other [regime]/[retest] settings; rebuild it"
            )
        self.smc = SmcEngine(params.smc, state=smc)
        self.retest = RetestAnalyzer(params.retest, RetestState(a[5], a[6], a[7]))
        self.regime = RegimeClassifier(params.regime, RegimeState(a[8], a[9]))
        self.regime_code = int(code)
        return self
