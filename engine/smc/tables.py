"""Turn causal SMC event rows into tables (swings, structure events, zones) and write tables
as CSV quickly (numbers via orjson's shortest round-trip formatting; NaN = empty cell)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import numpy.typing as npt
import orjson

from engine.smc import layout as L

F64 = npt.NDArray[np.float64]
Column = npt.NDArray[np.float64] | npt.NDArray[np.float32] | npt.NDArray[np.int64] | list[str]

_KIND_NAMES = {L.KIND_FVG: "FVG", L.KIND_OB: "OB"}
_END_NAMES = {L.T_ZONE_MITIGATED: "mitigated", L.T_ZONE_EXPIRED: "expired"}


def _cells(col: Column) -> list[str]:
    if isinstance(col, list):
        return col
    if col.shape[0] == 0:
        return []
    text = orjson.dumps(col, option=orjson.OPT_SERIALIZE_NUMPY).decode()[1:-1]
    return text.replace("null", "").split(",")


def _numeric_rows(columns: list[Column], n: int) -> list[bytes]:
    """Rows of numeric columns as CSV bytes; same-dtype neighbours are serialised together."""
    parts: list[list[bytes]] = []
    k = 0
    while k < len(columns):
        j = k + 1
        dtype = np.asarray(columns[k]).dtype
        while j < len(columns) and np.asarray(columns[j]).dtype == dtype:
            j += 1
        block = np.ascontiguousarray(np.column_stack([np.asarray(c) for c in columns[k:j]]))
        text = orjson.dumps(block, option=orjson.OPT_SERIALIZE_NUMPY)
        parts.append(text[2:-2].replace(b"null", b"").split(b"],["))
        k = j
    if len(parts) == 1:
        return parts[0]
    return [b",".join(row) for row in zip(*parts, strict=True)]


def write_table(path: Path, columns: dict[str, Column]) -> int:
    """Write ``columns`` (equal lengths) as a CSV with a header; return the row count."""
    lengths = {len(c) for c in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"{path.name}: columns have different lengths")
    n = lengths.pop() if lengths else 0
    header = ",".join(columns.keys()) + "\n"
    if any(isinstance(c, list) for c in columns.values()):
        cells = [_cells(c) for c in columns.values()]
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(header)
            csv.writer(fh, lineterminator="\n").writerows(zip(*cells, strict=True))
        return n
    with open(path, "wb") as fb:
        fb.write(header.encode())
        if n:
            fb.write(b"\n".join(_numeric_rows(list(columns.values()), n)) + b"\n")
    return n


def _times(values: F64) -> npt.NDArray[np.int64]:
    return values.astype(np.int64)


def _opt_times(values: F64) -> list[str]:
    return ["" if v != v else str(int(v)) for v in values.tolist()]


def swings_table(ev: F64) -> dict[str, Column]:
    """One row per confirmed swing: pivot and confirmation times, kind, label, price."""
    s = ev[ev[:, L.EV_TYPE] == L.T_SWING]
    return {
        "pivot_time_ms_utc": _times(s[:, L.EV_REF_TIME]),
        "known_time_ms_utc": _times(s[:, L.EV_TIME]),
        "known_index": _times(s[:, L.EV_BAR]),
        "kind": ["high" if d > 0 else "low" for d in s[:, L.EV_DIR]],
        "label": [L.LABELS[int(b)] for b in s[:, L.EV_B]],
        "price": s[:, L.EV_A].copy(),
    }


def structure_kind(typ: float, direction: float) -> str:
    """``BOS_UP``, ``BOS_DN``, ``CHOCH_UP`` or ``CHOCH_DN``."""
    return ("BOS" if typ == L.T_BOS else "CHOCH") + ("_UP" if direction > 0 else "_DN")


def events_table(ev: F64) -> dict[str, Column]:
    """One row per BOS / CHOCH: candle, kind, broken level and the reference swing's time."""
    s = ev[(ev[:, L.EV_TYPE] == L.T_BOS) | (ev[:, L.EV_TYPE] == L.T_CHOCH)]
    return {
        "open_time_ms_utc": _times(s[:, L.EV_TIME]),
        "index": _times(s[:, L.EV_BAR]),
        "kind": [
            structure_kind(t, d) for t, d in zip(s[:, L.EV_TYPE], s[:, L.EV_DIR], strict=True)
        ],
        "level": s[:, L.EV_A].copy(),
        "ref_swing_time_ms_utc": _times(s[:, L.EV_REF_TIME]),
    }


def zones_table(ev: F64) -> dict[str, Column]:
    """One row per zone with its lifecycle: creation, first touch, and end (mitigated or
    expired; empty while still active at the end of the data)."""
    new = ev[ev[:, L.EV_TYPE] == L.T_ZONE_NEW]
    ids = new[:, L.EV_ZONE].astype(np.int64)
    pos = {int(z): i for i, z in enumerate(ids)}
    touched = np.full(len(ids), np.nan)
    ended = np.full(len(ids), np.nan)
    reason = [""] * len(ids)
    for row in ev[ev[:, L.EV_TYPE] >= L.T_ZONE_TOUCH]:
        i = pos.get(int(row[L.EV_ZONE]))
        if i is None:
            continue
        if row[L.EV_TYPE] == L.T_ZONE_TOUCH:
            touched[i] = row[L.EV_TIME]
        else:
            ended[i] = row[L.EV_TIME]
            reason[i] = _END_NAMES[int(row[L.EV_TYPE])]
    return {
        "zone_id": ids,
        "kind": [_KIND_NAMES[int(k)] for k in new[:, L.EV_KIND]],
        "direction": ["bullish" if d > 0 else "bearish" for d in new[:, L.EV_DIR]],
        "start_time_ms_utc": _times(new[:, L.EV_REF_TIME]),
        "known_time_ms_utc": _times(new[:, L.EV_TIME]),
        "top": new[:, L.EV_A].copy(),
        "bottom": new[:, L.EV_B].copy(),
        "touched_time_ms_utc": _opt_times(touched),
        "end_time_ms_utc": _opt_times(ended),
        "end_reason": reason,
    }
