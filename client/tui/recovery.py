"""Unsaved text kept in a recovery file, so a crash, a kill or a closed terminal loses nothing.

One recovery file per edited file (or one for untitled text), written whole and
atomically: after a kill it holds the text of the last autosave, never half of one.
Saving the file, or discarding the recovered text, deletes it.
"""

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shared.durable_files import replace_atomically

UNTITLED = "untitled"


@dataclass(frozen=True)
class RecoveredText:
    text: str
    saved_at: datetime
    file: Path | None


class RecoveryFile:
    def __init__(self, folder: Path, file: Path | None) -> None:
        self.file = file.resolve() if file is not None else None
        name = (
            UNTITLED
            if self.file is None
            else (f"{self.file.name}.{hashlib.sha256(str(self.file).encode()).hexdigest()[:16]}")
        )
        self.path = folder / f"{name}.recovery.json"
        self._lock = threading.Lock()  # autosaves run on worker threads

    def write(self, text: str) -> None:
        record = {
            "file": str(self.file) if self.file else None,
            "saved_at": datetime.now(UTC).isoformat(),
            "text": text,
        }
        with self._lock:
            replace_atomically(self.path, lambda partial: partial.write_text(json.dumps(record), encoding="utf-8"))

    def read(self) -> RecoveredText | None:
        """The autosaved text, or None if there is none (or it cannot be read: then it is left for a person)."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            return RecoveredText(
                text=str(record["text"]),
                saved_at=datetime.fromisoformat(record["saved_at"]),
                file=Path(record["file"]) if record.get("file") else None,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def discard(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)
