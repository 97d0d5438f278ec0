"""schemathesis against the served OpenAPI spec: about 1,000 generated requests, no 5xx, the server stays up."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT, hermetic_env

pytestmark = pytest.mark.slow


def test_a_thousand_generated_requests_get_no_server_error(tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz_cloud.py"), "--max-examples", "350", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=hermetic_env(HYBRIDRAG_CONFIG=str(tmp_path / "absent.toml")),
    )
    result = json.loads(out.read_text())
    assert run.returncode == 0, result["summary"]
    assert result["test_cases"] >= 1000 and result["no_issues"] and result["healthy_after"]
