"""The OpenAI-compatible backend against a real OpenAI-compatible server on loopback.

The server is llama-cpp-python's own (``python -m llama_cpp.server``) serving the
packaged Gemma: the same API vLLM speaks, with no mocked HTTP.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.datastore import RetrievedChunk
from cloud.llm.backend import LLMUnavailable
from cloud.llm.openai_compatible import OpenAICompatibleLLM
from cloud.local_server import free_loopback_port, server_process
from cloud.writers.llm_writer import EXAMPLES, LLMNoteWriter
from cloud.writers.note_writer import NoteValidator
from shared.embeddings import WordPieceCounter
from shared.model_files import default_gguf_path
from shared.settings import OpenAIEndpoint, OpenAISettings
from tests.processes import hermetic_env

API_KEY = "test-key"
STARTUP_S = 120
PASSAGE = (
    "The list data type has some more methods. list.append(x) adds an item to the end of the list. "
    "list.pop(i) removes the item at the given position in the list, and returns it. If no index is "
    "specified, a.pop() removes and returns the last item in the list."
)


@pytest.fixture(scope="module")
def openai_server(model_cache: Path) -> Iterator[str]:
    port = free_loopback_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    args = [
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_gguf_path(model_cache)),
        "--model_alias",
        "gemma",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--api_key",
        API_KEY,
        "--verbose",
        "false",
    ]
    with server_process(
        args, f"{base_url}/models", STARTUP_S, headers={"Authorization": f"Bearer {API_KEY}"}, env=hermetic_env()
    ):
        yield base_url


@pytest.mark.slow
def test_the_writer_gets_notes_from_an_openai_compatible_server(openai_server: str, embedder) -> None:
    backend = OpenAICompatibleLLM(OpenAISettings(base_url=openai_server, model="gemma", api_key=API_KEY))
    text = backend.complete("The capital of France is", max_tokens=8, stop=["\n"])
    assert isinstance(text, str) and text.strip()
    validator = NoteValidator(60, WordPieceCounter().count, [note for _, note in EXAMPLES])
    chunk = RetrievedChunk(
        chunk_id=7, path="/docs/datastructures.rst.txt", start=0, end=len(PASSAGE), text=PASSAGE, score=1.0
    )
    notes = LLMNoteWriter(backend, validator, 60, embedder).write_notes("removing items from lists", [chunk], 3)
    assert len(notes) == 1 and notes[0].chunk_ids == (7,)
    assert 4 <= len(notes[0].text.split()) and "\n" not in notes[0].text
    backend.close()


@pytest.mark.slow
def test_chat_only_endpoints_get_the_prompt_as_a_user_message(openai_server: str) -> None:
    settings = OpenAISettings(base_url=openai_server, model="gemma", api_key=API_KEY, endpoint=OpenAIEndpoint.CHAT)
    backend = OpenAICompatibleLLM(settings)
    text = backend.complete("Passage: Tuples are immutable.\nNote:", max_tokens=16, stop=["\n"])
    assert isinstance(text, str) and "\n" not in text
    backend.close()


@pytest.mark.slow
def test_a_wrong_key_is_an_explained_refusal(openai_server: str) -> None:
    backend = OpenAICompatibleLLM(OpenAISettings(base_url=openai_server, model="gemma", api_key="wrong"))
    with pytest.raises(LLMUnavailable, match="refused the request .HTTP 401"):
        backend.complete("Hello", max_tokens=4, stop=[])


def test_an_endpoint_that_is_down_is_unavailable_after_retries() -> None:
    backend = OpenAICompatibleLLM(OpenAISettings(base_url="http://127.0.0.1:9/v1", max_retries=1, timeout_s=2))
    with pytest.raises(LLMUnavailable, match="did not answer after 2 tries"):
        backend.complete("Hello", max_tokens=4, stop=[])
