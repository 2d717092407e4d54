"""Indicator step functions (numba) for live and batch."""
