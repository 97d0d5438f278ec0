"""Local next-words engine: llama.cpp with low-bit KV cache and prefix reuse."""

from client.engine.kv_cache import KV_CACHE_TYPES, kv_bytes_per_token
from client.engine.suggestion_boundary import BoundaryRules, StopReason, SuggestionBoundary
from client.engine.suggestion_engine import Suggestion, SuggestionEngine, require_text

__all__ = [
    "KV_CACHE_TYPES",
    "BoundaryRules",
    "StopReason",
    "Suggestion",
    "SuggestionBoundary",
    "SuggestionEngine",
    "kv_bytes_per_token",
    "require_text",
]
