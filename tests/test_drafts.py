"""Finding drafts: what a note, or the writer's earlier text, says comes after the words before the cursor."""

from client.engine.drafts import DraftSource, at_sentence_start, find_draft, notes_of
from evaluation.runner import copy_ceiling

NOTE = "Use json.dumps(obj, indent=4, sort_keys=True) to pretty-print."


def test_an_unfinished_word_that_matches_a_note_drafts_the_rest_of_the_note_sentence() -> None:
    draft = find_draft("To pretty-print, call json.du", [NOTE], min_match_chars=6, max_chars=160)
    assert draft is not None and draft.source is DraftSource.MEMORY
    assert draft.text == "mps(obj, indent=4, sort_keys=True) to pretty-print."


def test_the_longest_match_wins_and_short_matches_draft_nothing() -> None:
    notes = ["The loads function parses a string.", "Call json.loads(text) to parse JSON text."]
    draft = find_draft("To parse it, call json.loa", notes, 6, 160)
    assert draft is not None and draft.text == "ds(text) to parse JSON text."
    assert find_draft("It is a", ["It is a module."], 6, 160) is None  # "It is a": 5 characters


def test_a_match_starts_at_a_word_and_the_draft_stops_at_the_sentence_end() -> None:
    assert find_draft("reads the pickle", ["unpickle data. Then more."], 6, 160) is None
    draft = find_draft("Its value is the default timeout", ["The default timeout is 30 s. Raise it if needed."], 6, 160)
    assert draft is not None and draft.text == " is 30 s."


def test_a_suggestion_that_goes_on_past_a_full_stop_drafts_the_notes_next_sentence_too() -> None:
    note = "The default timeout is 30 s. Raise it if needed.\nA new line."
    draft = find_draft("Its value is the default timeout", [note], 6, 160, to_sentence_end=False)
    assert draft is not None and draft.text == " is 30 s. Raise it if needed."  # still not past the line


def test_notes_come_before_the_writers_own_text() -> None:
    text = "The socket module wraps the BSD socket interface. Sockets are made with the socket module"
    draft = find_draft(text, [], 6, 160, earlier_text=text)
    assert draft is not None and draft.source is DraftSource.TEXT and draft.text == " wraps the BSD socket interface."
    from_note = find_draft(text, ["the socket module is for networking."], 6, 160, earlier_text=text)
    assert from_note is not None and from_note.source is DraftSource.MEMORY


def test_notes_are_read_from_the_engines_memory_block() -> None:
    assert notes_of("Notes:\n- first note\n- second note\n\n") == ["first note", "second note"]
    assert notes_of("") == []


def test_the_copy_ceiling_counts_the_reference_words_a_copier_could_take() -> None:
    reference = "The default timeout is 30 s and can be raised."
    assert copy_ceiling("Intro. ", reference, []) == 0.0
    assert copy_ceiling("Intro. ", reference, ["The default timeout is 30 s and can be raised."]) > 0.7
    assert copy_ceiling("Intro. ", reference, ["Unrelated words entirely here."]) == 0.0


def test_a_sentence_start_is_where_nothing_of_a_new_sentence_is_typed() -> None:
    assert at_sentence_start("It ends here. ")
    assert at_sentence_start('He said "yes." ')
    assert at_sentence_start("A heading\n")
    assert not at_sentence_start("It ends here.")  # the space is the writer's next key
    assert not at_sentence_start("It goes on ")
    assert not at_sentence_start("e.g.x")
