"""The local suggestion engine: llama.cpp on the CPU with a low-bit KV cache.

One model, one suggestion context, guarded by one lock, so it is safe to call from
UI worker threads. The prompt is ``[BOS][memory block][writer's text]``. The KV
cache is kept between calls: a prompt that extends the previous one evaluates only
its new tokens (Gemma 3's sliding-window layers need the full SWA cache for that).
A new memory block is evaluated in a spare context in the background and swapped
in when ready (background_prefill.py). Every new request supersedes the one in
flight, which stops within one token.
"""

from __future__ import annotations

import codecs
import ctypes
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import numpy as np

from client.engine.adapter_file import adapter_for
from client.engine.background_prefill import BackgroundPrefill, CorePriority, PrefillJob
from client.engine.drafts import Draft, DraftSource, at_sentence_start, find_draft, notes_of
from client.engine.incremental_tokenizer import IncrementalTokenizer, cuts_are_token_stable
from client.engine.kv_cache import (
    decode_with_logits,
    kv_bytes_per_token,
    llama_kv_options,
    log_softmax,
    sync_prefix,
)
from client.engine.merged_adapter import model_and_lora
from client.engine.suggestion_boundary import BoundaryRules, StopReason, SuggestionBoundary
from client.engine.token_healing import Vocabulary, healing_step, split_unfinished_word
from shared.errors import InputError
from shared.llama_loading import load_llama
from shared.model_files import check_gguf, default_gguf_path
from shared.settings import EngineSettings, KVPreset, Settings

TextCallback = Callable[[str], None]
DRAFT_MAX_CHARS = 160  # a draft runs at most this far, and to its sentence's end
FIRST_TEXT_DRAFT_TOKENS = 4  # a draft from the writer's text starts this short: a rejected tail costs its batch
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class Suggestion:
    """A finished suggestion and what it cost."""

    text: str
    stop_reason: StopReason
    healed: str  # the unfinished word the model re-spelled before continuing ("" if none)
    prompt_tokens: int
    memory_tokens: int  # of the prompt, the memory block's
    reused_tokens: int  # prompt tokens whose KV was already cached
    evaluated_tokens: int  # prompt tokens this call sent through the model
    generated_tokens: int
    first_token_ms: float | None  # request to first generated token (None if none came)
    first_text_ms: float | None  # request to first visible text (later if healing re-spelled a whole word)
    total_ms: float
    kv_preset: KVPreset
    drafted_tokens: int = 0  # tokens drafted from the notes or the text and verified in batches
    accepted_draft_tokens: int = 0  # of them, those the suggestion took


def require_text(text: str | None) -> str:
    """Refuse text with nothing to continue; the text itself when there is some."""
    if text is None or not text.strip():
        raise InputError("Nothing to continue: the text is empty or only white space. Give some text first.")
    return text


def _token_pieces(vocab: llama_cpp.llama_vocab_p, n_vocab: int) -> list[bytes]:
    """Every token's text as bytes (empty for control tokens)."""
    buffer = ctypes.create_string_buffer(256)
    pieces = []
    for token in range(n_vocab):
        length = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, False)
        pieces.append(buffer.raw[: max(length, 0)])
    return pieces


class _CountingLlama(llama_cpp.Llama):
    """A Llama that counts the tokens it decodes: the proof that prefixes are reused."""

    decoded_tokens = 0

    def eval(self, tokens) -> None:
        self.decoded_tokens += len(tokens)
        super().eval(tokens)


class SuggestionEngine:
    """Continues the writer's text with a few words, fast, from a warm KV cache."""

    def __init__(self, settings: EngineSettings, cache_dir: Path) -> None:
        self.settings = settings
        self.model_path = check_gguf(settings.model_path) if settings.model_path else default_gguf_path(cache_dir)
        self.adapter_path = adapter_for(settings)
        # Merged into the weights (once, cached) unless asked to apply it at run time: then it costs nothing.
        self.model_path, self.lora_path = model_and_lora(self.model_path, self.adapter_path, settings, cache_dir)
        self._llm = self._new_context()
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        self._closed = False
        # About 0.5 s: better at load than on the writer's first keystroke.
        pieces = self._pieces = _token_pieces(self._vocab, self._llm.n_vocab())
        self._vocabulary = Vocabulary(pieces) if settings.token_healing else None
        is_spm = llama_cpp.llama_vocab_type(self._vocab) == llama_cpp.LLAMA_VOCAB_TYPE_SPM
        self._tokenizer = IncrementalTokenizer(
            lambda piece: self._llm.tokenize(piece.encode("utf-8"), add_bos=False, special=False),
            bos=self._llm.tokenize(b"", add_bos=True, special=False),  # what this model prepends, if anything
            cuts_are_safe=cuts_are_token_stable(is_spm, pieces),
        )
        self._bos_length = len(self._llm.tokenize(b"", add_bos=True, special=False))
        self._model_lock = threading.Lock()
        self._request_lock = threading.Lock()
        self._latest_request = 0
        self.kv_bytes_per_token = kv_bytes_per_token(self._llm.metadata, settings.kv_preset)
        # The memory block: the one the suggestion context holds, and the one asked for.
        self._memory_lock = threading.Lock()
        self._active_memory: tuple[str, list[int]] = ("", [])
        self._wanted_memory: tuple[str, list[int]] = ("", [])
        self._quotes: tuple[str, ...] = ()  # drafted from beside the notes; never in the prompt
        self._last_text_tokens: list[int] = []  # the writer's text as last suggested from, after BOS
        self._priority = CorePriority()
        self._prefill = BackgroundPrefill(self._new_context, settings.background_chunk_tokens, self._priority)
        # The writer's text without the memory block, decoded in step (memory_mix); None when not mixing.
        self._memory_free = self._new_context() if settings.memory_mix > 0 else None

    def _new_context(self) -> _CountingLlama:
        return load_llama(
            self.model_path,
            _CountingLlama,
            n_ctx=self.settings.n_ctx,
            n_batch=self.settings.n_batch,
            **llama_kv_options(self.settings.kv_preset, self.settings.n_threads),
            **({"lora_path": str(self.lora_path), "lora_scale": self.settings.adapter_scale} if self.lora_path else {}),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> SuggestionEngine:
        return cls(settings.engine, settings.cache_dir)

    @property
    def kv_preset(self) -> KVPreset:
        return self.settings.kv_preset

    @property
    def decoded_tokens(self) -> int:
        """Tokens decoded since load (prompt and generated), in both contexts."""
        spare = self._prefill.spare
        return self._llm.decoded_tokens + (spare.decoded_tokens if spare is not None else 0)

    @property
    def active_memory(self) -> str:
        """The memory block suggestions are made with now (the wanted one may still be prefilling)."""
        return self._active_memory[0]

    def set_memory(self, block: str, quotes: Sequence[str] = ()) -> None:
        """Put ``block`` before the writer's text from now on, and draft from its notes and ``quotes``.

        With background prefill on, suggestions go on with the old block until the new
        prompt is evaluated in the spare context; otherwise the next suggestion pays
        for re-evaluating the prompt. Quotes (verbatim sentences the cloud sent beside
        the notes) are not in the prompt, so they are used at once.
        """
        self._quotes = tuple(quotes)
        tokens = self._llm.tokenize(block.encode("utf-8"), add_bos=False, special=False) if block else []
        with self._memory_lock:
            if self._wanted_memory[0] == block:
                return
            self._wanted_memory = (block, tokens)
            text_tokens = self._last_text_tokens
        if self.settings.background_prefill and block != self._active_memory[0]:
            rules = self._boundary_rules()
            prompt = self._fit_window(self._bos() + text_tokens, tokens, rules)
            self._prefill.submit(PrefillJob(block, tokens, prompt))

    def wait_for_memory(self, timeout_s: float) -> bool:
        """True once the wanted memory block can be used without a foreground prefill."""
        block = self._wanted_memory[0]
        if block == self._active_memory[0] or not self.settings.background_prefill:
            return True
        return self._prefill.wait_ready(block, timeout_s)

    def tokenize(self, text: str) -> list[int]:
        """The tokens of ``text`` after BOS, re-tokenizing only what changed since earlier calls."""
        return self._tokenizer.tokenize(text)

    def cancel(self) -> None:
        """Stop the suggestion in flight (it ends within one token)."""
        self._next_request()

    def suggest(
        self,
        text: str,
        *,
        max_tokens: int | None = None,
        stop_at_sentence_end: bool | None = None,
        on_text: TextCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Suggestion:
        """Continue ``text``; stream accepted pieces to ``on_text`` as they come.

        The returned ``Suggestion.text`` is authoritative: in the rare case that a word
        cut by the token limit does not finish in time, its streamed part is dropped.
        """
        require_text(text)
        started = time.perf_counter()
        request = self._next_request()

        def cancelled() -> bool:
            return self._latest_request != request or bool(should_cancel and should_cancel())

        rules = self._boundary_rules(max_tokens, stop_at_sentence_end)
        boundary = SuggestionBoundary(rules)
        drafts = DraftStats()
        with self._priority.foreground(), self._model_lock:
            prompt, memory_tokens, healed = self._prompt_for(text, rules)
            decoded_before = self._llm.decoded_tokens
            reused = sync_prefix(self._llm, prompt, self.settings.prefill_chunk_tokens, cancelled)
            if reused is not None and not self._sync_memory_free(prompt, memory_tokens, cancelled):
                reused = None
            evaluated = self._llm.decoded_tokens - decoded_before
            first_token_ms = first_text_ms = None
            if reused is None:
                boundary.end(StopReason.CANCELLED)
            else:
                first_token_ms, first_text_ms = self._generate(
                    text, healed, boundary, on_text, cancelled, started, drafts
                )
        return Suggestion(
            text=boundary.text,
            stop_reason=boundary.stop_reason or StopReason.LENGTH,
            healed=healed.decode("utf-8", errors="replace"),
            prompt_tokens=len(prompt),
            memory_tokens=len(memory_tokens),
            reused_tokens=reused or 0,
            evaluated_tokens=evaluated,
            generated_tokens=boundary.tokens,
            first_token_ms=first_token_ms,
            first_text_ms=first_text_ms,
            total_ms=(time.perf_counter() - started) * 1000,
            kv_preset=self.kv_preset,
            drafted_tokens=drafts.drafted,
            accepted_draft_tokens=drafts.accepted,
        )

    def prefill(self, text: str, should_cancel: CancelCheck | None = None) -> int:
        """Evaluate the prompt for ``text`` without suggesting; how many tokens that took.

        Called while the writer types (at word ends): when they pause, only the last
        word or two are left to evaluate, so the first token comes at decode speed. A
        newer request or ``should_cancel`` stops it between chunks; what it evaluated
        stays cached.
        """
        if not text.strip():
            return 0
        request = self._next_request()

        def cancelled() -> bool:
            return self._latest_request != request or bool(should_cancel and should_cancel())

        with self._priority.foreground(), self._model_lock:
            if cancelled():
                return 0
            prompt, memory_tokens, _ = self._prompt_for(text, self._boundary_rules())
            decoded_before = self._llm.decoded_tokens
            if sync_prefix(self._llm, prompt, self.settings.prefill_chunk_tokens, cancelled) is not None:
                self._sync_memory_free(prompt, memory_tokens, cancelled)
            return self._llm.decoded_tokens - decoded_before

    def _prompt_for(self, text: str, rules: BoundaryRules) -> tuple[list[int], list[int], bytes]:
        """(prompt, its memory tokens, the unfinished word the model re-spells); under the model lock."""
        if self._closed:
            raise RuntimeError("This suggestion engine was closed; create a new one.")
        tokens, healed = self.tokenize(text), b""
        if self._vocabulary is not None:
            tokens, healed = split_unfinished_word(tokens, self._vocabulary, self.settings.max_healing_tokens)
        memory_tokens = self._memory_for_this_suggestion(tokens, rules)
        self._last_text_tokens = tokens[self._bos_length :]
        return self._fit_window(tokens, memory_tokens, rules), memory_tokens, healed

    def close(self) -> None:
        self._prefill.close()
        with self._model_lock:
            self._closed = True
            self._llm.close()
            if self._memory_free is not None:
                self._memory_free.close()

    # -- internals --------------------------------------------------------------

    def _last_logits(self, llm: llama_cpp.Llama | None = None) -> np.ndarray:
        llm = llm or self._llm
        pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),))

    def _sync_memory_free(self, prompt: list[int], memory_tokens: list[int], cancelled: CancelCheck) -> bool:
        """Bring the memory-free context to ``prompt`` without its memory block; False if cancelled."""
        if self._memory_free is None or not memory_tokens:
            return True
        without = prompt[: self._bos_length] + prompt[self._bos_length + len(memory_tokens) :]
        return sync_prefix(self._memory_free, without, self.settings.prefill_chunk_tokens, cancelled) is not None

    def _mixed(self, with_memory: np.ndarray) -> np.ndarray:
        """Log-probabilities mixed with the memory-free context's (memory_mix), as one row to choose from."""
        assert self._memory_free is not None
        weight = self.settings.memory_mix
        without = self._last_logits(self._memory_free)
        return (1 - weight) * log_softmax(with_memory) + weight * log_softmax(without)

    def _next_request(self) -> int:
        with self._request_lock:
            self._latest_request += 1
            return self._latest_request

    def _boundary_rules(self, max_tokens: int | None = None, stop_at_sentence_end: bool | None = None) -> BoundaryRules:
        return BoundaryRules(
            max_tokens=max_tokens or self.settings.max_suggestion_tokens,
            word_completion_tokens=self.settings.word_completion_tokens,
            stop_at_sentence_end=self.settings.stop_at_sentence_end
            if stop_at_sentence_end is None
            else stop_at_sentence_end,
            stop_at_newline=self.settings.stop_at_newline,
        )

    def _bos(self) -> list[int]:
        return self.tokenize("")[: self._bos_length]

    def _memory_for_this_suggestion(self, tokens: list[int], rules: BoundaryRules) -> list[int]:
        """The memory block's tokens, switching to the wanted block when that costs no stall.

        Called under the model lock. With background prefill, the switch happens when
        the spare context holds the new prompt but for a chunk or so: the contexts
        swap. Until then suggestions use the old block, and the spare keeps catching
        up with the writer's text.
        """
        with self._memory_lock:
            wanted = self._wanted_memory
        if wanted[0] != self._active_memory[0]:
            if not self.settings.background_prefill:
                self._active_memory = wanted
            else:
                job = PrefillJob(wanted[0], wanted[1], self._fit_window(tokens, wanted[1], rules))
                prepared = self._prefill.take_prepared(self._llm, job, self.settings.background_chunk_tokens)
                if prepared is not None:
                    self._llm, self._active_memory = prepared, wanted
        return self._active_memory[1]

    def _fit_window(self, tokens: list[int], memory_tokens: list[int], rules: BoundaryRules) -> list[int]:
        """``[BOS][memory][text]``, dropping the oldest text when it outgrows the window, in fixed steps.

        The memory block is pinned: only the writer's text is cut. Dropping in steps of
        ``context_shift_tokens`` keeps the prompt's start the same from one keystroke
        to the next, so the cached prefix stays usable in between.
        """
        bos, text = tokens[: self._bos_length], tokens[self._bos_length :]
        budget = self._llm.n_ctx() - rules.max_tokens - rules.word_completion_tokens - 1 - len(bos) - len(memory_tokens)
        if budget <= 0:
            raise InputError(
                f"The memory block ({len(memory_tokens)} tokens) leaves no room for text in the "
                f"{self._llm.n_ctx()}-token "
                "window: lower client.notes_in_prompt or raise engine.n_ctx."
            )
        if len(text) > budget:
            step = self.settings.context_shift_tokens
            text = text[math.ceil((len(text) - budget) / step) * step :]
        return bos + memory_tokens + text

    def _generate(
        self,
        text: str,
        healed: bytes,
        boundary: SuggestionBoundary,
        on_text: TextCallback | None,
        cancelled: CancelCheck,
        started: float,
        drafts: DraftStats,
    ) -> tuple[float | None, float | None]:
        """Greedy decoding from the synced prompt until the boundary says stop; drafts verified in one batch.

        The first tokens re-spell ``healed`` (the unfinished word cut off the prompt);
        only what they add beyond it joins the suggestion. Where the words before the
        cursor match a note (or the writer's earlier text), the words that follow there
        are a draft: one batch checks it against the model, and the accepted tokens are
        taken at once (drafts.py). A run of tokens the suggestion already said ends it
        (greedy decoding of a small model loops). Returns the times to the first token
        and to the first visible text.
        """
        llm = self._llm
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        times: list[float | None] = [None, None]  # first token, first text
        remaining = healed
        generated: list[int] = []
        text_before: list[int] = []  # len(boundary.text) before each generated token
        logits: np.ndarray | None = None  # the row to choose from; None: the context's last
        notes = [*notes_of(self._active_memory[0]), *self._quotes] if self.settings.copy_from_memory else []
        earlier = text if self.settings.prompt_lookup else ""
        tried_at = -1
        text_budget = FIRST_TEXT_DRAFT_TOKENS  # tokens a draft from the writer's own text may run
        memory_free = self._memory_free if self._active_memory[1] else None  # mixing: decoded in step

        def emit(token: int, piece: bytes) -> bool:
            """Add one token to the suggestion; True when the suggestion is complete."""
            if self._repeats(generated, token):
                boundary.cut(text_before[len(generated) - self.settings.loop_ngram_tokens + 1], StopReason.LOOP)
                return True
            generated.append(token)
            text_before.append(len(boundary.text))
            now = (time.perf_counter() - started) * 1000
            times[0] = times[0] or now
            accepted = boundary.push(utf8.decode(piece))
            if accepted:
                times[1] = times[1] or now
                if on_text is not None:
                    on_text(accepted)
            return boundary.done

        while True:
            row = self._last_logits() if logits is None else logits
            if memory_free is not None:
                row = logits = self._mixed(row)
            if (notes or earlier) and tried_at != len(generated):
                tried_at = len(generated)
                draft = find_draft(
                    text + boundary.text,
                    notes,
                    self.settings.draft_min_match_chars,
                    DRAFT_MAX_CHARS,
                    earlier,
                    to_sentence_end=boundary.rules.stop_at_sentence_end,
                )
                if (
                    draft is None
                    and not generated
                    and notes
                    and self.settings.quote_at_sentence_start
                    and at_sentence_start(text)
                ):
                    row = logits = row.copy()  # scoring decodes: llama.cpp's logits buffer is overwritten
                    draft = self._sentence_start_quote(text, notes, remaining, row)
                budget = self.settings.draft_max_tokens
                if draft is not None and draft.source is DraftSource.TEXT:
                    budget = text_budget
                budget = min(budget, boundary.tokens_left)  # verifying what the suggestion cannot take is waste
                tokens = self._draft_tokens(draft, remaining, row, budget) if draft is not None else None
                if draft is not None and tokens is not None:
                    taken, remaining_after = self._new_text(tokens, remaining)
                    # The first token is the model's own choice on the logits at hand: shown at once, so
                    # drafting never delays the first token; the batch below checks the rest.
                    if self._emit_all(taken[:1], emit, cancelled, boundary):
                        break
                    accepted, logits = self._verify_rest(tokens, draft.source, drafts)
                    if memory_free is not None:  # verified by the memory context; the other follows
                        memory_free.eval(tokens[:accepted])
                    remaining = remaining_after[accepted - 1]
                    if draft.source is DraftSource.TEXT:  # a speculative draft grows only while it is taken whole
                        text_budget = min(self.settings.draft_max_tokens, 2 * budget) if accepted == len(tokens) else 4
                    if self._emit_all(taken[1:accepted], emit, cancelled, boundary):
                        break
                    continue
            if remaining and self._vocabulary is not None:
                token, piece, remaining = healing_step(row, self._vocabulary, remaining)
            else:
                token = int(np.argmax(row))
                if llama_cpp.llama_vocab_is_eog(self._vocab, token) or llama_cpp.llama_vocab_is_control(
                    self._vocab, token
                ):
                    boundary.end(StopReason.END_OF_TEXT)
                    break
                piece = self._pieces[token]
            if emit(token, piece):
                break
            if cancelled():
                boundary.end(StopReason.CANCELLED)
                break
            if llm.n_tokens + 1 >= llm.n_ctx():
                boundary.end(StopReason.CONTEXT_FULL)
                break
            if times[1] is not None and self.settings.suggestions_lend_to_prefill:
                self._priority.lend_turn()  # between tokens, once the writer sees the suggestion's start
            llm.eval([token])
            if memory_free is not None:
                memory_free.eval([token])
            logits = None
        return times[0], times[1]

    @staticmethod
    def _emit_all(
        tokens: list[tuple[int, bytes]],
        emit: Callable[[int, bytes], bool],
        cancelled: CancelCheck,
        boundary: SuggestionBoundary,
    ) -> bool:
        """Emit a verified draft token by token, as if decoded one at a time; True when the suggestion ended."""
        for token, piece in tokens:
            if emit(token, piece):
                return True
            if cancelled():
                boundary.end(StopReason.CANCELLED)
                return True
        return False

    def _repeats(self, generated: list[int], token: int) -> bool:
        """True when ``token`` completes a run of ``loop_ngram_tokens`` the suggestion already holds."""
        n = self.settings.loop_ngram_tokens
        if not n or len(generated) < n:
            return False
        run = (*generated[len(generated) - n + 1 :], token)
        return any(tuple(generated[i : i + n]) == run for i in range(len(generated) - n + 1))

    def _draft_tokens(self, draft: Draft, remaining: bytes, row: np.ndarray, budget: int) -> list[int] | None:
        """The draft's tokens (the unfinished word re-spelled first), or None when its first is not taken.

        The first token is checked on the logits at hand, so a draft rejected there
        costs nothing.
        """
        llm = self._llm
        room = llm.n_ctx() - llm.n_tokens - 2
        tokens = llm.tokenize(remaining + draft.text.encode("utf-8"), add_bos=False, special=False)
        tokens = tokens[: min(budget, room)]
        if not tokens or not _acceptable(row, tokens[0], self._draft_min_probability(draft.source)):
            return None
        return tokens

    def _sentence_start_quote(self, text: str, notes: list[str], remaining: bytes, row: np.ndarray) -> Draft | None:
        """At a sentence start (the caller checks), the note the model finds likeliest next, if likely enough.

        Nothing of the new sentence is typed, so no note can match. Each candidate's first
        ``quote_score_tokens`` are evaluated in one batch after the prompt (then dropped),
        and the note whose tokens have the highest mean log-probability is the draft, if
        that mean reaches ``quote_min_logprob``. The first token alone does not tell notes
        apart (many begin with "The"); a few tokens do.
        """
        settings, llm = self.settings, self._llm
        first_logprobs = log_softmax(row)
        scored = []
        for note in dict.fromkeys(notes):
            tokens = llm.tokenize(remaining + note.encode("utf-8"), add_bos=False, special=False)
            tokens = tokens[: settings.quote_score_tokens]
            if len(tokens) >= 2:
                scored.append((float(first_logprobs[tokens[0]]), note, tokens))
        scored.sort(key=lambda item: item[0], reverse=True)
        best_mean, best_note = settings.quote_min_logprob, None
        for first, note, tokens in scored[: settings.quote_candidates]:
            if first < best_mean * len(tokens) or llm.n_tokens + len(tokens) >= llm.n_ctx():
                continue  # even certain later tokens could not lift its mean above the best
            rows = self._eval_all(tokens[:-1])
            llm.n_tokens -= len(tokens) - 1  # scored only: the next eval overwrites this KV
            later = log_softmax(rows)[np.arange(len(tokens) - 1), tokens[1:]]
            mean = (first + float(later.sum())) / len(tokens)
            if mean >= best_mean:
                best_mean, best_note = mean, note
        return Draft(best_note, DraftSource.MEMORY, 0) if best_note is not None else None

    def _draft_min_probability(self, source: DraftSource) -> float | None:
        """A note's token is taken when it is the model's own choice or at least ``copy_min_probability``
        likely (quoting); a token from the writer's text only when it is the model's choice (speed alone)."""
        return self.settings.copy_min_probability if source is DraftSource.MEMORY else None

    def _new_text(self, tokens: list[int], remaining: bytes) -> tuple[list[tuple[int, bytes]], list[bytes]]:
        """Each token with the text it adds past the unfinished word, and what is left of that word after it."""
        taken, left, at = [], [], 0
        for token in tokens:
            piece = self._pieces[token]
            taken.append((token, piece[max(0, len(remaining) - at) :]))
            at += len(piece)
            left.append(remaining[at:])
        return taken, left

    def _verify_rest(self, tokens: list[int], source: DraftSource, drafts: DraftStats) -> tuple[int, np.ndarray]:
        """Evaluate the draft in one batch; how many of its tokens are taken, and the logits after the last."""
        rows = self._eval_all(tokens)
        min_p = self._draft_min_probability(source)
        accepted = 1
        while accepted < len(tokens) and _acceptable(rows[accepted - 1], tokens[accepted], min_p):
            accepted += 1
        self._llm.n_tokens -= len(tokens) - accepted  # the rejected tail's KV is dropped by the next eval
        drafts.drafted += len(tokens)
        drafts.accepted += accepted
        return accepted, rows[accepted - 1].copy()  # the one row kept past the next decode

    def _eval_all(self, tokens: list[int]) -> np.ndarray:
        """Evaluate ``tokens`` after the cached ones in one batch; the logits after each (rows).

        The rows are llama.cpp's buffer, valid until the next decode: copying all of them
        (1 MB a row) would cost a few ms per batch, so callers copy what they keep.
        """
        rows = decode_with_logits(self._llm, tokens)
        self._llm.decoded_tokens += len(tokens)
        return rows


@dataclass
class DraftStats:
    drafted: int = 0  # draft tokens sent to verification
    accepted: int = 0  # of them, taken into the suggestion


def _acceptable(logits: np.ndarray, token: int, min_probability: float | None) -> bool:
    best = int(np.argmax(logits))
    if token == best or min_probability is None:
        return token == best
    shifted = np.exp(logits - logits[best])
    return float(shifted[token] / shifted.sum()) >= min_probability
