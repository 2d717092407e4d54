"""Chart snapshots for chat and reports."""
