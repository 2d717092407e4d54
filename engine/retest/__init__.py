"""Retest analyzer: BOS retests of order blocks and FVGs, emitting signals_raw.v1."""
