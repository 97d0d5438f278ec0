"""What the memory writer needs from an LLM: plain text completion of a prompt.

The default model is a base model, so the writer prompts for completion, not chat;
the same call works on vLLM, llama.cpp's server and any OpenAI-compatible endpoint.
"""

from typing import Protocol

from shared.errors import HybridRAGError


class LLMUnavailable(HybridRAGError):
    """The LLM could not be reached or failed to answer; the writer may fall back."""


class CompletionBackend(Protocol):
    name: str

    def complete(self, prompt: str, max_tokens: int, stop: list[str]) -> str:
        """The greedy continuation of ``prompt``, ending before any of ``stop``."""
        ...

    def close(self) -> None: ...


class ChatBackend(Protocol):
    """An instruction-following model, asked through its chat template."""

    name: str

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        """The greedy answer to ``messages`` (role and content each)."""
        ...

    def close(self) -> None: ...
