"""Cutting a document into chunks of about ``min..max`` word pieces on natural boundaries.

Paragraphs are packed whole while they fit; a paragraph too long for one chunk is cut
between sentences, and a sentence too long for one chunk between words. Every chunk
keeps the exact character span of the document it came from.
"""

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cloud.datastore.documents import Document, readable

_PARAGRAPH = re.compile(r"^[ \t]*\S.*?(?=\n[ \t]*\n|\Z)", re.DOTALL | re.MULTILINE)
_SENTENCE = re.compile(r"\S.*?(?:[.!?:](?=\s)|\Z)", re.DOTALL)
_WORD = re.compile(r"\S+")
_HEADING_MAX_TOKENS = 16
PARAGRAPH_SEPARATOR = "\n\n"  # between the pieces of a chunk: writers split prose from code on it
TokenCounter = Callable[[Sequence[str]], list[int]]  # word pieces of each text


@dataclass(frozen=True)
class Chunk:
    """A span of a document (also a piece of one while packing): its readable text and word pieces."""

    start: int
    end: int
    text: str
    tokens: int


def chunk_document(
    document: Document,
    count_tokens: TokenCounter,
    min_tokens: int,
    max_tokens: int,
) -> list[Chunk]:
    """The document's chunks in order; markup-only paragraphs are dropped."""
    pieces = list(_pieces(document, count_tokens, max_tokens))
    return list(_pack(pieces, min_tokens, max_tokens))


def _pieces(document: Document, count_tokens: TokenCounter, max_tokens: int) -> Iterator[Chunk]:
    """Readable units no larger than ``max_tokens``: paragraphs, else sentences, else word runs."""
    spans = [(m.start(), m.end()) for m in _PARAGRAPH.finditer(document.text)]
    yield from _fitting(document, spans, count_tokens, max_tokens, level=0)


_SPLITTERS = (_SENTENCE, _WORD)


def _fitting(
    document: Document, spans: list[tuple[int, int]], count_tokens: TokenCounter, max_tokens: int, level: int
) -> Iterator[Chunk]:
    texts = [readable(document.text[start:end], document.kind) for start, end in spans]
    if level:  # a sentence starts mid-line, so its indentation says nothing: it is prose
        texts = [" ".join(text.split()) for text in texts]
    counts = count_tokens(texts)
    for (start, end), text, tokens in zip(spans, texts, counts, strict=True):
        if not text:
            continue
        if tokens <= max_tokens:
            yield Chunk(start, end, text, tokens)
        elif level < len(_SPLITTERS):
            inner = [(start + m.start(), start + m.end()) for m in _SPLITTERS[level].finditer(document.text[start:end])]
            if level + 1 == len(_SPLITTERS):  # words: pack them into runs here, they are tiny
                yield from _word_runs(document, inner, count_tokens, max_tokens)
            else:
                yield from _fitting(document, inner, count_tokens, max_tokens, level + 1)


def _word_runs(
    document: Document, words: list[tuple[int, int]], count_tokens: TokenCounter, max_tokens: int
) -> Iterator[Chunk]:
    texts = [readable(document.text[start:end], document.kind) for start, end in words]
    counts = count_tokens(texts)
    run: list[Chunk] = []
    for (start, end), text, tokens in zip(words, texts, counts, strict=True):
        if not text:
            continue
        tokens = min(tokens, max_tokens)  # a single monster "word" is cut by the embedder, not here
        if run and sum(p.tokens for p in run) + tokens > max_tokens:
            yield _merged(run, " ")
            run = []
        run.append(Chunk(start, end, text, tokens))
    if run:
        yield _merged(run, " ")


def _pack(pieces: list[Chunk], min_tokens: int, max_tokens: int) -> Iterator[Chunk]:
    """Greedy packing up to ``max_tokens``; past ``min_tokens`` a heading starts a new chunk."""
    current: list[Chunk] = []
    for piece in pieces:
        size = sum(p.tokens for p in current)
        if current and (size + piece.tokens > max_tokens or size >= min_tokens and _is_heading(piece)):
            yield _merged(current, PARAGRAPH_SEPARATOR)
            current = []
        current.append(piece)
    if current:
        yield _merged(current, PARAGRAPH_SEPARATOR)


def _is_heading(piece: Chunk) -> bool:
    return (
        piece.tokens <= _HEADING_MAX_TOKENS
        and "\n" not in piece.text
        and not piece.text.rstrip().endswith((".", ":", "!", "?"))
    )


def _merged(pieces: list[Chunk], separator: str) -> Chunk:
    return Chunk(pieces[0].start, pieces[-1].end, separator.join(p.text for p in pieces), sum(p.tokens for p in pieces))
