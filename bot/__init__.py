"""Chat-ops: approval service, commands, access and channel adapters."""
