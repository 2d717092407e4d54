"""Alerts for people: chart alerts on watched streams, trade and kill-switch alerts, guard
changes, the daily summary; subscriptions, mutes and per-chat delivery."""
