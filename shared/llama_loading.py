"""Loading a GGUF with llama-cpp-python, for the client engine and the cloud's embedded writer.

Importing this module routes llama.cpp's log to ``logging`` at debug level:
llama-cpp-python's own callback maps levels by an older ggml enum and prints
warnings (the SWA cache choice) into the writer's terminal. Every llama.cpp failure
also reaches us as an exception, which is where we explain it.

Models load with llama-cpp-python's ``verbose`` on and its Python prints captured:
with it off, llama-cpp-python points the process's stdout and stderr file
descriptors at /dev/null while it loads. That is process-wide: a TUI drawing
while the spare context loads in a thread loses its frames, and two loads that
overlap can leave the descriptors pointing at /dev/null for good.
"""

import contextlib
import ctypes
import io
import logging
from pathlib import Path
from typing import Any, TypeVar

import llama_cpp

from shared.errors import ModelFileError

logger = logging.getLogger(__name__)
LlamaT = TypeVar("LlamaT", bound=llama_cpp.Llama)


@llama_cpp.llama_log_callback
def _log_llama(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    logger.debug("llama.cpp: %s", text.decode("utf-8", errors="replace").rstrip())


llama_cpp.llama_log_set(_log_llama, ctypes.c_void_p(0))


def load_llama(model_path: Path, llama_class: type[LlamaT], **options: Any) -> LlamaT:
    """``llama_class(model_path, **options)``, with a load failure explained as the fix to make."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            llm = llama_class(model_path=str(model_path), verbose=True, **options)
    except ValueError as exc:
        raise ModelFileError(
            f"Could not load {model_path} as a GGUF model ({exc}). The file may be corrupt or truncated. "
            "Fix: point the model path setting at a valid GGUF, or unset it for the packaged model."
        ) from None
    finally:
        logger.debug("llama-cpp-python: %s", printed.getvalue().rstrip())
    llm.verbose = False  # its later calls print nothing
    return llm
