"""Indicator step functions (numba) for live and batch."""

from engine.features.engine import (
    FeatureEngine,
    FeatureInputError,
    FeatureStateError,
    compute_batch,
)
from engine.features.params import FeatureParams

__all__ = [
    "FeatureEngine",
    "FeatureInputError",
    "FeatureParams",
    "FeatureStateError",
    "compute_batch",
]
