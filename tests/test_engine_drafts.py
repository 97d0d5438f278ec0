"""Drafting in the real engine: quoting a note, verified in one batch, and nothing else changes."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from client.engine import StopReason, SuggestionEngine
from shared.settings import EngineSettings

pytestmark = pytest.mark.slow

JSON_NOTE = "Notes:\n- Use json.dumps(obj, indent=4, sort_keys=True) to pretty-print.\n\n"
JSON_TEXT = "To pretty-print, call json.du"


@pytest.fixture(scope="module")
def engines(model_cache: Path) -> Iterator[dict[str, SuggestionEngine]]:
    """The base model with and without drafting (the adapter has tests of its own)."""
    made = {
        name: SuggestionEngine(
            EngineSettings(
                memory_adapter=False,
                background_prefill=False,
                copy_from_memory=on,
                prompt_lookup=on,
                max_suggestion_tokens=24,
            ),
            model_cache,
        )
        for name, on in (("drafting", True), ("plain", False))
    }
    yield made
    for engine in made.values():
        engine.close()


def test_a_note_that_holds_the_next_words_is_quoted(engines: dict[str, SuggestionEngine]) -> None:
    drafting = engines["drafting"]
    drafting.set_memory(JSON_NOTE)
    quoted = drafting.suggest(JSON_TEXT, stop_at_sentence_end=False)
    assert quoted.text.startswith("mps(obj, indent=4")
    assert "mps(obj, indent=4, sort_keys=True)".startswith(quoted.text) or quoted.text.startswith(
        "mps(obj, indent=4, sort_keys=True)"
    )
    assert quoted.accepted_draft_tokens >= 5
    drafting.set_memory("")
    alone = drafting.suggest(JSON_TEXT, stop_at_sentence_end=False)
    assert not alone.text.startswith("mps(obj, indent=4, sort_keys=True)")


def test_a_draft_never_runs_past_what_the_suggestion_can_take(engines: dict[str, SuggestionEngine]) -> None:
    """Verifying tokens the suggestion has no room for would only cost time."""
    drafting = engines["drafting"]
    drafting.set_memory(JSON_NOTE)
    short = drafting.suggest(JSON_TEXT, max_tokens=3, stop_at_sentence_end=False)
    drafting.set_memory("")
    assert 0 < short.drafted_tokens <= 3 + drafting.settings.word_completion_tokens
    assert short.text.startswith("mps(")


def test_a_quote_beside_the_notes_is_drafted_from_without_entering_the_prompt(
    engines: dict[str, SuggestionEngine],
) -> None:
    drafting = engines["drafting"]
    drafting.set_memory("", quotes=["Use json.dumps(obj, indent=4, sort_keys=True) to pretty-print."])
    quoted = drafting.suggest(JSON_TEXT, stop_at_sentence_end=False)
    assert quoted.memory_tokens == 0 and quoted.drafted_tokens > 0  # drafted, yet nothing added to the prompt
    assert quoted.accepted_draft_tokens >= 1 and quoted.text.startswith("mps(")  # the model took what it agrees with
    drafting.set_memory("")  # the quotes go with the block they came with
    assert drafting.suggest(JSON_TEXT, stop_at_sentence_end=False).drafted_tokens == 0


def test_a_draft_rejected_at_its_first_token_changes_nothing(engines: dict[str, SuggestionEngine]) -> None:
    text = "The weather in the mountains changes quickly, so the hikers"
    block = "Notes:\n- so the hikers xylophone zebra quantum walrus.\n\n"  # a match whose words the model never takes
    for engine in engines.values():
        engine.set_memory(block)
    drafted, plain = engines["drafting"].suggest(text), engines["plain"].suggest(text)
    assert drafted.drafted_tokens == 0 and drafted.text == plain.text


def test_prompt_lookup_changes_speed_not_text(engines: dict[str, SuggestionEngine], docs_text: str) -> None:
    for engine in engines.values():
        engine.set_memory("")
    text = docs_text[:1500] + " " + docs_text[:200]  # the writer repeats an earlier passage
    drafted, plain = engines["drafting"].suggest(text), engines["plain"].suggest(text)
    assert drafted.text == plain.text
    assert drafted.accepted_draft_tokens > 0


def test_drafting_stops_at_the_suggestion_boundary_and_when_cancelled(engines: dict[str, SuggestionEngine]) -> None:
    drafting = engines["drafting"]
    drafting.set_memory(JSON_NOTE)
    sentence = drafting.suggest(JSON_TEXT, max_tokens=64, stop_at_sentence_end=True)
    assert sentence.stop_reason in (StopReason.SENTENCE, StopReason.NEWLINE) and sentence.text.endswith("pretty-print.")
    assert sentence.text.count(".") == 1  # the note's sentence, and nothing after it
    pieces: list[str] = []
    cancelled = drafting.suggest(JSON_TEXT, on_text=pieces.append, should_cancel=lambda: len(pieces) >= 1)
    assert cancelled.stop_reason is StopReason.CANCELLED and len(pieces) == 1  # within one token, draft or not


def test_at_a_sentence_start_a_note_is_quoted_verbatim_and_off_changes_nothing(model_cache: Path) -> None:
    notes = (
        "Notes:\n- The array module defines an object type which can compactly represent an array of basic values.\n"
        "- If no interface option is given, -i is implied and sys.argv[0] is an empty string.\n"
        "- Use json.dumps(obj, indent=4, sort_keys=True) to pretty-print.\n\n"
    )
    text = (
        "Command line\n\nAn interface option terminates the list of options consumed by the interpreter; "
        "all consecutive arguments end up in sys.argv. "
    )
    drafting = SuggestionEngine(
        EngineSettings(background_prefill=False, max_suggestion_tokens=24, quote_at_sentence_start=True), model_cache
    )
    drafting.set_memory(notes)  # the memory adapter on, as in the product: the base model does not read notes
    try:
        quoted = drafting.suggest(text, stop_at_sentence_end=False)
        # It quotes the note the model scores highest, verbatim from its first word. Which note that is,
        # is the model's judgement, measured by the evaluation (docs/evaluation.md): the KL adapter chose
        # "If no interface option ...", the decoy-twin adapter chooses "The array module ...".
        starts = [line.removeprefix("- ") for line in notes.splitlines() if line.startswith("- ")]
        assert any(quoted.text.startswith(note[:40]) for note in starts), quoted.text
        # Off, the engine decodes as it would with no drafting at all.
        drafting.settings = drafting.settings.model_copy(update={"quote_at_sentence_start": False})
        off = drafting.suggest(text, stop_at_sentence_end=False).text
        drafting.settings = drafting.settings.model_copy(update={"copy_from_memory": False, "prompt_lookup": False})
        assert off == drafting.suggest(text, stop_at_sentence_end=False).text
    finally:
        drafting.close()
