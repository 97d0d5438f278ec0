"""The embedded LLM: llama-cpp-python in the server process, any GGUF (Gemma 3 270M or Qwen2.5-Coder-0.5B-Instruct)."""

import threading
from pathlib import Path

from llama_cpp import Llama

from shared.llama_loading import load_llama


class EmbeddedLLM:
    def __init__(self, model_path: Path, n_ctx: int, n_threads: int, name: str = "embedded") -> None:
        self.name = name
        self.model_path = model_path
        # f16 KV: the cloud is not memory-bound, and f16 prefills 2.2x faster here (reports/engine.json).
        self._llm = load_llama(
            model_path,
            Llama,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            flash_attn=True,
            swa_full=True,
        )
        self._lock = threading.Lock()  # one llama context: one completion at a time

    def complete(self, prompt: str, max_tokens: int, stop: list[str]) -> str:
        with self._lock:
            result = self._llm.create_completion(prompt, max_tokens=max_tokens, stop=stop, temperature=0.0)
        assert isinstance(result, dict)  # not streamed: one response
        return result["choices"][0]["text"]

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        """The greedy answer to ``messages``, laid out by the chat template the GGUF carries."""
        with self._lock:
            result = self._llm.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0)  # type: ignore[arg-type]
        assert isinstance(result, dict)  # not streamed: one response
        return result["choices"][0]["message"]["content"] or ""

    def close(self) -> None:
        with self._lock:
            self._llm.close()
