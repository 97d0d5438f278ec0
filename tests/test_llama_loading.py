"""Loading a model leaves the process's output alone: a TUI draws while a context loads in a thread."""

import os
import threading
import time
from pathlib import Path

import llama_cpp
import pytest

from shared.llama_loading import load_llama
from shared.model_files import default_gguf_path


def test_output_written_while_a_model_loads_is_not_lost(model_cache: Path, capfd: pytest.CaptureFixture[str]) -> None:
    loaded: list[llama_cpp.Llama] = []
    loader = threading.Thread(
        target=lambda: loaded.append(load_llama(default_gguf_path(model_cache), llama_cpp.Llama, n_ctx=256))
    )
    loader.start()
    written = 0
    while loader.is_alive() or written < 3:  # a few lines before, during and after the load
        os.write(1, f"frame {written}\n".encode())
        written += 1
        time.sleep(0.002)
    loader.join()
    loaded[0].close()
    shown = capfd.readouterr().out
    assert all(f"frame {n}\n" in shown for n in range(written)), "frames written during the load were lost"
    assert "llama" not in shown.lower(), "llama-cpp-python printed into the terminal"
