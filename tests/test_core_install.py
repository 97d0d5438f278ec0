"""A writer's install: the client alone, in a venv of its own, suggests without torch or the cloud."""

import json
import subprocess
from pathlib import Path

import pytest

from scripts.bench_install import CLOUD_ONLY, installed, make_core_venv, wheel_cache
from tests.processes import hermetic_env

pytestmark = pytest.mark.slow
WHEELS = wheel_cache()  # read before the hermetic fixture clears HYBRIDRAG_* variables


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's writer install in a fresh venv, llama-cpp-python from set-up's wheel cache."""
    venv = tmp_path_factory.mktemp("core") / "venv"
    make_core_venv(venv, WHEELS)
    return venv


def test_the_core_install_has_none_of_the_clouds_packages(core_venv: Path) -> None:
    packages = installed(core_venv)
    assert "llama_cpp_python" in packages or "llama-cpp-python" in packages
    assert not packages & set(CLOUD_ONLY)


def test_the_core_install_suggests_with_the_packaged_model(core_venv: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [str(core_venv / "bin" / "hybridrag"), "suggest", "--json", "Python is an easy to learn, powerful programming"],
        capture_output=True,
        text=True,
        timeout=600,
        env=hermetic_env(HYBRIDRAG_CACHE_DIR=str(tmp_path / "cache"), HYBRIDRAG_CONFIG=str(tmp_path / "absent.toml")),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout)["text"].strip()


def test_the_cloud_commands_say_how_to_install_them(core_venv: Path, tmp_path: Path) -> None:
    for command in (["cloud", "serve"], ["eval", "--corpus", "."]):
        run = subprocess.run(
            [str(core_venv / "bin" / "hybridrag"), *command],
            capture_output=True,
            text=True,
            timeout=120,
            env=hermetic_env(HYBRIDRAG_CONFIG=str(tmp_path / "absent.toml")),
        )
        assert run.returncode == 2, run.stdout + run.stderr
        assert f"pip install 'hybridrag[{command[0]}]'" in run.stderr
