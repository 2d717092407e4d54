"""Persist SMC events in ``swings``, ``smc_events`` and ``zones`` (idempotent: replaying the
same candles writes nothing twice; a zone's end is recorded once, as ``mitigated_time`` or
``expired_time``)."""

from __future__ import annotations

import asyncpg
import numpy as np
import numpy.typing as npt

from engine.smc import layout as L
from engine.smc.tables import structure_kind

F64 = npt.NDArray[np.float64]

_SWING_SQL = """
INSERT INTO swings (venue, symbol, tf, pivot_time, known_time, kind, label, price)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"""
_EVENT_SQL = """
INSERT INTO smc_events (venue, symbol, tf, open_time, kind, level, ref_swing_time)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"""
_ZONE_SQL = """
INSERT INTO zones (venue, symbol, tf, kind, direction, start_time, known_time, top, bottom)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"""
_ZONE_END_SQL = """
UPDATE zones SET mitigated_time = $6
WHERE venue = $1 AND symbol = $2 AND tf = $3 AND kind = $4 AND start_time = $5
  AND mitigated_time IS NULL AND expired_time IS NULL"""
_ZONE_EXPIRED_SQL = """
UPDATE zones SET expired_time = $6
WHERE venue = $1 AND symbol = $2 AND tf = $3 AND kind = $4 AND start_time = $5
  AND mitigated_time IS NULL AND expired_time IS NULL"""
_STATEMENTS = (
    (_SWING_SQL, "sw"),
    (_EVENT_SQL, "ev"),
    (_ZONE_SQL, "zn"),
    (_ZONE_END_SQL, "end"),
    (_ZONE_EXPIRED_SQL, "exp"),
)


def _rows(ev: F64, key: tuple[str, str, str]) -> dict[str, list[tuple[object, ...]]]:
    out: dict[str, list[tuple[object, ...]]] = {"sw": [], "ev": [], "zn": [], "end": [], "exp": []}
    for r in ev:
        typ, t, ref = int(r[L.EV_TYPE]), int(r[L.EV_TIME]), int(r[L.EV_REF_TIME])
        up = r[L.EV_DIR] > 0
        kind = "FVG" if r[L.EV_KIND] == L.KIND_FVG else "OB"
        if typ == L.T_SWING:
            label = L.LABELS[int(r[L.EV_B])] or None
            out["sw"].append((*key, ref, t, "high" if up else "low", label, float(r[L.EV_A])))
        elif typ in (L.T_BOS, L.T_CHOCH):
            out["ev"].append((*key, t, structure_kind(typ, r[L.EV_DIR]), float(r[L.EV_A]), ref))
        elif typ == L.T_ZONE_NEW:
            out["zn"].append(
                (
                    *key,
                    kind,
                    "bullish" if up else "bearish",
                    ref,
                    t,
                    float(r[L.EV_A]),
                    float(r[L.EV_B]),
                )
            )
        elif typ == L.T_ZONE_MITIGATED:
            out["end"].append((*key, kind, ref, t))
        elif typ == L.T_ZONE_EXPIRED:
            out["exp"].append((*key, kind, ref, t))
    return out


async def save_smc_events(
    conn: asyncpg.Connection | asyncpg.Pool, venue: str, symbol: str, tf: str, ev: F64
) -> dict[str, int]:
    """Write swings, BOS/CHOCH events, new zones, zone mitigations and expiries of ``ev`` in
    one transaction; return how many rows of each were offered."""
    async with _connection(conn) as c, c.transaction():
        return await write_smc_rows(c, venue, symbol, tf, ev)


async def write_smc_rows(
    conn: asyncpg.Connection, venue: str, symbol: str, tf: str, ev: F64
) -> dict[str, int]:
    """Like :func:`save_smc_events` but in the caller's transaction (one ``executemany`` per
    kind of row present, nothing when ``ev`` is empty)."""
    return await write_smc_streams(conn, [(venue, symbol, tf, ev)])


async def write_smc_streams(
    conn: asyncpg.Connection, streams: list[tuple[str, str, str, F64]]
) -> dict[str, int]:
    """:func:`write_smc_rows` for several streams at once, each ``(venue, symbol, tf, ev)``:
    one ``executemany`` per kind of row present in any of them, in the order swings, breaks,
    new zones, mitigations, expiries (a zone is inserted before its end is recorded); the
    counts are summed over the streams."""
    streams = [s for s in streams if s[3].shape[0]]
    if not streams:
        return {}
    rows: dict[str, list[tuple[object, ...]]] = {k: [] for _, k in _STATEMENTS}
    for venue, symbol, tf, ev in streams:
        for key, got in _rows(ev, (venue, symbol, tf)).items():
            rows[key] += got
    for sql, key in _STATEMENTS:
        if rows[key]:
            await conn.executemany(sql, rows[key])
    return {
        "swings": len(rows["sw"]),
        "smc_events": len(rows["ev"]),
        "zones": len(rows["zn"]),
        "mitigations": len(rows["end"]),
        "expiries": len(rows["exp"]),
    }


class _connection:
    """``async with`` yielding a connection from a pool, or the connection itself."""

    def __init__(self, conn: asyncpg.Connection | asyncpg.Pool) -> None:
        self._src = conn
        self._held: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        if isinstance(self._src, asyncpg.Pool):
            self._held = await self._src.acquire()
            return self._held
        return self._src

    async def __aexit__(self, *exc: object) -> None:
        if self._held is not None and isinstance(self._src, asyncpg.Pool):
            await self._src.release(self._held)
