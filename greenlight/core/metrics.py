"""Prometheus plumbing every process shares (served by :mod:`greenlight.core.ops_http`).

Counters a process already keeps are read at scrape time by the one :class:`LiveCollector`
of the process, so the hot path does no extra work for them: a process declares its live
families (:func:`declare`) and the objects to read them from (:func:`watch`). A family two
processes share (``greenlight_ws_reconnects_total``, ``greenlight_dropped_messages_total``,
``greenlight_guard_verdicts_total``) is declared here, so it is one family.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)
# 1 ms … 10 s: loopback paths are milliseconds, a stalled one shows in the top buckets.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

GUARD_VERDICTS = Counter(
    "greenlight_guard_verdicts_total",
    "Guard verdicts: the engine's entry gate per live signal, the router's trip checks",
    ["guard", "verdict"],
)

# A live reading: (family, label values, value).
Reading = tuple[str, tuple[str, ...], float]
Reader = Callable[[Any], Iterable[Reading]]


class LiveCollector(Collector):
    """Families whose values are read from live objects at scrape time (in the loop thread)."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[Literal["gauge", "counter"], str, tuple[str, ...]]] = {}
        self.sources: list[tuple[weakref.ref[Any], Reader]] = []

    def collect(self) -> Iterator[Metric]:
        """One family per declared name, with every watched object's readings."""
        out: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for name, (kind, doc, labels) in self.families.items():
            cls = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
            out[name] = cls(name, doc, labels=list(labels))
        alive = [(ref, reader) for ref, reader in self.sources if ref() is not None]
        self.sources = alive
        for ref, reader in alive:
            obj = ref()
            if obj is None:
                continue
            try:
                for name, labels, value in reader(obj):
                    out[name].add_metric(list(labels), value)
            except Exception:  # one broken reading must not cost the whole scrape
                log.exception("metrics reader %s failed", getattr(reader, "__name__", reader))
        yield from out.values()


LIVE = LiveCollector()


def declare(name: str, kind: Literal["gauge", "counter"], doc: str, *labels: str) -> None:
    """Declare a live family (counters without ``_total``: the exposition adds it)."""
    LIVE.families[name] = (kind, doc, labels)


def watch(obj: object, reader: Reader) -> None:
    """Read ``reader(obj)`` at every scrape while ``obj`` is alive."""
    LIVE.sources.append((weakref.ref(obj), reader))


declare("greenlight_ws_reconnects", "counter", "Websocket reconnects", "stream")
declare("greenlight_dropped_messages", "counter", "Messages dropped", "queue", "reason")

REGISTRY.register(LIVE)
