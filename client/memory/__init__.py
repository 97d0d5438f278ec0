"""The client's local copy of its tenant's memory, and choosing notes for the prompt."""
