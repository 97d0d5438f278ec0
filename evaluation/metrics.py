"""How good a suggestion is against the reference continuation, and how sure we are of a mean.

ROUGE-L with Google's rouge-score; BLEU and GLEU with nltk. GLEU is Google's
sentence-level GLEU (Wu et al. 2016), nltk's ``sentence_gleu``, not the GLEU for
grammatical error correction. Next-word exact match and keystroke savings follow
Smart Compose's ExactMatch and Trnka & McCoy's keystroke savings: a writer replays
the reference and accepts a suggestion whenever its next words are right.
"""

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from nltk.translate.gleu_score import sentence_gleu
from rouge_score import rouge_scorer

_WORD = re.compile(r"\w+|[^\w\s]")
_ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
_SMOOTHING = SmoothingFunction().method1  # short sentences: no zero scores from a missing 4-gram
BOOTSTRAP_SAMPLES = 1000
ACCEPT_KEYSTROKES = 1  # Tab, or one Ctrl+Right per word


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def rouge_l(candidate: str, reference: str) -> float:
    return _ROUGE.score(reference, candidate)["rougeL"].fmeasure


def bleu(candidate: str, reference: str) -> float:
    hypothesis = words(candidate)
    return sentence_bleu([words(reference)], hypothesis, smoothing_function=_SMOOTHING) if hypothesis else 0.0


def gleu(candidate: str, reference: str) -> float:
    hypothesis = words(candidate)
    return sentence_gleu([words(reference)], hypothesis) if hypothesis else 0.0


def next_word_exact(candidate: str, reference: str) -> bool:
    """The suggestion's first word is the reference's first word (case-insensitive)."""
    suggested, wanted = candidate.split(), reference.split()
    return bool(suggested and wanted) and suggested[0].lower() == wanted[0].lower()


@dataclass(frozen=True)
class KeystrokeReplay:
    typed: int  # keystrokes the writer made, accepts included
    plain: int  # keystrokes without suggestions: every character
    suggestions: int  # how many times a suggestion was asked for
    accepted_words: int

    @property
    def savings(self) -> float:
        return 1 - self.typed / self.plain if self.plain else 0.0


def replay_keystrokes(prefix: str, reference: str, suggest: Callable[[str], str]) -> KeystrokeReplay:
    """Type ``reference`` after ``prefix`` word by word; before each word, accept what the suggestion gets right.

    The writer takes the longest run of the suggestion's whole words that the reference
    goes on with (one keystroke per accepted word), else types the next word.
    """
    pieces = re.findall(r"\s*\S+", reference)  # each word with the white space before it
    typed = asked = accepted = 0
    position = 0
    while position < len(pieces):
        asked += 1
        suggestion = re.findall(r"\s*\S+", suggest(prefix + "".join(pieces[:position])))
        run = 0
        while (
            run < len(suggestion)
            and position + run < len(pieces)
            and suggestion[run].strip() == pieces[position + run].strip()
        ):
            run += 1
        if run:
            typed += ACCEPT_KEYSTROKES * run
            accepted += run
            position += run
        else:
            typed += len(pieces[position])
            position += 1
    return KeystrokeReplay(typed=typed, plain=len(reference), suggestions=asked, accepted_words=accepted)


def bootstrap_interval(values: Sequence[float], confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """A percentile-bootstrap interval for the mean of ``values``."""
    if not values:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=len(values))) / len(values) for _ in range(BOOTSTRAP_SAMPLES))
    tail = (1 - confidence) / 2
    return means[int(tail * (BOOTSTRAP_SAMPLES - 1))], means[int((1 - tail) * (BOOTSTRAP_SAMPLES - 1))]
