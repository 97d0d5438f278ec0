"""Each token chosen from the predictions with and without the memory block (engine.memory_mix), real model."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from client.engine import SuggestionEngine
from client.engine.suggestion_boundary import StopReason
from shared.settings import EngineSettings

pytestmark = pytest.mark.slow

TEXT = "In Python, creating a class creates a new"
BLOCK = "Notes:\n- The del statement removes an item from a list given its index.\n\n"


def _engine(model_cache: Path, memory_mix: float) -> SuggestionEngine:
    settings = EngineSettings(n_ctx=1024, background_prefill=False, copy_from_memory=False, memory_mix=memory_mix)
    return SuggestionEngine(settings, model_cache)


@pytest.fixture(scope="module")
def mixing(model_cache: Path) -> Iterator[SuggestionEngine]:
    engine = _engine(model_cache, 0.5)
    yield engine
    engine.close()


def test_without_a_memory_block_mixing_changes_nothing(mixing: SuggestionEngine, model_cache: Path) -> None:
    unmixed = _engine(model_cache, 0.0)
    try:
        mixing.set_memory("")
        assert mixing.suggest(TEXT).text == unmixed.suggest(TEXT).text
    finally:
        unmixed.close()


def test_the_memory_free_context_holds_the_same_tokens_without_the_block(mixing: SuggestionEngine) -> None:
    mixing.set_memory(BLOCK)
    result = mixing.suggest(TEXT)
    assert result.generated_tokens > 1 and result.memory_tokens > 0
    with_block, free = mixing._llm, mixing._memory_free
    assert free is not None
    expected = [*with_block.input_ids[:1], *with_block.input_ids[1 + result.memory_tokens : with_block.n_tokens]]
    assert list(free.input_ids[: free.n_tokens]) == expected  # the text, then the suggestion, in step


def test_a_cancelled_mixed_suggestion_stops_at_once(mixing: SuggestionEngine) -> None:
    mixing.set_memory(BLOCK)
    result = mixing.suggest(TEXT + " type", should_cancel=lambda: True)
    assert result.stop_reason is StopReason.CANCELLED and result.text == ""
