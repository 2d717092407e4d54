"""Greenlight engine: ingest, storage and the analysis pipeline (features, SMC, retests,
regime, decision agents, guards, sizing). What it shares with the other processes is in
``greenlight.core``."""
