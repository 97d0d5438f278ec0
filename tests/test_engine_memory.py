"""The engine's memory block: pinned before the text, and switched without stalling suggestions."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from client.engine import SuggestionEngine
from shared.settings import EngineSettings

pytestmark = pytest.mark.slow

BLOCK = (
    "Notes:\n- A class bundles data and functionality together.\n"
    "- Creating a class creates a new type of object, allowing new instances of that type to be made.\n\n"
)
OTHER_BLOCK = "Notes:\n- The del statement removes an item from a list given its index.\n\n"


@pytest.fixture(scope="module")
def memory_engine(model_cache: Path) -> Iterator[SuggestionEngine]:
    loaded = SuggestionEngine(EngineSettings(n_ctx=1024, context_shift_tokens=64), model_cache)
    yield loaded
    loaded.close()


def _prompt_start(engine: SuggestionEngine, length: int) -> list[int]:
    return list(engine._llm.input_ids[:length])


def test_the_memory_block_is_pinned_when_the_text_outgrows_the_window(
    memory_engine: SuggestionEngine, docs_text: str
) -> None:
    long_text = docs_text * 2  # about 2,000 tokens in a 1,024-token window
    memory_engine.suggest(long_text)
    memory_engine.set_memory(BLOCK)
    assert memory_engine.wait_for_memory(timeout_s=120)  # prefilled for the text last suggested from
    result = memory_engine.suggest(long_text)
    block_tokens = memory_engine._llm.tokenize(BLOCK.encode(), add_bos=False, special=False)
    assert result.memory_tokens == len(block_tokens) and result.prompt_tokens <= 1024
    assert _prompt_start(memory_engine, 1 + len(block_tokens)) == memory_engine._bos() + block_tokens
    assert memory_engine.active_memory == BLOCK


def test_suggestions_go_on_with_the_old_block_until_the_new_one_is_prefilled(
    memory_engine: SuggestionEngine, docs_text: str
) -> None:
    text = docs_text[:2500]
    memory_engine.suggest(text)
    memory_engine.set_memory(BLOCK)
    memory_engine.wait_for_memory(timeout_s=120)
    memory_engine.suggest(text)  # warm: BLOCK and the text are cached
    assert memory_engine.active_memory == BLOCK
    memory_engine.set_memory(OTHER_BLOCK)
    during = memory_engine.suggest(text + " A")
    assert memory_engine.active_memory == BLOCK or during.evaluated_tokens < 40  # no full prefill on this path
    assert memory_engine.wait_for_memory(timeout_s=120)
    after = memory_engine.suggest(text + " A class")
    assert memory_engine.active_memory == OTHER_BLOCK
    other_tokens = memory_engine._llm.tokenize(OTHER_BLOCK.encode(), add_bos=False, special=False)
    assert after.memory_tokens == len(other_tokens)
    assert after.evaluated_tokens < 40  # the spare context did the prefill; only the newest words were evaluated
    assert after.reused_tokens > 500


def test_setting_the_same_block_again_changes_nothing_and_an_empty_block_removes_it(
    memory_engine: SuggestionEngine, docs_text: str
) -> None:
    memory_engine.suggest(docs_text[:800])
    memory_engine.set_memory(OTHER_BLOCK)
    memory_engine.wait_for_memory(timeout_s=120)
    memory_engine.suggest(docs_text[:800])
    assert memory_engine.active_memory == OTHER_BLOCK
    memory_engine.set_memory(OTHER_BLOCK)
    assert memory_engine.suggest(docs_text[:800]).evaluated_tokens < 10  # the cached prompt, not a new prefill
    memory_engine.set_memory("")
    assert memory_engine.wait_for_memory(timeout_s=120)
    assert memory_engine.suggest(docs_text[:800]).memory_tokens == 0


def test_a_text_that_moved_on_is_caught_up_in_the_background_before_the_switch(
    memory_engine: SuggestionEngine, docs_text: str
) -> None:
    memory_engine.suggest(docs_text[:1000])
    memory_engine.set_memory(BLOCK)
    assert memory_engine.wait_for_memory(timeout_s=120)
    moved_on = docs_text[:2500]  # far more text than the spare context evaluated
    assert memory_engine.suggest(moved_on).memory_tokens == 0  # no stall: the old block, while the spare catches up
    assert memory_engine.wait_for_memory(timeout_s=120)
    switched = memory_engine.suggest(moved_on + " The")
    assert memory_engine.active_memory == BLOCK and switched.evaluated_tokens < 40
