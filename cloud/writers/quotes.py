"""The exact words worth quoting: short spans of the retrieved chunks, kept verbatim beside the notes.

A note says what a passage means; a writer types its names, options and phrases.
Summaries lose those (replayed on the evaluation's cases, copying from the notes
could supply 0.5% of the reference's words, from the raw chunks 4.4%). So each note
carries, per source, the sentences of its chunk that share the most phrasing with the
writer's text: where the writer's last words occur in a quote, the client drafts what
follows them (client/engine/drafts.py). Quotes are not put in the prompt, so they cost
no prefill; they only feed the drafter, which the model verifies.
"""

from collections.abc import Sequence
from itertools import pairwise

from cloud.datastore import RetrievedChunk
from cloud.datastore.lexical import distinctive_words
from cloud.writers.sentences import prose_sentences
from shared.protocol import MAX_NOTE_CHARS, MAX_QUOTES_PER_SOURCE

MIN_QUOTE_WORDS = 4


def _pairs(words: Sequence[str]) -> set[tuple[str, str]]:
    return set(pairwise(words))


def quotes_by_chunk(focus: str, chunks: Sequence[RetrievedChunk], max_chars: int) -> dict[int, list[str]]:
    """Per chunk id, its sentences sharing the most phrasing with ``focus``, in chunk order, ``max_chars`` in all.

    A sentence scores by the word pairs it shares with the focus (a phrase the writer
    uses, so a place a draft can start) and by the focus's distinctive words it holds,
    per word of its length: short, dense spans first. Sentences sharing nothing are
    never quoted.
    """
    focus_pairs = _pairs(focus.casefold().split())
    focus_terms = set(distinctive_words(focus))
    scored: list[tuple[float, int, int, str]] = []  # (score, chunk order, sentence order, quote)
    for chunk_at, chunk in enumerate(chunks):
        for sentence_at, sentence in enumerate(prose_sentences(chunk.text)):
            quote = " ".join(sentence.split())
            words = quote.casefold().split()
            if len(words) < MIN_QUOTE_WORDS or len(quote) > MAX_NOTE_CHARS:
                continue
            shared = 2 * len(_pairs(words) & focus_pairs) + len(set(distinctive_words(quote)) & focus_terms)
            if shared:
                scored.append((shared / len(words) ** 0.5, chunk_at, sentence_at, quote))
    chosen: list[tuple[int, int, str]] = []
    size = 0
    per_chunk = [0] * len(chunks)
    for _, chunk_at, sentence_at, quote in sorted(scored, key=lambda row: -row[0]):
        if size + len(quote) > max_chars or per_chunk[chunk_at] == MAX_QUOTES_PER_SOURCE:
            continue
        per_chunk[chunk_at] += 1
        chosen.append((chunk_at, sentence_at, quote))
        size += len(quote) + 1
    by_chunk: dict[int, list[str]] = {}
    for chunk_at, _, quote in sorted(chosen):
        by_chunk.setdefault(chunks[chunk_at].chunk_id, []).append(quote)
    return by_chunk
