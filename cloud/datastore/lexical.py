"""Lexical search beside the dense one: SQLite FTS5 (BM25) over the chunks, fused by reciprocal rank.

API names, options and error strings are what a writer types next, and sentence
embeddings blur them; BM25 finds the chunks that contain them. The FTS5 table is an
external-content index of ``chunks.text``, kept in step by triggers inside the same
transactions, so it can never disagree with the chunks it indexes.
"""

import re
from collections.abc import Iterable, Sequence

FTS_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize="unicode61 tokenchars '_'"
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""
FTS_BUILT_KEY = "fts_built"  # meta row: the FTS index covers every chunk (set after the one-time rebuild)
RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al.): rank r scores 1 / (RRF_K + r)
MAX_QUERY_TERMS = 48
_TERM = re.compile(r"[^\W_][\w]*")
_STOPWORD_TEXT = """
    a about above after again all also an and any are as at be because been before being below between both but
    by can could did do does doing down during each few for from further had has have having he her here hers
    him his how i if in into is it its itself just may might more most must my no nor not now of off on once
    only or other our out over own same she should so some such than that the their them then there these they
    this those through to too under until up very was we were what when where which while who whom why will with
    would you your
"""  # common English words: matching them says nothing about a chunk
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def distinctive_words(text: str) -> list[str]:
    """The words of ``text`` that say what it is about: lower-cased, three letters or more, no stop words."""
    return [word for word in _TERM.findall(text.casefold()) if len(word) >= 3 and word not in _STOPWORDS]


def fts_query(text: str) -> str | None:
    """An FTS5 query that matches any of the distinctive words of ``text``, the latest first; None if none."""
    terms = list(dict.fromkeys(reversed(distinctive_words(text))))[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{term}"' for term in terms) if terms else None


def fuse_rankings(rankings: Iterable[Sequence[int]], k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: the ``k`` ids best ranked across ``rankings``, with their fused scores."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])[:k]
