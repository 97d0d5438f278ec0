"""Shared fixtures: hermetic settings and one real engine per test session."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the fixtures import these when used: a test that needs none loads none
    from client.engine import SuggestionEngine
    from cloud.local_server import LocalServer
    from shared.embeddings import SentenceEmbedder, TextEmbedder
    from shared.onnx_embedder import OnnxEmbedder
    from shared.settings import CloudSettings, Settings

# Models load from site-packages only; a test must never reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _hermetic_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own config file or HYBRIDRAG_* variables."""
    for name in list(os.environ):
        if name.startswith("HYBRIDRAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HYBRIDRAG_CONFIG", str(tmp_path / "absent-config.toml"))


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the assembled Gemma GGUF, shared by the session."""
    from shared.model_files import default_gguf_path

    cache = tmp_path_factory.mktemp("cache")
    default_gguf_path(cache)
    return cache


@pytest.fixture(scope="session")
def engine(model_cache: Path) -> Iterator["SuggestionEngine"]:
    """The real engine with the default (q8q4) preset, loaded once."""
    from client.engine import SuggestionEngine
    from shared.settings import EngineSettings

    loaded = SuggestionEngine(EngineSettings(), model_cache)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def docs_text() -> str:
    """About 4,000 characters of real prose from the Python docs."""
    from shared.corpus import read_prose
    from shared.settings import PYTHON_DOCS_DIR

    path = PYTHON_DOCS_DIR / "tutorial" / "classes.rst.txt"
    if not path.is_file():
        pytest.fail(f"Test corpus missing: {path}. Install it: apt-get install python3.11-doc")
    return read_prose(path)[:4000]


CLOUD_CORPUS_FILES = ["tutorial/classes.rst.txt", "tutorial/datastructures.rst.txt", "tutorial/controlflow.rst.txt"]


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> "TextEmbedder":
    """The cloud's default chunk embedder (int8 all-MiniLM-L6-v2 through ONNX Runtime), loaded once."""
    from shared.embeddings import chunk_embedder
    from shared.settings import load_settings

    loaded = chunk_embedder(load_settings(cache_dir=model_cache))
    loaded.embed_one("load now")
    return loaded


@pytest.fixture(scope="session")
def torch_embedder() -> "SentenceEmbedder":
    """sentence-transformers' all-MiniLM-L6-v2 in float, the reference vectors (loads torch, about 9 s)."""
    from shared.embeddings import SentenceEmbedder

    loaded = SentenceEmbedder()
    loaded.embed_one("load now")
    return loaded


@pytest.fixture(scope="session")
def cloud_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real tutorial chapters from the Python docs (about 120 chunks)."""
    from shared.settings import PYTHON_DOCS_DIR

    folder = tmp_path_factory.mktemp("corpus")
    for name in CLOUD_CORPUS_FILES:
        source = PYTHON_DOCS_DIR / name
        if not source.is_file():
            pytest.fail(f"Test corpus missing: {source}. Install it: apt-get install python3.11-doc")
        (folder / source.name).write_text(source.read_text())
    return folder


@pytest.fixture(scope="session")
def ingested_data(tmp_path_factory: pytest.TempPathFactory, cloud_corpus: Path, embedder) -> Path:
    """A cloud data folder with ``cloud_corpus`` ingested once; tests copy it."""
    from cloud.datastore import Datastore
    from shared.settings import CloudSettings

    folder = tmp_path_factory.mktemp("ingested")
    store = Datastore(folder, CloudSettings(data_dir=folder), embedder)
    store.ingest(cloud_corpus)
    store.close()
    return folder


@pytest.fixture
def cloud_settings(tmp_path: Path, ingested_data: Path, model_cache: Path) -> "Settings":
    """Settings whose cloud data folder is a fresh copy of the ingested corpus."""
    import shutil

    from shared.settings import load_settings

    data = tmp_path / "cloud"
    shutil.copytree(ingested_data, data)
    return load_settings(cache_dir=model_cache, cloud={"data_dir": data})


@pytest.fixture
def cloud_server(cloud_settings, embedder) -> Iterator["LocalServer"]:
    """The cloud API with the extractive writer, on a loopback port, over a fresh copy of the corpus."""
    from cloud.local_server import LocalServer
    from cloud.service import CloudService
    from shared.settings import WriterKind

    service = CloudService(cloud_settings, writer_kind=WriterKind.EXTRACTIVE, embedder=embedder)
    with LocalServer(service) as running:
        yield running


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the client's MiniLM exported to ONNX (once per session, about 10 s)."""
    from shared.onnx_embedder import onnx_model_path

    cache = tmp_path_factory.mktemp("onnx-cache")
    onnx_model_path(cache)
    return cache


@pytest.fixture(scope="session")
def query_embedder(onnx_cache: Path) -> "OnnxEmbedder":
    from shared.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder(onnx_cache, n_threads=2)


@pytest.fixture
def client_cache(tmp_path: Path, model_cache: Path, onnx_cache: Path) -> Path:
    """A cache folder holding both client models (links to the session's copies)."""
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    models = {model.name: model for folder in (onnx_cache, model_cache) for model in (folder / "models").iterdir()}
    for name, model in models.items():  # the cloud's fixtures may have exported the ONNX graph there too
        (cache / "models" / name).symlink_to(model)
    return cache


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A private PostgreSQL cluster for the session (from the Debian package's binaries)."""
    from cloud.local_services import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def log_settings(request: pytest.FixtureRequest, tmp_path: Path) -> "CloudSettings":
    """Cloud settings whose memory log and tokens live in SQLite, then in PostgreSQL: same tests, both."""
    from shared.settings import CloudSettings

    if request.param == "sqlite":
        return CloudSettings(data_dir=tmp_path / "cloud")
    from cloud.local_services import fresh_postgres_database

    url = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    return CloudSettings(data_dir=tmp_path / "cloud", database_url=url)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A private Redis for one test (nothing queued carries over)."""
    from cloud.local_services import redis_server

    with redis_server() as url:
        yield url
