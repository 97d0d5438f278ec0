"""Evaluation: utility and latency of the client alone, hybrid memory, and synchronous RAG, on real text."""
