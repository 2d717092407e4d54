"""State of one running simulator: the spot market, the USD-M market when served, and what
both share (credentials, faults, request-weight limits and bans, counters, the user-data
gate)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from aiohttp import web

from sim.faults import Faults
from sim.http_util import Counters
from sim.limits import RateLimiter
from sim.market_clock import MarketClock
from sim.spot.state import SpotState
from sim.streams.user_gate import UserGate
from sim.usdm.state import FutState


class SimState:
    """The two markets side by side and what they share; neither market refers to the other.

    Scripted ``partial_fill`` faults reach both engines' slicers and one ``pause_user_stream``
    gate holds the user-data messages of both markets: both are wired here."""

    def __init__(
        self,
        spot: SpotState,
        futures: FutState | None,
        secrets: Mapping[str, str],
        limiter: RateLimiter | None = None,
    ) -> None:
        self.spot = spot
        self.futures = futures
        self.secrets = dict(secrets)  # API key → secret, for both markets
        self.faults = Faults()
        self.limiter = limiter or RateLimiter()
        self.counters = Counters()  # orders per account, spot and USD-M together
        self.requests: Counter[str] = Counter()  # REST requests per "METHOD /route"
        self.user_gate = UserGate()
        spot.users.gate = self.user_gate
        spot.exchange.slicer.picker = lambda sym, cid: self.faults.pick_partial("spot", sym, cid)
        if futures is not None:
            futures.gate = self.user_gate
            futures.book.slicer.picker = lambda sym, cid: self.faults.pick_partial(
                "futures", sym, cid
            )

    def replays(self) -> list[MarketClock]:
        """The spot replay and, when served, the futures replay."""
        return [self.spot.replay] + ([self.futures.replay] if self.futures is not None else [])


STATE: web.AppKey[SimState] = web.AppKey("sim_state", SimState)
