"""Live and batch feature computation over one candle stream.

``FeatureEngine`` owns one stream's state vectors. ``update`` (one closed candle) and
``warm_up``/``compute_batch`` (many candles) call the same numba kernel, ``kernels.run``,
which loops ``kernels.step``; live outputs are therefore identical to batch outputs. A
single compiled entry point keeps the one-off numba compile short.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from engine.features import kernels
from engine.features.params import FeatureParams
from greenlight.core.candlefile import CandleArrays

FloatArray = npt.NDArray[np.float64]

_MAGIC = b"GLFE"
_VERSION = 1
_HEADER = struct.Struct("<4sB11qd")  # magic, version, 11 periods, bb_k; then si and s

_ERRORS = {
    kernels.ERR_TIME: "open time is not after the previous candle's",
    kernels.ERR_PRICE: "prices must be finite and positive",
    kernels.ERR_RANGE: "high/low must bracket open and close (high >= low)",
    kernels.ERR_VOLUME: "volume must be finite and non-negative (or NaN when unknown)",
}


class FeatureInputError(ValueError):
    """A candle cannot be consumed; the engine's state is unchanged."""


class FeatureStateError(ValueError):
    """Persisted feature state is unreadable or was made with other parameters."""


class FeatureEngine:
    """One stream's indicator state: feed closed candles in time order."""

    __slots__ = ("_cfg", "_cols", "_fcfg", "_istate", "_names", "_out", "_params", "_state")

    def __init__(self, params: FeatureParams = FeatureParams()) -> None:
        """A fresh engine that has seen no candle."""
        self._params = params
        self._names = params.names()
        self._cfg = params.config()
        self._fcfg = params.fconfig()
        self._istate, self._state = kernels.new_state(params.periods())
        # one-candle input columns for update(): open time, then o, h, l, c, v
        self._cols = (np.zeros(1, np.int64), *np.zeros((5, 1), np.float64))
        self._out: FloatArray = np.empty((kernels.N_OUT, 1), dtype=np.float64)

    @property
    def params(self) -> FeatureParams:
        """The periods this engine computes with."""
        return self._params

    @property
    def count(self) -> int:
        """Number of candles consumed so far."""
        return int(self._istate[kernels.I_COUNT])

    def update(
        self,
        open_time_ms: int,
        o: float,
        h: float,
        l: float,  # noqa: E741
        c: float,
        v: float,
    ) -> dict[str, float]:
        """Consume one closed candle and return every output (NaN while warming up).

        Raises ``FeatureInputError`` (state unchanged) for an out-of-order open time or
        invalid prices/volume."""
        t_col, o_col, h_col, l_col, c_col, v_col = self._cols
        t_col[0] = open_time_ms
        o_col[0] = o
        h_col[0] = h
        l_col[0] = l
        c_col[0] = c
        v_col[0] = v
        bad = kernels.run(self._istate, self._state, self._cfg, self._fcfg, *self._cols, self._out)
        if bad >= 0:
            raise FeatureInputError(
                f"candle at open_time {open_time_ms} rejected: {_ERRORS[bad % 8]}"
                f" (o={o}, h={h}, l={l}, c={c}, v={v})"
            )
        return dict(zip(self._names, self._out[:, 0].tolist(), strict=True))

    def warm_up(self, c: CandleArrays) -> dict[str, FloatArray]:
        """Feed many candles through the same numba loop; return their outputs by name.

        All-or-nothing: on a bad row ``FeatureInputError`` names it and the state is
        unchanged."""
        out = np.empty((kernels.N_OUT, len(c)), dtype=np.float64)
        istate, state = self._istate.copy(), self._state.copy()
        bad = kernels.run(
            istate,
            state,
            self._cfg,
            self._fcfg,
            np.ascontiguousarray(c.open_time, dtype=np.int64),
            np.ascontiguousarray(c.open, dtype=np.float64),
            np.ascontiguousarray(c.high, dtype=np.float64),
            np.ascontiguousarray(c.low, dtype=np.float64),
            np.ascontiguousarray(c.close, dtype=np.float64),
            np.ascontiguousarray(c.volume, dtype=np.float64),
            out,
        )
        if bad >= 0:
            row, code = divmod(int(bad), 8)
            raise FeatureInputError(
                f"candle row {row} (open_time {int(c.open_time[row])}) rejected: {_ERRORS[code]}"
            )
        self._istate, self._state = istate, state
        return dict(zip(self._names, out, strict=True))

    def to_bytes(self) -> bytes:
        """Serialise params and state (for the ``feature_state`` table)."""
        header = _HEADER.pack(_MAGIC, _VERSION, *self._params.periods(), self._params.bb_k)
        return header + self._istate.tobytes() + self._state.tobytes()

    @classmethod
    def from_bytes(cls, params: FeatureParams, data: bytes) -> FeatureEngine:
        """Restore an engine saved by ``to_bytes``. Raises ``FeatureStateError`` when the
        data is not feature state, is truncated, or was made with other params."""
        if len(data) < _HEADER.size or data[:4] != _MAGIC:
            raise FeatureStateError("not feature-engine state (bad header)")
        _magic, version, *fields = _HEADER.unpack_from(data)
        if version != _VERSION:
            raise FeatureStateError(f"feature state version {version}, expected {_VERSION}")
        periods, bb_k = tuple(fields[:-1]), fields[-1]
        if periods != params.periods() or bb_k != params.bb_k:
            raise FeatureStateError(
                f"feature state was saved with periods {periods} bb_k={bb_k}, but the engine "
                f"is configured with {params.periods()} bb_k={params.bb_k}; rebuild it by "
                "warming up from candles"
            )
        engine = cls(params)
        n_int = engine._istate.size
        expected = _HEADER.size + engine._istate.nbytes + engine._state.nbytes
        if len(data) != expected:
            raise FeatureStateError(f"feature state is {len(data)} bytes, expected {expected}")
        engine._istate = np.frombuffer(data, np.int64, n_int, _HEADER.size).copy()
        engine._state = np.frombuffer(data, np.float64, -1, _HEADER.size + 8 * n_int).copy()
        return engine


def compute_batch(
    c: CandleArrays, params: FeatureParams = FeatureParams()
) -> dict[str, FloatArray]:
    """Every feature over the candles, as float64 arrays (NaN during warm-up)."""
    return FeatureEngine(params).warm_up(c)
