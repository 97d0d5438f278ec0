"""The systems on the same cases, with the same client model and greedy decoding.

- client: the base model on the prefix alone (no adapter, no drafting).
- client-lookup: the base model with prompt-lookup drafting from the text alone (speed).
- client-tuned: the memory adapter, no notes (it must not hurt).
- hybrid: the adapter, with the notes the cloud worker wrote for the prefix in the memory block.
- hybrid-copy: hybrid, decoding that quotes the notes (drafts verified in one batch).
- hybrid-stale: the adapter with notes written for an earlier cut of the document (asynchronous lag).
- rag: the adapter with the top-k retrieved chunks in the same slot, retrieved and evaluated at request time.
- oracle: the adapter with the notes plus the reference itself as one more note: does the model read?

Latency is what the writer would wait at their pause. The client and hybrid prompts
are evaluated before the clock starts, as the product does while the writer types
(prefill at word ends) and when notes arrive (background prefill); RAG pays retrieval
and its whole prompt on the clock, as a synchronous call must.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from client.engine import StopReason, Suggestion, SuggestionEngine
from client.engine.drafts import find_draft
from client.memory.local_memory import LocalNote
from client.memory.memory_block import MemoryBlock, in_prompt_order
from evaluation.cases import EvalCase, earlier_cut, with_oracle_note
from evaluation.cloud_side import EvaluationCloud, Holdout
from evaluation.metrics import bleu, gleu, next_word_exact, replay_keystrokes, rouge_l
from shared.errors import InputError
from shared.protocol import MemoryNote
from shared.settings import Settings


@dataclass(frozen=True)
class SystemSpec:
    memory: str  # none | notes | stale | chunks | oracle
    adapter: bool = True
    copy_from_memory: bool = False
    prompt_lookup: bool = False
    memory_mix: bool = False  # mix each token's prediction with the memory-free one (engine.memory_mix)

    @property
    def engine_key(self) -> tuple[bool, bool, bool, bool]:
        return self.adapter, self.copy_from_memory, self.prompt_lookup, self.memory_mix


SYSTEM_SPECS = {
    "client": SystemSpec("none", adapter=False),
    "client-lookup": SystemSpec("none", adapter=False, prompt_lookup=True),
    "client-tuned": SystemSpec("none"),
    "hybrid": SystemSpec("notes"),
    "hybrid-copy": SystemSpec("notes", copy_from_memory=True),
    "hybrid-mix": SystemSpec("notes", memory_mix=True),
    "hybrid-stale": SystemSpec("stale"),
    "rag": SystemSpec("chunks"),
    "oracle": SystemSpec("oracle"),
    "oracle-copy": SystemSpec("oracle", copy_from_memory=True),
}
SYSTEMS = tuple(SYSTEM_SPECS)
SUGGESTION_TOKENS = 32  # about the reference's length, as in the paper
MEMORY_MIX = 0.5  # hybrid-mix's weight unless engine.memory_mix sets one: chosen on the training split


class OwnDocumentLeak(AssertionError):
    """A case's own document reached its prompt: the evaluation would be scoring a lookup."""


@dataclass
class SystemResult:
    suggestion: str
    rouge_l: float
    bleu: float
    gleu: float
    next_word_exact: bool
    keystroke_savings: float
    first_token_ms: float
    total_ms: float
    evaluated_tokens: int  # prompt tokens evaluated after the writer paused
    prompt_tokens: int
    memory_tokens: int
    replay_suggestions: int
    accepted_words: int
    retrieval_ms: float = 0.0
    drafted_tokens: int = 0
    accepted_draft_tokens: int = 0
    copy_ceiling: float = 0.0  # share of the reference's words that copying from this prompt's notes could supply
    notes: list[str] = field(default_factory=list)
    notes_error: str | None = None
    source_paths: list[str] = field(
        default_factory=list
    )  # what retrieval gave the notes or the prompt: never the case's own


@dataclass
class CaseResult:
    doc_id: str
    reference: str
    systems: dict[str, SystemResult]


@dataclass
class NotesSpent:
    """Memory generation, for the report: how many requests were written now and how long they took."""

    written: int = 0
    cached: int = 0
    seconds: float = 0.0


def check_systems(names: Sequence[str]) -> list[str]:
    unknown = [name for name in names if name not in SYSTEMS]
    if unknown or not names:
        raise InputError(f"Unknown system(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(SYSTEMS)}.")
    return list(dict.fromkeys(names))


def evaluation_engine(settings: Settings, spec: SystemSpec = SYSTEM_SPECS["client"]) -> SuggestionEngine:
    """The client's engine as configured (KV preset, threads), with the evaluation's decoding.

    Longer suggestions than the TUI's (the reference is one or two sentences), and no
    background context: each prompt is evaluated where the runner says, so timing is exact.
    The system says whether the memory adapter is on and which drafts are made.
    """
    engine = settings.engine.model_copy(
        update={
            "max_suggestion_tokens": SUGGESTION_TOKENS,
            "stop_at_sentence_end": False,
            "background_prefill": False,
            "memory_adapter": spec.adapter,
            "copy_from_memory": spec.copy_from_memory,
            "prompt_lookup": spec.prompt_lookup,
            "memory_mix": (settings.engine.memory_mix or MEMORY_MIX) if spec.memory_mix else 0.0,
        }
    )
    return SuggestionEngine(engine, settings.cache_dir)


class EvaluationRunner:
    def __init__(
        self, engines: Callable[[SystemSpec], SuggestionEngine], cloud: EvaluationCloud, systems: Sequence[str]
    ) -> None:
        self.engines = engines
        self.cloud = cloud
        self.systems = check_systems(systems)
        self.notes_spent = NotesSpent()

    def run_case(self, case: EvalCase) -> CaseResult:
        return CaseResult(
            case.doc_id, case.reference, {system: self._run_system(system, case) for system in self.systems}
        )

    def _run_system(self, system: str, case: EvalCase) -> SystemResult:
        spec = SYSTEM_SPECS[system]
        engine = self.engines(spec)
        retrieval_ms, notes_error = 0.0, None
        notes: list[MemoryNote] = []
        sources: list[str] = []
        if spec.memory == "chunks":
            retrieval = self.cloud.retrieve(case)
            retrieval_ms, sources = retrieval.ms, [chunk.path for chunk in retrieval.chunks]
            block = MemoryBlock(
                tuple(LocalNote(f"chunk-{chunk.chunk_id}", 0, chunk.text, ()) for chunk in retrieval.chunks)
            )
        elif spec.memory in ("notes", "stale", "oracle"):
            context = earlier_cut(case.prefix) if spec.memory == "stale" else case.prefix
            notes, notes_error = self._notes(case, context)
            sources = [source.path for note in notes for source in note.sources]
            block = memory_block(notes, self.cloud.settings.client.notes_in_prompt)
            if spec.memory == "oracle":
                placed = with_oracle_note([note.text for note in block.notes], case.reference, case.prefix)
                block = MemoryBlock(tuple(LocalNote(f"oracle-{i}", 0, text, ()) for i, text in enumerate(placed)))
        else:
            block = MemoryBlock()
        if self.cloud.holdout is Holdout.DOCUMENT and self.cloud.document_path(case.doc_id) in sources:
            raise OwnDocumentLeak(f"{case.doc_id} reached the {system} prompt of its own case")
        engine.set_memory(block.text, block.quotes)
        if spec.memory != "chunks":
            engine.prefill(case.prefix)  # done while the writer typed, or when the notes arrived
        first = engine.suggest(case.prefix)
        replay = replay_keystrokes(case.prefix, case.reference, replay_suggester(engine, case, first.text))
        return SystemResult(
            suggestion=first.text,
            rouge_l=rouge_l(first.text, case.reference),
            bleu=bleu(first.text, case.reference),
            gleu=gleu(first.text, case.reference),
            next_word_exact=next_word_exact(first.text, case.reference),
            keystroke_savings=replay.savings,
            first_token_ms=retrieval_ms + (first.first_token_ms or first.total_ms),
            total_ms=retrieval_ms + first.total_ms,
            evaluated_tokens=first.evaluated_tokens,
            prompt_tokens=first.prompt_tokens,
            memory_tokens=first.memory_tokens,
            replay_suggestions=replay.suggestions,
            accepted_words=replay.accepted_words,
            retrieval_ms=retrieval_ms,
            drafted_tokens=first.drafted_tokens,
            accepted_draft_tokens=first.accepted_draft_tokens,
            copy_ceiling=copy_ceiling(
                case.prefix, case.reference, [*(note.text for note in block.notes), *block.quotes]
            ),
            notes=[note.text for note in notes],
            notes_error=notes_error,
            source_paths=sorted(set(sources)),
        )

    def _notes(self, case: EvalCase, context: str) -> tuple[list[MemoryNote], str | None]:
        written = self.cloud.notes_for(case, context)
        self.notes_spent.cached += written.cached
        self.notes_spent.written += not written.cached
        self.notes_spent.seconds += written.seconds
        return written.notes, written.error


def replay_suggester(engine: SuggestionEngine, case: EvalCase, first: str) -> Callable[[str], str]:
    """Suggestions for the keystroke replay, stopped as soon as they leave the reference.

    Words after the first wrong one can never be accepted, so generating them would
    only cost time; the replay's outcome is the same.
    """

    def suggest(text: str) -> str:
        if text == case.prefix:
            return first  # the suggestion already scored above
        wanted = case.reference[len(text) - len(case.prefix) :].split()
        pieces: list[str] = []
        made: Suggestion = engine.suggest(
            text, on_text=pieces.append, should_cancel=lambda: left_the_words("".join(pieces), wanted)
        )
        return "".join(pieces) if made.stop_reason is StopReason.CANCELLED else made.text

    return suggest


def memory_block(notes: Sequence[MemoryNote], notes_in_prompt: int) -> MemoryBlock:
    """The block the client builds from synced notes: by version, then in the writer's order, as MemoryBlockSelector."""
    local = [
        LocalNote(note.note_id, note.version, note.text, tuple(note.sources), arrival=arrival)
        for arrival, note in enumerate(notes)
    ]
    return MemoryBlock(in_prompt_order(local)[:notes_in_prompt])


def copy_ceiling(prefix: str, reference: str, notes: Sequence[str]) -> float:
    """The share of the reference's words a copier could supply from ``notes``, word by word.

    The writer types the reference; wherever the words before the cursor match a note
    (the engine's own draft finder), the words of the draft that agree with the
    reference are taken. What no model can exceed by quoting: it tells a miss from an
    absent answer.
    """
    wanted = reference.split()
    if not notes or not wanted:
        return 0.0
    supplied, at = 0, 0
    while at < len(wanted):
        draft = find_draft(prefix + " ".join(wanted[:at]) + (" " if at else ""), list(notes), 6, 400)
        words = draft.text.split() if draft else []
        agree = 0
        while agree < len(words) and at + agree < len(wanted) and words[agree] == wanted[at + agree]:
            agree += 1
        supplied += agree
        at += max(agree, 1)
    return supplied / len(wanted)


def left_the_words(suggested: str, wanted: list[str]) -> bool:
    """True once ``suggested`` can add nothing to an accepted run: a word went wrong, or all are covered."""
    words = suggested.split()
    complete = words if suggested[-1:].isspace() else words[:-1]
    if complete != wanted[: len(complete)] or len(complete) >= len(wanted):
        return True
    unfinished = words[len(complete) :]
    return bool(unfinished) and not wanted[len(complete)].startswith(unfinished[0])


def timed_run(
    runner: EvaluationRunner, cases: Sequence[EvalCase], on_case: Callable[[int], None] | None = None
) -> tuple[list[CaseResult], float]:
    began = time.perf_counter()
    results = []
    for done, case in enumerate(cases, start=1):
        results.append(runner.run_case(case))
        if on_case:
            on_case(done)
    return results, time.perf_counter() - began
