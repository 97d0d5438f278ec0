"""The memory adapter merged into the weights: built once, named by what went in, and it is the adapter."""

from pathlib import Path

import llama_cpp
import pytest

from client.engine import SuggestionEngine
from client.engine.adapter_file import shipped_adapter
from client.engine.merged_adapter import merged_model
from scripts.check_adapter_merge import greedy_tokens
from shared.llama_loading import load_llama
from shared.model_files import default_gguf_path
from shared.settings import EngineSettings

TEXTS = [  # text the adapter never trained on, continued teacher-forced
    (
        "The array module defines an object type which can compactly represent an array of basic values: "
        "characters, integers, floating point numbers. Arrays are sequence types and behave very much like lists."
    ),
    (
        "SQLite is a C-language library that implements a small, fast, self-contained, high-reliability, "
        "full-featured, SQL database engine. It is the most used database engine in the world."
    ),
    (
        "A context manager is an object that defines the runtime context to be established when executing a with "
        "statement. It handles the entry into, and the exit from, the desired runtime context."
    ),
]


@pytest.mark.slow
def test_the_merged_model_is_built_once_and_named_by_its_inputs(model_cache: Path) -> None:
    base, adapter = default_gguf_path(model_cache), shipped_adapter()
    merged = merged_model(base, adapter, 1.0, model_cache)
    built = merged.stat().st_mtime_ns
    assert merged_model(base, adapter, 1.0, model_cache) == merged
    assert merged.stat().st_mtime_ns == built  # read from the cache, not merged again
    assert merged.read_bytes()[:4] == b"GGUF"
    assert "lora-" + __import__("hashlib").sha256(adapter.read_bytes()).hexdigest()[:16] in merged.name
    assert not list(merged.parent.glob("*.partial"))  # written through a temporary file, renamed whole


@pytest.mark.slow
def test_the_engine_reads_the_merged_model_unless_asked_for_the_run_time_lora(model_cache: Path) -> None:
    base, adapter = default_gguf_path(model_cache), shipped_adapter()
    merged = SuggestionEngine(EngineSettings(background_prefill=False), model_cache)
    at_run_time = SuggestionEngine(EngineSettings(background_prefill=False, merge_adapter=False), model_cache)
    plain = SuggestionEngine(EngineSettings(background_prefill=False, memory_adapter=False), model_cache)
    try:
        scale = EngineSettings().adapter_scale  # the shipped default
        assert (merged.model_path, merged.lora_path) == (merged_model(base, adapter, scale, model_cache), None)
        assert (at_run_time.model_path, at_run_time.lora_path) == (base, adapter)
        assert (plain.model_path, plain.lora_path) == (base, None)
    finally:
        for engine in (merged, at_run_time, plain):
            engine.close()


@pytest.mark.slow
def test_the_merged_model_predicts_what_the_run_time_lora_predicts(model_cache: Path) -> None:
    """Teacher-forced greedy next tokens: the merged model sides with the LoRA, not with the base model."""
    base, adapter = default_gguf_path(model_cache), shipped_adapter()
    merged = merged_model(base, adapter, 1.0, model_cache)
    tokenizer = load_llama(base, llama_cpp.Llama, n_ctx=64, vocab_only=True)
    prompts = [(tokens, 8) for tokens in (tokenizer.tokenize(text.encode(), add_bos=True) for text in TEXTS)]
    run_time = greedy_tokens(base, adapter, prompts, 2)
    agree_merged = sum(a == b for a, b in zip(greedy_tokens(merged, None, prompts, 2), run_time, strict=True))
    agree_base = sum(a == b for a, b in zip(greedy_tokens(base, None, prompts, 2), run_time, strict=True))
    assert agree_merged >= 0.9 * len(run_time)  # 94.9% on 1,438 positions of the evaluation's cases
    assert agree_merged > agree_base  # the adapter's change is in the merged weights
