"""Evaluating a new prompt start in a spare llama context while suggestions go on.

A new memory block sits before the writer's text, so it invalidates the whole
cached prompt: about 4 s of prefill for 1,000 tokens with a quantized KV cache on 2
cores. Instead a second context (the weights are mmapped, so they are shared)
evaluates ``[BOS][new memory][text]`` in small chunks, and the engine swaps it in
at the next suggestion after it is ready. Suggestions keep the cores: a chunk
starts only when no suggestion is running or waiting, so a suggestion waits at most
for the one chunk in flight.
"""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import llama_cpp

from client.engine.kv_cache import shared_prefix_length, sync_prefix

logger = logging.getLogger(__name__)


class CorePriority:
    """Suggestions first: background chunks run only when no suggestion runs or waits.

    A suggestion may lend its turn between tokens: one waiting chunk runs, then the
    suggestion goes on.
    Without that, a writer who types faster than suggestions finish keeps a suggestion
    running at all times and a new memory block never gets its prefill.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._foreground = 0  # suggestions running or waiting
        self._background_running = False
        self._background_waiting = 0
        self._lent = False  # a running suggestion lets the next waiting chunk go first
        self._chunks_done = 0

    @contextmanager
    def foreground(self) -> Iterator[None]:
        with self._changed:
            self._foreground += 1
            while self._background_running:
                self._changed.wait()
        try:
            yield
        finally:
            with self._changed:
                self._foreground -= 1
                self._changed.notify_all()

    @contextmanager
    def background(self) -> Iterator[None]:
        with self._changed:
            self._background_waiting += 1
            while self._foreground and not self._lent:
                self._changed.wait()
            self._background_waiting -= 1
            self._lent = False
            self._background_running = True
        try:
            yield
        finally:
            with self._changed:
                self._background_running = False
                self._chunks_done += 1
                self._changed.notify_all()

    def lend_turn(self) -> None:
        """From inside ``foreground()``: run one waiting background chunk to its end, if any.

        Not when another suggestion waits (a newer keystroke goes first), so the lender's
        next token waits at most one chunk.
        """
        with self._changed:
            if not self._background_waiting or self._foreground > 1:
                return
            done = self._chunks_done
            self._lent = True
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._chunks_done > done or (self._lent and not self._background_waiting))
            self._lent = False


@dataclass(frozen=True)
class PrefillJob:
    memory_text: str
    memory_tokens: list[int]
    prompt: list[int]  # [BOS][memory][text as it was when the job was made]


ContextT = TypeVar("ContextT", bound=llama_cpp.Llama)  # the engine's own Llama subclass


class BackgroundPrefill(Generic[ContextT]):
    def __init__(self, make_context: Callable[[], ContextT], chunk_tokens: int, priority: CorePriority) -> None:
        self._make_context = make_context
        self._chunk_tokens = chunk_tokens
        self._priority = priority
        self._state = threading.Condition()
        self._spare: ContextT | None = None
        self._job: PrefillJob | None = None  # the newest job; a running job that is no longer it stops
        self._ready: PrefillJob | None = None  # done in the spare context, waiting for the swap
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def spare(self) -> ContextT | None:
        return self._spare

    def submit(self, job: PrefillJob) -> None:
        with self._state:
            if self._closed:
                return
            self._job, self._ready = job, None
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="memory-prefill", daemon=True)
                self._thread.start()
            self._state.notify_all()

    def take_prepared(self, current: ContextT, job: PrefillJob, max_tail: int) -> ContextT | None:
        """The spare context if it holds ``job.prompt`` but for at most ``max_tail`` tokens.

        ``current`` becomes the spare.

        Otherwise the job is (re)submitted for the prompt as it is now: the spare keeps
        what it evaluated so far, so catching up with the writer's newest words is cheap.
        """
        with self._state:
            ready = self._ready
            if (
                ready is not None
                and self._spare is not None
                and ready.memory_text == job.memory_text
                and len(job.prompt) - shared_prefix_length(ready.prompt, job.prompt) <= max_tail
            ):
                spare, self._spare, self._ready, self._job = self._spare, current, None, None
                return spare
            if self._job is None or self._job.prompt != job.prompt:
                self.submit(job)  # the condition's lock is reentrant
            return None

    def wait_ready(self, memory_text: str, timeout_s: float) -> bool:
        with self._state:
            return self._state.wait_for(
                lambda: self._ready is not None and self._ready.memory_text == memory_text, timeout=timeout_s
            )

    def close(self) -> None:
        with self._state:
            self._closed = True
            self._state.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._spare is not None:
            self._spare.close()
            self._spare = None

    def _run(self) -> None:
        try:
            self._serve_jobs()
        except Exception:
            logger.exception("background prefill stopped: memory changes will not reach suggestions")

    def _serve_jobs(self) -> None:
        while True:
            with self._state:
                self._state.wait_for(lambda: self._closed or (self._job is not None and self._ready is not self._job))
                if self._closed:
                    return
                job = self._job
            assert job is not None  # the wait above
            spare = self._spare
            if spare is None:
                spare = self._make_context()  # about 0.3 s: the weights are already mapped
                with self._state:
                    self._spare = spare
            finished = self._prefill(spare, job)
            with self._state:
                if finished and self._job is job:
                    self._ready = job
                    self._state.notify_all()

    def _prefill(self, spare: ContextT, job: PrefillJob) -> bool:
        """Evaluate the job's prompt in the spare context; False if a newer job or close stopped it.

        A newer job for the same block whose prompt still holds the next chunk (the writer
        typed on) does not stop it: every keystroke makes a newer job, and a chunk that
        waited for its turn only to give it up would starve the prefill. The newer job
        then needs only its new words.
        """

        def stop_or_wait() -> bool:
            with self._state:
                newest = self._job
                if self._closed or newest is None:
                    return True
                if newest is job:
                    return False
                next_chunk_end = min(spare.n_tokens + self._chunk_tokens, len(job.prompt))
                return (
                    newest.memory_text != job.memory_text
                    or shared_prefix_length(newest.prompt, job.prompt) < next_chunk_end
                )

        reused = sync_prefix(spare, job.prompt, self._chunk_tokens, stop_or_wait, self._priority.background)
        return reused is not None
