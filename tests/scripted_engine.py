"""An engine that needs no model: it continues every text with the words a test scripts.

For the TUI's layout and snapshot tests, whose subject is the screen, not the model
(client/engine/engine_protocol.py). Suggestions stream word by word and honour
cancellation as the real engine's do; the behaviour tests keep the real engine.
"""

from collections.abc import Callable, Sequence

from client.engine import StopReason, Suggestion
from client.engine.suggestion_engine import CancelCheck, TextCallback
from shared.settings import EngineSettings, KVPreset


class ScriptedEngine:
    def __init__(self, continue_text: Callable[[str], str] = lambda text: " and more words.") -> None:
        self.settings = EngineSettings(background_prefill=False)
        self._continue_text = continue_text
        self._memory = ""
        self.suggested: list[str] = []  # the texts it was asked to continue, in order

    @property
    def kv_preset(self) -> KVPreset:
        return self.settings.kv_preset

    @property
    def active_memory(self) -> str:
        return self._memory

    def set_memory(self, block: str, quotes: Sequence[str] = ()) -> None:
        self._memory = block

    def wait_for_memory(self, timeout_s: float) -> bool:
        return True

    def suggest(
        self,
        text: str,
        *,
        max_tokens: int | None = None,
        stop_at_sentence_end: bool | None = None,
        on_text: TextCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Suggestion:
        self.suggested.append(text)
        words = self._continue_text(text).split(" ")
        pieces = [(" " if i else "") + word for i, word in enumerate(words)]
        shown, stop = "", StopReason.SENTENCE
        for piece in pieces:
            if should_cancel is not None and should_cancel():
                stop = StopReason.CANCELLED
                break
            shown += piece
            if on_text is not None and piece:
                on_text(piece)
        return Suggestion(
            text=shown,
            stop_reason=stop,
            healed="",
            prompt_tokens=len(text.split()),
            memory_tokens=len(self._memory.split()),
            reused_tokens=0,
            evaluated_tokens=len(text.split()),
            generated_tokens=len(pieces),
            first_token_ms=1.0,
            first_text_ms=1.0,
            total_ms=1.0,
            kv_preset=self.kv_preset,
        )

    def prefill(self, text: str, should_cancel: CancelCheck | None = None) -> int:
        return 0

    def close(self) -> None:
        pass
