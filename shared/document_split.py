"""The one document split that training and evaluation share.

A document belongs to the evaluation split or the training split by a stable hash of
its id (its path relative to the corpus folder), so the two never meet: no training
example's prefix, continuation or note comes from a document the evaluation scores.
"""

import hashlib
from enum import StrEnum

EVAL_SHARE = 0.25  # of a corpus's documents; the Python docs keep about 130 for evaluation


class Split(StrEnum):
    TRAIN = "train"
    EVAL = "eval"


def split_of(doc_id: str) -> Split:
    """Which split the document ``doc_id`` is in: the same answer on every machine, forever."""
    digest = hashlib.sha256(doc_id.replace("\\", "/").encode("utf-8")).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return Split.EVAL if share < EVAL_SHARE else Split.TRAIN


def is_eval_document(doc_id: str) -> bool:
    return split_of(doc_id) is Split.EVAL
