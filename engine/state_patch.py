"""A stream's analysis state saved as a base and a patch, so that a candle writes hundreds of
bytes instead of the whole state.

The SMC, retest and regime state of a stream is about 19 kB (the zone tables and the regime
percentile windows), and one candle changes a few dozen bytes of it. Each candle's
transaction therefore stores the *patch* from the stream's last saved *base* to its new state
(``feature_state.analysis_patch``); the base (``feature_state.analysis_state``) is rewritten
only when that patch has grown past the stream's limit (:func:`patch_limit`), which then
starts over from an empty patch. Both live in the same row, written in the same transaction
as the candle, so the saved state is always exactly the state after the stream's last
committed candle: :func:`apply_patch` rebuilds it on a restart.

A patch names the length and CRC-32 of the base it applies to, so one cannot be applied to
another base: a mismatch is an :class:`engine.analysis_stream.AnalysisStateError` (the stream
then warms up again, as with any unreadable state).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt
from numba import njit

from engine.analysis_stream import AnalysisStateError

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

_HEAD = struct.Struct("<4sBIII")  # magic, version, base length, base CRC-32, number of runs
_MAGIC = b"GLPA"
_VERSION = 1
# Differing 8-byte words closer than this share a run (a run costs 8 bytes of offsets).
_GAP = 2
# The per-stream limit on a patch's length lies in [_LIMIT, 2 * _LIMIT): streams closing
# together then rewrite their bases on different candles, not all on the same one.
_LIMIT = 1024


@njit(cache=True)
def _runs(a: U8, b: U8, gap: int) -> tuple[I64, I64, U8]:
    """Start, length and new bytes of each run where ``b`` differs from ``a`` (same
    length), in whole 8-byte words (the last run ends with the data); differing words at
    most ``gap`` words apart share a run."""
    n = a.shape[0]
    whole = n // 8
    words = whole + (1 if n % 8 else 0)
    differs = np.zeros(words, np.bool_)
    aw = a[: whole * 8].view(np.uint64)
    bw = b[: whole * 8].view(np.uint64)
    for w in range(whole):
        differs[w] = aw[w] != bw[w]
    for i in range(whole * 8, n):
        if a[i] != b[i]:
            differs[whole] = True
    starts = np.empty(words // 2 + 1, np.int64)
    ends = np.empty(words // 2 + 1, np.int64)
    k = 0
    w = 0
    while w < words:
        if not differs[w]:
            w += 1
            continue
        end = w + 1
        j = w + 1
        while j < words and j - end < gap:
            if differs[j]:
                end = j + 1
            j += 1
        starts[k] = w * 8
        ends[k] = min(end * 8, n)
        k += 1
        w = end
    lengths = ends[:k] - starts[:k]
    body = np.empty(lengths.sum(), np.uint8)
    at = 0
    for r in range(k):
        body[at : at + lengths[r]] = b[starts[r] : starts[r] + lengths[r]]
        at += lengths[r]
    return starts[:k], lengths, body


def base_crc(base: bytes) -> int:
    """The CRC-32 a patch of ``base`` names."""
    return zlib.crc32(base)


def make_patch(base: bytes, crc: int, new: bytes) -> bytes | None:
    """The patch turning ``base`` (whose :func:`base_crc` is ``crc``) into ``new``;
    ``None`` when they differ in length (write ``new`` as the base)."""
    if len(base) != len(new):
        return None
    a = np.frombuffer(base, np.uint8)
    b = np.frombuffer(new, np.uint8)
    starts, lengths, body = _runs(a, b, _GAP)
    return (
        _HEAD.pack(_MAGIC, _VERSION, len(base), crc, len(starts))
        + starts.astype("<u4").tobytes()
        + lengths.astype("<u4").tobytes()
        + body.tobytes()
    )


def apply_patch(base: bytes, patch: bytes) -> bytes:
    """``base`` with ``patch`` applied; raise :class:`AnalysisStateError` when the patch is
    damaged or was made from another base."""
    if len(patch) < _HEAD.size or patch[:4] != _MAGIC:
        raise AnalysisStateError("not an analysis state patch (bad header)")
    _magic, version, length, crc, k = _HEAD.unpack_from(patch)
    if version != _VERSION:
        raise AnalysisStateError(f"analysis state patch version {version}, expected {_VERSION}")
    if length != len(base) or crc != base_crc(base):
        raise AnalysisStateError("analysis state patch was made from another base")
    if len(patch) < _HEAD.size + 8 * k:
        raise AnalysisStateError("analysis state patch is truncated")
    starts = np.frombuffer(patch, "<u4", k, _HEAD.size).astype(np.int64)
    lengths = np.frombuffer(patch, "<u4", k, _HEAD.size + 4 * k).astype(np.int64)
    body = patch[_HEAD.size + 8 * k :]
    if len(body) != int(lengths.sum()) or (k and int((starts + lengths).max()) > len(base)):
        raise AnalysisStateError("analysis state patch does not fit its base")
    out = bytearray(base)
    at = 0
    for start, size in zip(starts.tolist(), lengths.tolist(), strict=True):
        out[start : start + size] = body[at : at + size]
        at += size
    return bytes(out)


def patch_limit(venue: str, symbol: str, tf: str) -> int:
    """The length past which a stream rewrites its base: fixed per stream, and spread over
    ``[_LIMIT, 2 * _LIMIT)`` across streams (see :data:`_LIMIT`)."""
    return _LIMIT + zlib.crc32(f"{venue}:{symbol}:{tf}".encode()) % _LIMIT
