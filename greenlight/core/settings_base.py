"""The base of every settings section: frozen, unknown keys rejected (shared by
:mod:`greenlight.core.settings` and the section modules it assembles)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A settings section: immutable, unknown keys are an error naming the key path."""

    model_config = ConfigDict(frozen=True, extra="forbid")
