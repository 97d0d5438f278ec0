"""Where suggestions end: pure logic, fed token pieces by hand."""

from typing import Any

from client.engine import BoundaryRules, StopReason, SuggestionBoundary


def feed(pieces: list[str], **rules: Any) -> SuggestionBoundary:
    boundary = SuggestionBoundary(BoundaryRules(**rules))
    for piece in pieces:
        boundary.push(piece)
        if boundary.done:
            break
    return boundary


def test_stops_after_a_sentence_once_the_next_word_starts() -> None:
    boundary = feed([" the", " cat", " sat", ".", " Then", " it"])
    assert boundary.text == " the cat sat."
    assert boundary.stop_reason is StopReason.SENTENCE
    assert boundary.tokens == 5  # the token after the full stop confirmed the end


def test_full_stop_inside_a_word_is_not_a_sentence_end() -> None:
    boundary = feed([" use", " os", ".", "path", ".", "join", " here", " now"], max_tokens=7)
    assert boundary.stop_reason is StopReason.LENGTH
    assert boundary.text == " use os.path.join here"


def test_punctuation_before_any_generated_word_does_not_stop() -> None:
    # The writer's text ended a sentence; the suggestion starts the next one.
    boundary = feed([" The", " next", " one", "."], max_tokens=3)
    assert boundary.text.startswith(" The")


def test_closing_quote_stays_with_its_sentence() -> None:
    boundary = feed([' "', "Yes", '."', " She"])
    assert boundary.text == ' "Yes."'


def test_newline_ends_the_suggestion_and_is_not_part_of_it() -> None:
    boundary = feed([" first", " line", "\n", "second"])
    assert boundary.text == " first line"
    assert boundary.stop_reason is StopReason.NEWLINE


def test_newline_rule_can_be_off() -> None:
    boundary = feed([" a", "\n", "b", " c"], stop_at_newline=False, max_tokens=4)
    assert boundary.text == " a\nb c"


def test_token_limit_at_a_word_boundary_stops_at_once() -> None:
    boundary = feed([" one", " two", " three", " four"], max_tokens=3)
    assert boundary.text == " one two three"
    assert boundary.stop_reason is StopReason.LENGTH


def test_token_limit_mid_word_finishes_the_word() -> None:
    boundary = feed([" un", "believ", "able", " story"], max_tokens=2)
    assert boundary.text == " unbelievable"
    assert boundary.tokens == 4


def test_word_that_does_not_finish_in_time_is_dropped() -> None:
    boundary = feed([" a", " very", "long", "word", "goes", "on"], max_tokens=2, word_completion_tokens=2)
    assert boundary.text == " a"
    assert boundary.stop_reason is StopReason.LENGTH


def test_completing_the_writers_partial_word_is_allowed() -> None:
    # The writer typed "hel": the suggestion may start inside that word.
    boundary = feed(["lo", " world", "!", " And"])
    assert boundary.text == "lo world!"


def test_push_reports_only_what_belongs_to_the_suggestion() -> None:
    boundary = SuggestionBoundary(BoundaryRules())
    accepted = [boundary.push(piece) for piece in [" It", " works", ".", " Next"]]
    assert "".join(accepted) == boundary.text == " It works."


def test_end_for_an_outside_reason_keeps_the_text() -> None:
    boundary = SuggestionBoundary(BoundaryRules())
    boundary.push(" partial ")
    boundary.end(StopReason.CANCELLED)
    assert boundary.done and boundary.text == " partial"
    assert boundary.push(" more") == ""
