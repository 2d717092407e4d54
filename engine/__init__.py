"""Greenlight engine: contracts, settings, storage and the analysis pipeline."""
