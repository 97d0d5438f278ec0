"""The memory adapter: checked at load, on by default, and it makes the model read its notes."""

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.engine import SuggestionEngine
from client.engine.adapter_file import ADAPTER_FILE, adapter_for, shipped_adapter
from shared.errors import ModelFileError
from shared.settings import EngineSettings
from tests.test_cli import hybridrag

FACT_BLOCK = "Notes:\n- The retry limit of the Zorblax client is 17 attempts.\n\n"
FACT_TEXT = "The Zorblax client retries a failed upload. The retry limit of the Zorblax client is"


def test_the_shipped_adapter_is_found_and_checked() -> None:
    assert adapter_for(EngineSettings()) == shipped_adapter() == ADAPTER_FILE
    assert adapter_for(EngineSettings(memory_adapter=False)) is None
    # --no-adapter means no adapter, even with another one named (the evaluation's base `client` under ADAPTER_PATH)
    assert adapter_for(EngineSettings(memory_adapter=False, adapter_path=Path("/no/such.gguf"))) is None


def test_a_missing_or_corrupt_adapter_gets_one_line_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"not found: .*absent\.gguf\. Fix: .*--no-adapter"):
        adapter_for(EngineSettings(adapter_path=tmp_path / "absent.gguf"))
    (tmp_path / "bad.gguf").write_bytes(b"not a gguf at all")
    with pytest.raises(ModelFileError, match=r"bad\.gguf is not a GGUF file"):
        adapter_for(EngineSettings(adapter_path=tmp_path / "bad.gguf"))


def test_a_shipped_adapter_that_changed_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from client.engine import adapter_file

    folder = tmp_path / "memory_adapter"
    shutil.copytree(ADAPTER_FILE.parent, folder)
    corrupt = folder / ADAPTER_FILE.name
    corrupt.write_bytes(corrupt.read_bytes()[:-10] + b"0123456789")
    monkeypatch.setattr(adapter_file, "ADAPTER_FILE", corrupt)
    monkeypatch.setattr(adapter_file, "PROVENANCE_FILE", folder / "provenance.json")
    adapter_file.shipped_adapter.cache_clear()
    try:
        with pytest.raises(ModelFileError, match=r"is corrupt \(sha256 differs.*Fix: "):
            adapter_file.shipped_adapter()
    finally:
        adapter_file.shipped_adapter.cache_clear()


@pytest.fixture(scope="module")
def tuned(model_cache: Path) -> Iterator[SuggestionEngine]:
    """The adapter alone: no drafting, so what it writes is the model's own reading."""
    engine = SuggestionEngine(
        EngineSettings(background_prefill=False, copy_from_memory=False, prompt_lookup=False), model_cache
    )
    yield engine
    engine.close()


@pytest.mark.slow
def test_with_the_adapter_a_distinctive_fact_in_a_note_is_used(tuned: SuggestionEngine) -> None:
    tuned.set_memory(FACT_BLOCK)
    assert "17" in tuned.suggest(FACT_TEXT).text
    tuned.set_memory("")
    assert "17" not in tuned.suggest(FACT_TEXT).text


@pytest.mark.slow
def test_no_adapter_gives_the_base_models_suggestion(model_cache: Path, tmp_path: Path) -> None:
    text = "The array module defines an object type which can compactly represent"
    base = SuggestionEngine(EngineSettings(memory_adapter=False, background_prefill=False), model_cache)
    try:
        expected = base.suggest(text).text
    finally:
        base.close()
    shown = hybridrag("suggest", "--no-adapter", "--no-memory", "--json", text, cache=model_cache)
    assert shown.returncode == 0, shown.stderr
    assert f'"text": {__import__("json").dumps(expected)}' in shown.stdout


def test_oracle_twins_differ_from_their_example_only_by_the_continuation_among_the_notes() -> None:
    from training.train_adapter import with_oracle_twins

    rows: list[dict] = [
        {"condition": "none", "notes": [], "prefix": "A.", "continuation": "B."},
        {"condition": "document", "notes": ["x", "y"], "prefix": "C.", "continuation": "D."},
        {"condition": "chunk", "notes": ["z"], "prefix": "E.", "continuation": "F."},
    ]
    mixed = with_oracle_twins(rows, 1.0, random.Random(0))
    assert mixed[:3] == rows  # the originals stay, unchanged
    twins = mixed[3:]
    assert [twin["prefix"] for twin in twins] == ["C.", "E."]  # no twin for an example without notes
    for twin, row in zip(twins, rows[1:], strict=True):
        assert twin["condition"] == "oracle"
        assert sorted(twin["notes"]) == sorted([*row["notes"], row["continuation"]])
    assert with_oracle_twins(rows, 0.0, random.Random(0)) == rows


def test_decoy_twins_add_another_sentence_of_the_same_document_and_keep_the_target() -> None:
    from training.train_adapter import with_decoy_twins

    def row(doc_id: str, condition: str, notes: list[str], prefix: str, continuation: str) -> dict:
        return {
            "corpus": "c",
            "doc_id": doc_id,
            "condition": condition,
            "notes": notes,
            "prefix": prefix,
            "continuation": continuation,
        }

    rows = [
        row("a", "none", [], "P1.", "S1."),
        row("a", "document", ["x"], "P2.", "S2."),
        row("a", "chunk", ["y"], "S1. P3.", "S3."),
        row("b", "document", ["z"], "P4.", "S4."),
    ]
    mixed = with_decoy_twins(rows, 1.0, random.Random(0))
    assert mixed[:4] == rows
    twins = {twin["prefix"]: twin for twin in mixed[4:]}
    assert set(twins) == {"P2.", "S1. P3."}  # no twin without notes, none where the document has no other sentence
    assert twins["P2."]["continuation"] == "S2." and twins["P2."]["condition"] == "decoy"
    assert sorted(twins["P2."]["notes"]) in (["S1.", "x"], ["S3.", "x"])
    assert sorted(twins["S1. P3."]["notes"]) == ["S2.", "y"]  # never a sentence already typed, never the answer
    assert with_decoy_twins(rows, 0.0, random.Random(0)) == rows


def test_plain_text_windows_are_whole_bos_led_pieces_of_the_document_in_order() -> None:
    from training.train_adapter import plain_windows

    class WordTokenizer:  # one token a word: enough to check how a text is cut
        bos_token_id = 2

        def __call__(self, text: str, add_special_tokens: bool) -> dict:
            assert not add_special_tokens
            return {"input_ids": [int(word) for word in text.split()]}

    text = " ".join(str(n) for n in range(10, 30))  # 20 tokens
    windows = plain_windows(WordTokenizer(), [{"text": text}, {"text": "7 8"}], window=8)
    assert windows == [[2, *range(10, 17)], [2, *range(17, 24)]]  # no short tail, no window of a short text
