"""Slack adapter (slack-bolt): Socket Mode or HTTP mode, Block Kit rendering, OAuth installs."""
