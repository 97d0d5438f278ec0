"""The status bar: memory version and sync state, the last suggestion's latency, the KV mode."""

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from client.engine import Suggestion
from client.sync.memory_sync import SyncState, SyncStatus
from shared.safe_text import terminal_safe

SEPARATOR = "  │  "


@dataclass(frozen=True)
class StatusFacts:
    sync: SyncStatus | None  # None: no cloud memory service set
    notes_switch: str | None  # new notes chosen: "loading" or "ready" (for the next suggestion)
    last_suggestion: Suggestion | None
    kv_mode: str
    pause_ms: float
    saved: bool


def memory_part(sync: SyncStatus | None, notes_switch: str | None) -> Text:
    if sync is None:
        return Text("memory off (hybridrag login URL TOKEN)", style="dim")
    state = {
        SyncState.NEVER: ("not synced yet", "yellow"),
        SyncState.SYNCING: ("syncing…", "cyan"),
        SyncState.SYNCED: (f"synced {_clock(sync.last_sync_at)}", "green"),
        SyncState.OFFLINE: (f"offline since {_clock(sync.offline_since)}", "red"),
        SyncState.REFUSED: (f"refused: {terminal_safe(sync.last_error or '')}", "red bold"),
    }[sync.state]
    part = Text.assemble(f"memory v{sync.version} · {sync.notes} notes · ", state)
    if sync.cloud_indexing is not None:
        indexing = sync.cloud_indexing
        doing = "indexing" if indexing.phase == "embedding" else "reading"
        part.append(f" · cloud {doing} {indexing.files_done:,}/{indexing.files_total:,} files", style="yellow")
    if sync.pending_request:
        part.append(" · asked the cloud", style="cyan")
    if notes_switch:
        part.append(f" · new notes {notes_switch}", style="cyan")
    return part


def latency_part(suggestion: Suggestion | None) -> Text:
    if suggestion is None or suggestion.first_text_ms is None:
        return Text("first token – · total –", style="dim")
    return Text(f"first token {suggestion.first_text_ms:.0f} ms · total {suggestion.total_ms:.0f} ms")


def status_text(facts: StatusFacts) -> Text:
    return Text(SEPARATOR).join(
        [
            memory_part(facts.sync, facts.notes_switch),
            latency_part(facts.last_suggestion),
            Text(f"KV {facts.kv_mode}"),
            Text(f"pause {facts.pause_ms:.0f} ms"),
            Text("saved", style="dim") if facts.saved else Text("unsaved", style="yellow"),
        ]
    )


def _clock(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%H:%M:%S") if moment is not None else "–"


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: $panel; }
    """

    def show(self, facts: StatusFacts) -> None:
        self.update(status_text(facts))
