"""Running the project's programs as real processes in tests, free of the developer's settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def hermetic_env(**settings: str) -> dict[str, str]:
    """This process's environment without any HYBRIDRAG_* variable, plus ``settings``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDRAG_")} | settings


def run_quick_benchmark(
    script: str, out: Path, cache: Path, *options: str
) -> tuple[subprocess.CompletedProcess[str], dict]:
    """``scripts/SCRIPT --quick --out OUT``, as a process free of the developer's settings: (run, its report)."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--quick", *options, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,  # a safety net, generous for a busy machine
        env=hermetic_env(HYBRIDRAG_CACHE_DIR=str(cache), HYBRIDRAG_CONFIG=str(out.parent / "absent-config.toml")),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run, json.loads(out.read_text())
