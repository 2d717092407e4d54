"""Agent plugins: discovery, per-stream state, and quarantine of agents that fail.

Plugins come from the ``greenlight.agents`` entry-point group (``name = "module:factory"``;
Greenlight's own ``starter``, ``retest`` and ``fusion`` are declared there in
``pyproject.toml``) and from ``*.py`` files in ``[agents] plugins_dir`` that define
``plugin(settings) -> Bot``. A factory that fails, or returns something that is not a
:class:`~engine.agents.base.Bot` reading known inputs, is refused with a log line naming it.

An agent whose ``on_bar`` raises is quarantined for the rest of the process: it is skipped
from then on, and the pipeline records an audit row and an alert (see
:meth:`AgentSet.quarantine`) and goes on with the other agents.
"""

from __future__ import annotations

import importlib.util
import logging
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from engine.agents.base import STAGES, AgentState, BarContext, Bot, PluginFactory
from engine.analysis_stream import AnalysisStateError, pack_arrays, unpack_arrays
from engine.events import Candle
from greenlight.core.contracts import SignalRaw

if TYPE_CHECKING:
    from greenlight.core.settings import Settings

log = logging.getLogger(__name__)
GROUP = "greenlight.agents"
# Greenlight's own plugins, used when the installed metadata predates their entry points
# (an editable install not re-installed since); the entry points win when present.
BUILTIN = {
    "starter": "engine.agents.starter:plugin",
    "retest": "engine.agents.retest:plugin",
    "fusion": "engine.agents.fusion:plugin",
}
_MAGIC = b"GLAG"
_HEAD = struct.Struct("<4sI")


def _load_ref(ref: str) -> PluginFactory:
    module, _, attr = ref.partition(":")
    obj: PluginFactory = getattr(importlib.import_module(module), attr)
    return obj


def _file_factory(path: Path) -> PluginFactory:
    name = f"greenlight_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    factory: PluginFactory = module.plugin
    return factory


def discover(settings: Settings, feature_names: frozenset[str]) -> dict[str, Bot]:
    """Every usable agent, by name: entry points, then the plugins folder (a later one with
    the same name replaces an earlier one, with a warning)."""
    factories: dict[str, tuple[str, Any]] = {n: (r, None) for n, r in BUILTIN.items()}
    for ep in entry_points(group=GROUP):
        factories[ep.name] = (ep.value, ep)
    folder = settings.agents.plugins_dir
    if folder:
        root = settings.resolve_path(folder)
        for path in sorted(root.glob("*.py")) if root.is_dir() else []:
            factories[path.stem] = (str(path), path)
    agents: dict[str, Bot] = {}
    for key, (where, src) in factories.items():
        try:
            if isinstance(src, Path):
                factory = _file_factory(src)
            else:
                factory = src.load() if src is not None else _load_ref(where)
            agent = factory(settings)
            problem = _problem(agent, feature_names)
        except Exception as exc:  # a broken plugin must not stop the engine
            log.error("agent plugin %s (%s) refused: %s: %s", key, where, type(exc).__name__, exc)
            continue
        if problem:
            log.error("agent plugin %s (%s) refused: %s", key, where, problem)
            continue
        if agent.name in agents:
            log.warning("agent %s from %s replaces an earlier one", agent.name, where)
        agents[agent.name] = agent
    return agents


def _problem(agent: object, feature_names: frozenset[str]) -> str | None:
    if not isinstance(agent, Bot):
        return "not a Bot (needs name, inputs, new_state() and on_bar(ctx, bar, feats, state))"
    unknown = [i for i in agent.inputs if i not in STAGES and i not in feature_names]
    if unknown:
        return f"reads unknown inputs {unknown}"
    state = agent.new_state()
    if not isinstance(state, dict) or not all(
        isinstance(v, np.ndarray) and v.dtype == np.float64 for v in state.values()
    ):
        return "new_state() must return a dict of float64 arrays"
    return None


@dataclass
class AgentSet:
    """The agents of one engine process, shared by its streams; quarantine is process-wide."""

    agents: dict[str, Bot]
    quarantined: dict[str, str] = field(default_factory=dict)  # name -> why
    _active: list[Bot] | None = None

    def active(self) -> list[Bot]:
        """Agents not quarantined, by name."""
        if self._active is None:
            items = sorted(self.agents.items())
            self._active = [a for n, a in items if n not in self.quarantined]
        return self._active

    def quarantine(self, name: str, exc: BaseException) -> str:
        """Disable ``name`` for the rest of the process; return the reason recorded."""
        why = f"{type(exc).__name__}: {exc}"
        self.quarantined[name] = why
        self._active = None
        log.error("agent %s quarantined: %s", name, why, exc_info=exc)
        return why


class StreamAgents:
    """The agents' states on one stream and one bar's run of every active agent."""

    def __init__(self, agents: AgentSet) -> None:
        self.set = agents
        self.states: dict[str, AgentState] = {n: a.new_state() for n, a in agents.agents.items()}

    def run(
        self, ctx: BarContext, bar: Candle, feats: Mapping[str, float]
    ) -> tuple[dict[str, list[SignalRaw]], list[tuple[str, str]]]:
        """Signals per agent name, and the agents quarantined during this bar (name, why)."""
        out: dict[str, list[SignalRaw]] = {}
        failed: list[tuple[str, str]] = []
        for agent in self.set.active():
            try:
                out[agent.name] = agent.on_bar(ctx, bar, feats, self.states[agent.name])
            except Exception as exc:
                failed.append((agent.name, self.set.quarantine(agent.name, exc)))
        return out, failed

    def to_bytes(self) -> bytes:
        """Serialise every agent's state (restore with :meth:`load`)."""
        keys = [(n, k) for n, st in sorted(self.states.items()) for k in sorted(st)]
        head = orjson.dumps(keys)
        arrays = [self.states[n][k] for n, k in keys]
        return _HEAD.pack(_MAGIC, len(head)) + head + pack_arrays(arrays)

    def load(self, data: bytes) -> None:
        """Restore states saved by :meth:`to_bytes`; raise :class:`AnalysisStateError` when
        the data is damaged or an agent's state no longer has the shape it expects."""
        if len(data) < _HEAD.size or data[:4] != _MAGIC:
            raise AnalysisStateError("not agent state (bad header)")
        _magic, n = _HEAD.unpack_from(data)
        keys = [tuple(k) for k in orjson.loads(data[_HEAD.size : _HEAD.size + n])]
        arrays = unpack_arrays(data, _HEAD.size + n, len(keys))
        saved: dict[str, AgentState] = {}
        for (name, key), arr in zip(keys, arrays, strict=True):
            saved.setdefault(str(name), {})[str(key)] = arr
        for name, fresh in self.states.items():
            got = saved.get(name, {} if not fresh else None)  # an empty state saves no keys
            if (
                got is None
                or set(got) != set(fresh)
                or any(got[k].shape != v.shape for k, v in fresh.items())
            ):
                raise AnalysisStateError(f"agent {name}: saved state does not fit; rebuild it")
            for k in fresh:
                fresh[k][...] = got[k]


class AgentError(ValueError):
    """The configured decision agent is not available; the message names the key."""


def load_agents(settings: Settings, feature_names: frozenset[str]) -> AgentSet:
    """The process's agents; raise :class:`AgentError` when ``strategy.agent`` is not among
    them."""
    agents = discover(settings, feature_names)
    chosen = settings.strategy.agent
    if chosen not in agents:
        raise AgentError(
            f"strategy.agent {chosen!r} is not an available agent ({', '.join(sorted(agents))})"
        )
    return AgentSet(agents)


def by_name(signals: Mapping[str, list[SignalRaw]], name: str) -> SignalRaw | None:
    """The first signal of agent ``name`` at this bar, if any."""
    found = signals.get(name) or []
    return found[0] if found else None
