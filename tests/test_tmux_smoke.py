"""The real TUI in a real terminal: scripts/tmux_smoke.sh, as CI runs it."""

import subprocess
from pathlib import Path

import pytest

from tests.processes import ROOT, hermetic_env

pytestmark = pytest.mark.slow


def test_tmux_smoke_ghost_text_accept_save_and_restore_after_kill(client_cache: Path) -> None:
    run = subprocess.run(
        [str(ROOT / "scripts" / "tmux_smoke.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        env=hermetic_env(HYBRIDRAG_CACHE_DIR=str(client_cache)),
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "tmux_smoke: ok" in run.stdout
