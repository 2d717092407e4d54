"""The LINE channel (line-bot-sdk v3, async): webhook, Flex confirmations, signed image URLs."""
