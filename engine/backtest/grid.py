"""``--grid "section.key=v1,v2,…"``: the settings a sweep or a walk-forward tries.

Each ``--grid`` names one settings key and its values; the grid is their Cartesian product,
in the order given (the first key varies slowest, values in the order written). Every value
is checked by the settings model itself, so a grid point is a settings object the plain
backtest would accept: an unknown key, a value of the wrong type or a combination the section
refuses (``ema_fast < ema_mid < ema_slow``) is an error before anything runs. A value that is
a list is written as JSON (``strategy.take_profit_r=[1.5,2],[2,3]``); commas inside brackets
do not split values.
"""

from __future__ import annotations

import difflib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from greenlight.core.settings import Settings
from greenlight.core.settings_base import Section

# Sections a backtest never reads (the ones ``settings_sha256`` leaves out, and the processes').
NOT_BACKTEST = frozenset(
    {"database", "sim", "venue", "telegram", "bot", "line", "audit", "metrics", "logs"}
)
MAX_POINTS = 10_000


class GridError(ValueError):
    """A ``--grid`` argument cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class Axis:
    """One ``--grid``: a settings key (``section.key``) and its values, each already
    validated and in the model's JSON form (``1.5``, ``true``, ``"ohlc"``, ``[1.5, 2.0]``)."""

    key: str
    values: tuple[Any, ...]

    @property
    def section(self) -> str:
        """The settings section (``strategy``)."""
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        """The key inside the section (``atr_stop_mult``)."""
        return self.key.split(".", 1)[1]


@dataclass(frozen=True)
class Point:
    """One grid point: its index in the grid and the value of every axis, in axis order."""

    index: int
    values: tuple[tuple[str, Any], ...]

    def label(self) -> str:
        """``strategy.atr_stop_mult=1.5 fusion.sl_atr=0.25`` (``base`` for an empty grid)."""
        return " ".join(f"{k}={cell(v)}" for k, v in self.values) or "base"


def cell(v: Any) -> str:
    """A grid value as written in ``grid.csv`` and ``folds.csv``: strings as they are,
    everything else as compact JSON (``1.5``, ``true``, ``[1.5,2.0]``)."""
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))


def _split(text: str) -> list[str]:
    """Split at the commas that are not inside brackets."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def _section(settings: Settings, key: str, spec: str) -> tuple[str, str, Section]:
    if "." not in key:
        raise GridError(f"--grid {spec!r}: write section.key, e.g. strategy.atr_stop_mult")
    section, name = key.split(".", 1)
    sections = [n for n in Settings.model_fields if n not in NOT_BACKTEST]
    if section in NOT_BACKTEST:
        raise GridError(f"--grid {spec!r}: [{section}] does not change a backtest")
    if section not in sections:
        near = difflib.get_close_matches(section, sections, 1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise GridError(f"--grid {spec!r}: unknown settings section {section!r}{hint}")
    model: BaseModel = getattr(settings, section)
    assert isinstance(model, Section)
    fields = list(type(model).model_fields)
    if name not in fields:
        near = difflib.get_close_matches(name, fields, 1)
        hint = f"did you mean {section}.{near[0]}?" if near else "its keys: " + ", ".join(fields)
        raise GridError(f"--grid {spec!r}: unknown settings key {key!r} ({hint})")
    field = type(model).model_fields[name].annotation
    if isinstance(field, type) and issubclass(field, BaseModel):
        raise GridError(f"--grid {spec!r}: {key} is a table, name one of its keys")
    return section, name, model


def _validated(model: Section, name: str, raw: Any, key: str, spec: str) -> Any:
    data = model.model_dump()
    data[name] = raw
    try:
        new = type(model).model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise GridError(f"--grid {spec!r}: {key}={cell(raw)} is not valid: {msg}") from exc
    return new.model_dump(mode="json")[name]


def parse_axis(spec: str, settings: Settings) -> Axis:
    """One ``--grid`` argument, checked against ``settings`` (see the module docstring)."""
    key, sep, rest = spec.partition("=")
    key = key.strip()
    if not sep or not rest.strip():
        raise GridError(f"--grid {spec!r}: write section.key=value1,value2,…")
    section, name, model = _section(settings, key, spec)
    values = []
    for text in _split(rest):
        if not text:
            raise GridError(f"--grid {spec!r}: an empty value")
        raw: Any = text
        if text[0] in "[{":
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                raise GridError(f"--grid {spec!r}: {text!r} is not valid JSON: {exc}") from exc
        v = _validated(model, name, raw, key, spec)
        if v in values:
            raise GridError(f"--grid {spec!r}: the value {cell(v)} is given twice")
        values.append(v)
    return Axis(f"{section}.{name}", tuple(values))


def parse_grid(specs: list[str], settings: Settings) -> list[Axis]:
    """Every ``--grid`` argument; a key may be named once."""
    axes = [parse_axis(s, settings) for s in specs]
    keys = [a.key for a in axes]
    for k in keys:
        if keys.count(k) > 1:
            raise GridError(f"--grid names {k} more than once; give all its values in one --grid")
    n = 1
    for a in axes:
        n *= len(a.values)
    if n > MAX_POINTS:
        raise GridError(f"--grid makes {n} points; at most {MAX_POINTS}")
    return axes


def points(axes: list[Axis]) -> list[Point]:
    """The grid's points in order (the first axis varies slowest); one empty point when
    there is no axis (the settings as they are)."""
    combos = itertools.product(*(a.values for a in axes))
    return [
        Point(i, tuple((a.key, v) for a, v in zip(axes, combo, strict=True)))
        for i, combo in enumerate(combos)
    ]


def apply(settings: Settings, point: Point) -> Settings:
    """``settings`` with the point's values, validated section by section (a combination of
    values a section refuses is a :class:`GridError`)."""
    by_section: dict[str, dict[str, Any]] = {}
    for key, v in point.values:
        section, name = key.split(".", 1)
        by_section.setdefault(section, {})[name] = v
    update: dict[str, Any] = {}
    for section, values in by_section.items():
        model = getattr(settings, section)
        data = {**model.model_dump(), **values}
        try:
            update[section] = type(model).model_validate(data)
        except ValidationError as exc:
            msg = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            raise GridError(f"grid point {point.label()}: {msg}") from exc
    return settings.model_copy(update=update)
