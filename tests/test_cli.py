"""The hybridrag command, run as a person runs it."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.processes import hermetic_env


def hybridrag(
    *args: str, cache: Path, stdin: str | None = None, timeout_s: float = 300, **env: Any
) -> subprocess.CompletedProcess[str]:
    environment = hermetic_env(
        **({"HYBRIDRAG_CACHE_DIR": str(cache), "HYBRIDRAG_CONFIG": str(cache / "absent.toml")} | env)
    )
    return subprocess.run(
        [sys.executable, "-m", "client.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout_s,  # a safety net for a hung process, generous for a busy machine
    )


@pytest.mark.slow
def test_suggest_prints_a_continuation_and_its_timings(model_cache: Path) -> None:
    run = hybridrag("suggest", "--json", "--kv", "q8", "The Python standard library is", cache=model_cache)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["text"].strip() and result["kv_preset"] == "q8"
    assert result["prompt_tokens"] == result["reused_tokens"] + result["evaluated_tokens"]
    assert run.stderr.strip() == ""  # no llama.cpp chatter in the writer's terminal


@pytest.mark.slow
def test_text_can_come_from_standard_input(model_cache: Path) -> None:
    run = hybridrag("suggest", "--json", "--file", "-", cache=model_cache, stdin="The os module provides")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["prompt_tokens"] >= 4


def test_version(tmp_path: Path) -> None:
    run = hybridrag("--version", cache=tmp_path)
    assert run.returncode == 0 and run.stdout.startswith("hybridrag ")


@pytest.mark.slow
def test_sample_from_the_corpus_streams_a_suggestion(model_cache: Path) -> None:
    run = hybridrag("suggest", "--sample", "--max-tokens", "8", cache=model_cache)
    assert run.returncode == 0, run.stderr
    assert "first token" in run.stdout and "q8q4" in run.stdout


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["suggest", "   "], {}, "Nothing to continue"),
        (["suggest"], {}, "exactly one of"),
        (["suggest", "hi"], {"HYBRIDRAG_ENGINE__MODEL_PATH": "/no/such/model.gguf"}, "Model file not found"),
        (["suggest", "hi"], {"HYBRIDRAG_ENGINE__KV_PRESET": "q3"}, "HYBRIDRAG_ENGINE__KV_PRESET"),
        (["suggest", "--file", "/no/such/draft.txt"], {}, "No such file"),
    ],
)
def test_mistakes_get_one_actionable_line(args: list[str], env: dict[str, Any], expected: str, tmp_path: Path) -> None:
    run = hybridrag(*args, cache=tmp_path, **env)
    assert run.returncode == 2
    assert expected in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_corrupt_model_is_one_line_too(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x07" * 4096)
    run = hybridrag("suggest", "hi", cache=tmp_path, HYBRIDRAG_ENGINE__MODEL_PATH=str(corrupt))
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert "corrupt.gguf" in run.stderr and "corrupt or truncated" in run.stderr


def test_unknown_preset_flag_lists_the_choices(tmp_path: Path) -> None:
    run = hybridrag("suggest", "--kv", "q3", "hi", cache=tmp_path)
    assert run.returncode == 2
    assert "q8q4" in run.stderr
