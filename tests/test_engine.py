"""The suggestion engine with the real Gemma 3 270M GGUF."""

import threading
from pathlib import Path

import pytest

from client.engine import StopReason, SuggestionEngine, kv_bytes_per_token
from shared.errors import InputError, ModelFileError
from shared.settings import EngineSettings, KVPreset

pytestmark = pytest.mark.slow


def test_default_preset_halves_the_kv_cache(engine: SuggestionEngine, model_cache: Path) -> None:
    assert engine.kv_preset is KVPreset.Q8Q4
    f16 = kv_bytes_per_token(engine._llm.metadata, KVPreset.F16)
    assert engine.kv_bytes_per_token / f16 == pytest.approx((34 / 32 + 18 / 32) / 4)


@pytest.mark.parametrize("preset", list(KVPreset))
def test_every_preset_loads_and_suggests(preset: KVPreset, model_cache: Path) -> None:
    engine = SuggestionEngine(EngineSettings(kv_preset=preset, n_ctx=512), model_cache)
    try:
        result = engine.suggest("The Python tutorial explains how to write a function that")
        assert result.kv_preset is preset
        assert result.text.strip()
        assert result.generated_tokens >= 1
        assert result.first_token_ms is not None and result.first_token_ms <= result.total_ms
    finally:
        engine.close()


def test_an_extended_prompt_evaluates_only_its_new_tokens(engine: SuggestionEngine, docs_text: str) -> None:
    first = engine.suggest(docs_text[:2000])
    before = engine.decoded_tokens
    second = engine.suggest(docs_text[:2012])  # the writer typed a few more characters

    new_prompt_tokens = second.prompt_tokens - second.reused_tokens
    assert second.evaluated_tokens == new_prompt_tokens
    assert new_prompt_tokens <= 8  # only the typed tail, not the 400-token document
    assert second.reused_tokens >= first.prompt_tokens - 2  # the tail token may re-split
    # llama.cpp decoded exactly the new prompt tokens plus one per generated token after the first.
    assert engine.decoded_tokens - before == new_prompt_tokens + max(second.generated_tokens - 1, 0)


def test_the_same_prompt_again_evaluates_one_token(engine: SuggestionEngine, docs_text: str) -> None:
    engine.suggest(docs_text[:1500])
    again = engine.suggest(docs_text[:1500])
    assert again.evaluated_tokens == 1  # the last token, for fresh logits
    assert again.reused_tokens == again.prompt_tokens - 1


def test_prefill_while_typing_leaves_only_the_last_word_for_the_pause(engine: SuggestionEngine, docs_text: str) -> None:
    text = docs_text[:1500]
    end = text.rindex(" ", 0, 1400)
    engine.suggest(text[: end - 300])
    evaluated = engine.prefill(text[: end + 1])  # a word was just finished with a space
    assert evaluated > 20  # the 300 typed characters, evaluated before the pause
    at_pause = engine.suggest(text[: end + 1] + "fo")
    assert at_pause.evaluated_tokens <= 4  # only the word being typed is left
    assert engine.prefill("   ") == 0


def test_suggestions_are_deterministic(engine: SuggestionEngine, docs_text: str) -> None:
    engine.suggest("Something else entirely, to move the cache.")
    assert engine.suggest(docs_text[:1000]).text == engine.suggest(docs_text[:1000]).text


def test_long_text_keeps_a_stable_window_start(model_cache: Path, docs_text: str) -> None:
    settings = EngineSettings(n_ctx=512, context_shift_tokens=128)
    small = SuggestionEngine(settings, model_cache)
    try:
        first = small.suggest(docs_text * 2)
        second = small.suggest(docs_text * 2 + " The")
        assert first.prompt_tokens <= 512 - settings.max_suggestion_tokens
        assert second.reused_tokens >= first.prompt_tokens - 2  # the cut did not move
    finally:
        small.close()


def test_a_new_request_cancels_the_one_in_flight_within_one_token(engine: SuggestionEngine) -> None:
    streamed: list[str] = []
    started = threading.Event()
    results = {}

    def on_text(piece: str) -> None:
        streamed.append(piece)
        if len(streamed) == 3:
            started.set()

    def long_suggestion() -> None:
        results["long"] = engine.suggest(
            "Here is a list of numbers: 1, 2, 3, 4, 5, 6,", max_tokens=200, stop_at_sentence_end=False, on_text=on_text
        )

    worker = threading.Thread(target=long_suggestion)
    worker.start()
    assert started.wait(60)
    seen_at_cancel = engine._llm.decoded_tokens
    results["new"] = engine.suggest("A new keystroke")
    worker.join(60)

    long = results["long"]
    assert long.stop_reason is StopReason.CANCELLED
    assert long.generated_tokens < 200
    # The superseded request decoded at most one more token after the new one arrived.
    decoded_by_new = results["new"].evaluated_tokens + max(results["new"].generated_tokens - 1, 0)
    assert engine._llm.decoded_tokens - seen_at_cancel <= decoded_by_new + 1
    assert results["new"].stop_reason is not StopReason.CANCELLED


def test_a_caller_can_cancel_through_its_own_flag(engine: SuggestionEngine) -> None:
    pieces: list[str] = []
    result = engine.suggest(
        "Count with me: one, two, three,",
        max_tokens=100,
        stop_at_sentence_end=False,
        on_text=pieces.append,
        should_cancel=lambda: len(pieces) >= 2,
    )
    assert result.stop_reason is StopReason.CANCELLED
    assert result.generated_tokens == 2


def test_a_cold_prefill_is_cancelled_between_chunks(engine: SuggestionEngine, docs_text: str) -> None:
    checks = []
    result = engine.suggest(
        "A document the cache has never seen. " + docs_text,
        should_cancel=lambda: bool(checks.append(1)) or len(checks) > 1,  # type: ignore[func-returns-value]  # cancel after the first chunk
    )
    assert result.stop_reason is StopReason.CANCELLED
    assert result.evaluated_tokens == engine.settings.prefill_chunk_tokens < result.prompt_tokens
    assert result.generated_tokens == 0 and result.first_token_ms is None


def test_sentence_boundary_with_the_real_model(engine: SuggestionEngine) -> None:
    result = engine.suggest("Paris is the capital of France. Berlin is the capital of", max_tokens=30)
    assert result.stop_reason is StopReason.SENTENCE
    assert result.text.rstrip().endswith((".", "!", "?"))
    assert "\n" not in result.text


def test_length_limit_never_ends_mid_word(model_cache: Path, docs_text: str) -> None:
    # Healing off: with it, the follow-up call would re-decide the last word itself.
    plain = SuggestionEngine(EngineSettings(token_healing=False, n_ctx=1024), model_cache)
    checked = 0
    try:
        for cut in range(600, 3000, 300):
            text = docs_text[:cut]
            result = plain.suggest(text, max_tokens=5, stop_at_sentence_end=False)
            if result.stop_reason is not StopReason.LENGTH or not result.text:
                continue
            # What the model says next must not continue the suggestion's last word.
            following = plain.suggest(text + result.text, max_tokens=1, stop_at_sentence_end=False)
            if following.text:
                checked += 1
                assert not (result.text[-1].isalnum() and following.text[0].isalnum()), (result.text, following.text)
    finally:
        plain.close()
    assert checked >= 3


def test_concurrent_callers_never_corrupt_the_engine(engine: SuggestionEngine, docs_text: str) -> None:
    errors: list[BaseException] = []

    def typist(offset: int) -> None:
        try:
            for i in range(6):
                engine.suggest(docs_text[: 800 + offset + 7 * i], max_tokens=4)
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=typist, args=(n * 50,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    final = engine.suggest(docs_text[:900], max_tokens=4)
    assert final.stop_reason is not StopReason.CANCELLED and final.generated_tokens >= 1


def test_empty_input_is_refused(engine: SuggestionEngine) -> None:
    with pytest.raises(InputError, match="empty"):
        engine.suggest("  \n ")


def test_bad_model_paths_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        SuggestionEngine(EngineSettings(model_path=tmp_path / "missing.gguf"), tmp_path)
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x07" * 4096)  # right magic, garbage after it
    with pytest.raises(ModelFileError, match="corrupt"):
        SuggestionEngine(EngineSettings(model_path=corrupt), tmp_path)


@pytest.mark.parametrize(
    ("text", "healed"),
    [
        ("Python is an easy to learn, powerful programming language. It has a wide ", " "),
        ("Python is an easy to learn, powerful programming language. It has a wi", " wi"),
        ("To leave a loop early, use the brea", " brea"),
    ],
)
def test_the_unfinished_word_is_re_spelled_not_repeated(engine: SuggestionEngine, text: str, healed: str) -> None:
    result = engine.suggest(text)
    assert result.healed == healed
    assert result.text and not result.text[0].isspace()  # continues the word, no stray space
    assert result.first_text_ms is not None and result.first_token_ms is not None
    assert result.first_text_ms >= result.first_token_ms


def test_a_finished_word_is_not_repeated(engine: SuggestionEngine) -> None:
    result = engine.suggest("Dear team, thank you for your")
    assert result.healed == " your"
    assert not result.text.lstrip().startswith("your")


def test_healing_can_be_turned_off(model_cache: Path) -> None:
    plain = SuggestionEngine(EngineSettings(token_healing=False, n_ctx=256), model_cache)
    try:
        assert plain.suggest("It has a wi").healed == ""
    finally:
        plain.close()
