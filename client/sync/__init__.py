"""Talking to the cloud memory service: the HTTP client and the sync that applies deltas."""
