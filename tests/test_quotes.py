"""Quotes beside the notes: the chunks' sentences that share the writer's phrasing, verbatim and within budget."""

from cloud.datastore import RetrievedChunk
from cloud.writers.quotes import quotes_by_chunk

JSON_CHUNK = (
    "The json module encodes Python objects.\n\n"
    "Use json.dumps(obj, indent=4) to pretty-print a document.   It returns a str.\n\n"
    "Cats sleep for most of the afternoon in the sun."
)
CSV_CHUNK = "The csv.writer object writes rows as delimited strings. Rows are lists of fields."
FOCUS = "I want to pretty-print a document with json.dumps and indent it"


def _chunks() -> list[RetrievedChunk]:
    return [
        RetrievedChunk(7, "library/json.rst.txt", 0, len(JSON_CHUNK), JSON_CHUNK, 1.0),
        RetrievedChunk(9, "library/csv.rst.txt", 0, len(CSV_CHUNK), CSV_CHUNK, 0.9),
    ]


def test_sentences_that_share_the_writers_phrasing_are_quoted_verbatim_in_chunk_order() -> None:
    quotes = quotes_by_chunk(FOCUS, _chunks(), max_chars=1000)
    assert quotes[7] == [
        "The json module encodes Python objects.",
        "Use json.dumps(obj, indent=4) to pretty-print a document.",
    ]
    assert all("Cats" not in quote for quote in quotes[7])  # shares nothing with the focus
    assert 9 not in quotes


def test_the_budget_keeps_the_best_sentences_and_zero_turns_quotes_off() -> None:
    tight = quotes_by_chunk(FOCUS, _chunks(), max_chars=70)
    assert tight == {7: ["Use json.dumps(obj, indent=4) to pretty-print a document."]}
    assert quotes_by_chunk(FOCUS, _chunks(), max_chars=0) == {}
    assert quotes_by_chunk("", _chunks(), max_chars=1000) == {}
