"""What the assistant and the TUI need of an engine: the real one, or a scripted one in tests.

``SuggestionEngine`` is the one implementation the product ships. The protocol lets
the TUI's layout and snapshot tests run on a scripted engine that needs no model, while
the behaviour tests keep the real one.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from shared.settings import EngineSettings, KVPreset

if TYPE_CHECKING:
    from client.engine.suggestion_engine import CancelCheck, Suggestion, TextCallback


class Engine(Protocol):
    settings: EngineSettings

    @property
    def kv_preset(self) -> KVPreset: ...

    @property
    def active_memory(self) -> str:
        """The memory block suggestions are made with now."""
        ...

    def set_memory(self, block: str, quotes: Sequence[str] = ()) -> None: ...

    def wait_for_memory(self, timeout_s: float) -> bool:
        """True once the wanted memory block can be used without a foreground prefill."""
        ...

    def suggest(
        self,
        text: str,
        *,
        max_tokens: int | None = None,
        stop_at_sentence_end: bool | None = None,
        on_text: "TextCallback | None" = None,
        should_cancel: "CancelCheck | None" = None,
    ) -> "Suggestion": ...

    def prefill(self, text: str, should_cancel: "CancelCheck | None" = None) -> int: ...
