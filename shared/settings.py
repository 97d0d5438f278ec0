"""All settings, in one place.

Values come, highest priority first, from keyword overrides, ``HYBRIDRAG_*``
environment variables (nested with ``__``, e.g. ``HYBRIDRAG_ENGINE__KV_PRESET=q8``),
the TOML file (``HYBRIDRAG_CONFIG`` or the user's config folder), then the defaults
below, which work on a fresh machine.
"""

import json
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import platformdirs
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from shared.durable_files import replace_atomically
from shared.errors import SettingsError

APP_NAME = "hybridrag"
ENV_PREFIX = "HYBRIDRAG_"
PYTHON_DOCS_DIR = Path("/usr/share/doc/python3.11/html/_sources")
IN_PROCESS_QUEUE = "memory"
REDIS_SCHEMES = ("redis://", "rediss://")


class KVPreset(StrEnum):
    """KV-cache precision presets: K type / V type."""

    F16 = "f16"  # f16 / f16: the reference
    Q8 = "q8"  # q8_0 / q8_0
    Q8Q4 = "q8q4"  # q8_0 / q4_0: default, +0.5% perplexity at 0.41x the bytes (reports/engine.json)
    Q4 = "q4"  # q4_0 / q4_0


class EngineSettings(BaseModel):
    """The client's local suggestion engine (llama.cpp)."""

    model_path: Path | None = Field(
        default=None, description="A GGUF file; empty means the packaged Gemma 3 270M Q4_K_M."
    )
    kv_preset: KVPreset = KVPreset.Q8Q4
    n_ctx: int = Field(default=4096, ge=256, description="Context window in tokens.")
    n_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    n_batch: int = Field(default=512, ge=16)
    prefill_chunk_tokens: int = Field(
        default=64,
        ge=8,
        description="A cold prompt is evaluated in chunks of this many tokens, so a keystroke can "
        "cancel it between chunks (measured: no throughput lost from 512 down to 64).",
    )
    max_suggestion_tokens: int = Field(default=16, ge=1, le=256)
    word_completion_tokens: int = Field(
        default=4, ge=0, description="Extra tokens allowed to finish a word cut by the token limit."
    )
    token_healing: bool = Field(
        default=True, description="Let the model re-spell the unfinished word at the end of the text."
    )
    max_healing_tokens: int = Field(default=3, ge=1, le=8)
    stop_at_sentence_end: bool = True
    stop_at_newline: bool = True
    context_shift_tokens: int = Field(
        default=512,
        ge=16,
        description="When the text outgrows the window, the oldest tokens are dropped in steps "
        "of this many, so the cached prefix survives the keystrokes in between.",
    )
    background_prefill: bool = Field(
        default=True,
        description="Evaluate a new memory block in a second llama context while suggestions go on "
        "from the old one, and switch when it is ready (a cold 1k-token prompt takes about 4 s).",
    )
    suggestions_lend_to_prefill: bool = Field(
        default=True,
        description="Once a suggestion has shown its first text, a waiting background-prefill chunk "
        "runs before each of its next tokens, so a new memory block is prefilled even while the writer "
        "types faster than suggestions finish (the suggestion's tail streams slower until it is).",
    )
    memory_adapter: bool = Field(
        default=True,
        description="Apply the shipped memory adapter (a LoRA trained to read the memory block); "
        "off gives the base model's suggestions (the --no-adapter flag).",
    )
    merge_adapter: bool = Field(
        default=True,
        description="Merge the adapter into the model's weights once (a cached GGUF, built on first use in about "
        "15 s) instead of applying it at every token: on a 2-core AMD EPYC the run-time LoRA made the first token "
        "1.19x slower and decoding 0.86x as fast; merged, 1.05x and 0.90x (docs/engine.md).",
    )
    adapter_path: Path | None = Field(
        default=None, description="A LoRA GGUF to apply instead of the shipped memory adapter."
    )
    adapter_scale: float = Field(
        default=0.7,
        ge=0.0,
        le=4.0,
        description="The LoRA's strength, chosen on the training split: at 0.7 the decoy-twin adapter's hybrid "
        "ROUGE-L is 0.162 against 0.142 at 1.0, which copies passages too often (oracle ROUGE-L 0.73 at 1.0, 0.47 "
        "at 0.7; docs/memory-adapter.md).",
    )
    memory_mix: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Weight of the memory-free prediction in each suggested token: the log-probabilities "
        "with and without the memory block are mixed (0: the memory's alone). A second llama context holds "
        "the text without the block, so each token costs two decodes. Off: 0.5 helped on the training split "
        "but not on the evaluation's, and halved the notes' gain on sqlite3-doc (docs/evaluation.md).",
    )
    loop_ngram_tokens: int = Field(
        default=4,
        ge=0,
        description="End a suggestion when it would repeat a run of this many of its own "
        "tokens (greedy decoding loops); 0 turns it off.",
    )
    copy_from_memory: bool = Field(
        default=True,
        description="Draft from the notes where the words before the cursor match one, and "
        "quote what the model accepts (verified in one batch).",
    )
    prompt_lookup: bool = Field(
        default=False,
        description="Also draft from the writer's own earlier text; only tokens the model "
        "would choose anyway are taken, so this changes speed, not text. Off: on the Python docs its "
        "drafts are rejected often enough that a 16-token suggestion takes 1.07x as long (p95 1.10x).",
    )
    draft_min_match_chars: int = Field(
        default=6,
        ge=1,
        description="A draft needs this many matching characters (white space not counted).",
    )
    draft_max_tokens: int = Field(default=12, ge=1, le=64, description="Tokens verified per draft batch.")
    copy_min_probability: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="A note's token is quoted when the model gives it at least "
        "this probability (its own first choice always is).",
    )
    quote_at_sentence_start: bool = Field(
        default=False,
        description="Where a new sentence begins (nothing typed to match), score the notes' first "
        "tokens in a batch each and quote the one the model finds likely enough (quote_min_logprob). "
        "Off: with passages notes (40 evaluation cases, reports/eval40_quote_start_on.json) it lifted "
        "oracle-copy ROUGE-L 0.246 to 0.286 but not hybrid-copy (0.180 vs 0.181), and its scoring "
        "batches delay the first token (27 to 168 ms p50).",
    )
    quote_score_tokens: int = Field(
        default=6, ge=2, le=16, description="Tokens of each note scored at a sentence start."
    )
    quote_candidates: int = Field(
        default=4, ge=1, le=16, description="Notes scored at a sentence start: those whose first token is likeliest."
    )
    quote_min_logprob: float = Field(
        default=-1.0,
        le=0.0,
        description="A note is quoted at a sentence start when its scored tokens' mean log-probability "
        "is at least this (nats per token).",
    )
    background_chunk_tokens: int = Field(
        default=96,
        ge=1,
        description="The background prefill works in chunks of this many tokens and pauses while a "
        "suggestion runs, so a suggestion waits at most one chunk for the cores. Small chunks are "
        "slow per token (16: about 4 ms a token, the switch after 11 s of typing; 96: about 2 ms, "
        "after 3 s; scripts/bench_client_memory.py).",
    )


class EmbeddingPrecision(StrEnum):
    """How the cloud embeds chunks: int8 weights through ONNX Runtime, or sentence-transformers (torch)."""

    INT8 = "int8"  # ONNX Runtime, int8 linear layers: 2x fp32 on any x86 CPU, no torch (scripts/bench_cloud.py)
    AUTO = "auto"  # torch: bf16 where the CPU computes it natively (AVX512-BF16, AMX), else fp32
    FP32 = "fp32"
    BF16 = "bf16"  # torch: 2.4x fp32's chunks/s where native, cosine to fp32 >= 0.9999


class RetrievalMode(StrEnum):
    """How the cloud's datastore finds chunks for a memory request."""

    DENSE = "dense"  # sentence embeddings alone (FAISS)
    HYBRID = "hybrid"  # embeddings and BM25 (SQLite FTS5), fused by reciprocal rank


class WriterKind(StrEnum):
    """Who writes the cloud's memory notes."""

    EMBEDDED = "embedded"  # llama-cpp-python in the server process, any GGUF (base model: a few-shot prompt)
    QWEN = "qwen"  # the packaged Qwen2.5-Coder-0.5B-Instruct, embedded, asked through its chat template
    OPENAI = "openai"  # any OpenAI-compatible completions endpoint (vLLM, llama.cpp's server, ...)
    EXTRACTIVE = "extractive"  # no LLM: the most relevant retrieved sentences
    PASSAGES = "passages"  # no LLM: the retrieved passages themselves, cut to a note's size


class OpenAIEndpoint(StrEnum):
    """Which OpenAI API the memory writer calls."""

    COMPLETIONS = "completions"  # /v1/completions: base models (vLLM, llama.cpp's server)
    CHAT = "chat"  # /v1/chat/completions: chat-only models (OpenAI's current ones)


class OpenAISettings(BaseModel):
    """An OpenAI-compatible endpoint for the memory writer."""

    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="Up to and including /v1.")
    model: str = "default"
    endpoint: OpenAIEndpoint = OpenAIEndpoint.COMPLETIONS
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, description="Retries of a failed call, with backoff.")


class CloudSettings(BaseModel):
    """The cloud memory service: datastore, memory worker and API."""

    data_dir: Path = Field(
        default_factory=lambda: platformdirs.user_data_path(APP_NAME) / "cloud",
        description="Datastore, FAISS index, memory log and tokens live here.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL for the memory log and tokens (postgresql://user:pw@host:port/db), shared by "
        "many API and worker processes; empty means SQLite files in data_dir.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    llm: WriterKind = Field(
        default=WriterKind.PASSAGES,
        description="passages (the retrieved chunks as notes) lifts suggestions the most on the held-out "
        "evaluation (docs/evaluation.md); an LLM writer is there for a stronger model behind openai.",
    )
    llm_model_path: Path | None = Field(
        default=None, description="GGUF for the embedded writer; empty means the packaged Gemma 3 270M."
    )
    llm_n_ctx: int = Field(default=2048, ge=512)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    fallback_to_extractive: bool = Field(
        default=True, description="Write extractive notes when the LLM is unreachable, instead of failing."
    )
    # Ingest. all-MiniLM-L6-v2 reads at most 256 word pieces: a chunk up to that size is embedded whole.
    chunk_min_tokens: int = Field(default=160, ge=16)
    chunk_max_tokens: int = Field(default=250, ge=32, le=254)
    operator_tenants: list[str] = Field(
        default=["operator"], description="Tenants whose tokens may read /metrics (counts over every tenant)."
    )
    corpus_root: Path | None = Field(
        default=None,
        description="When set, ingest refuses folders outside it. Files linked from outside the "
        "ingested folder are always skipped.",
    )
    max_file_bytes: int = Field(default=4 << 20, ge=1024, description="Larger files are skipped.")
    embed_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Texts per embedding batch; unset, the embedder's best here: 8 for int8 ONNX (16% more "
        "chunks/s than 32), 32 for torch (30% more than 64).",
    )
    embedding_precision: EmbeddingPrecision = EmbeddingPrecision.INT8
    embed_max_tokens: int = Field(
        default=128,
        ge=16,
        le=256,
        description="Word pieces of a chunk (and of a retrieval query) that its vector reads. 128 of a "
        "chunk's ~200 embed twice as fast as 256 at 0.97x the retrieval recall (BM25 still reads them all).",
    )
    ivf_threshold: int = Field(
        default=50_000,
        ge=1000,
        description="Above this many chunks the index is IVF instead of exact: exact search costs about "
        "4 ms at 50k and 8 ms at 100k, IVF 0.1 ms at recall@10 1.0 (scripts/bench_cloud.py).",
    )
    ivf_nprobe: int = Field(default=16, ge=1)
    # Memory requests.
    retrieval: RetrievalMode = Field(
        default=RetrievalMode.HYBRID,
        description="dense: embeddings alone; hybrid: embeddings and BM25 fused (finds exact names and options).",
    )
    top_k_chunks: int = Field(default=4, ge=1, le=50)
    notes_per_request: int = Field(default=4, ge=1, le=20, description="As many as the client puts in a prompt.")
    note_max_tokens: int = Field(default=60, ge=8, le=200)
    extractive_follow_sentences: int = Field(
        default=0,
        ge=0,
        le=3,
        description="An extractive note also carries this many of the sentences that follow its own in the "
        "chunk (what another document says next), as far as note_max_tokens allows.",
    )
    quote_max_chars: int = Field(
        default=2500,
        ge=0,
        le=20_000,
        description="Verbatim sentences of the cited chunks sent beside a request's notes, in all (0: none). "
        "The client drafts from them; they are not in the prompt.",
    )
    retrieval_context_chars: int = Field(
        default=1200, ge=100, description="The tail of the writer's context that retrieval reads."
    )
    tenant_note_cap: int = Field(default=500, ge=1, description="Oldest notes are evicted past this.")
    queue_max_tenants: int = Field(default=1000, ge=1, description="Tenants with a pending request; one more gets 429.")
    max_attempts: int = Field(default=3, ge=1, description="Tries of a memory request before it fails.")
    queue: str = Field(
        default=IN_PROCESS_QUEUE,
        description="memory: the in-process queue (one process); redis://host:port/db: Celery over Redis, "
        "served by `hybridrag cloud worker` processes on any machines.",
    )
    queue_visibility_timeout_s: int = Field(
        default=300, ge=1, description="A Redis-queued request whose worker died is given to another after this."
    )
    worker_threads: int = Field(default=1, ge=1)
    # API.
    max_body_bytes: int = Field(default=64 << 10, ge=1024)
    delta_page_notes: int = Field(default=200, ge=1, description="Notes per page of a memory delta.")

    @field_validator("queue")
    @classmethod
    def _memory_or_redis(cls, value: str) -> str:
        if value != IN_PROCESS_QUEUE and not value.startswith(REDIS_SCHEMES):
            raise ValueError(f"must be {IN_PROCESS_QUEUE!r} or a Redis URL (redis://host:port/db)")
        return value

    @property
    def uses_redis_queue(self) -> bool:
        return self.queue != IN_PROCESS_QUEUE


class ClientSettings(BaseModel):
    """The client's memory, its sync with the cloud, and when it asks the cloud for notes."""

    data_dir: Path = Field(
        default_factory=lambda: platformdirs.user_data_path(APP_NAME) / "client",
        description="Local memory: one folder per cloud URL and token.",
    )
    cloud_url: str | None = Field(default=None, description="The memory service, e.g. http://127.0.0.1:8765.")
    token: SecretStr | None = Field(default=None, description="Bearer token; `hybridrag login URL TOKEN` stores it.")
    timeout_s: float = Field(default=10.0, gt=0, description="Per HTTP call to the cloud.")
    max_retries: int = Field(default=2, ge=0, description="Retries of a failed call, with backoff and jitter.")
    sync_interval_s: float = Field(default=30.0, gt=0, description="Background sync period while online.")
    sync_max_backoff_s: float = Field(default=300.0, gt=0, description="Longest wait between syncs while offline.")
    request_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often a pending memory request is checked."
    )
    embed_threads: int = Field(default=2, ge=1, description="ONNX Runtime threads for query embeddings.")
    notes_in_prompt: int = Field(default=4, ge=0, le=20, description="Memory notes in the suggestion prompt.")
    memory_query_chars: int = Field(
        default=500, ge=50, description="The text before the cursor that picks the notes (about 100 word pieces)."
    )
    reselect_after_chars: int = Field(
        default=80, ge=1, description="Notes are chosen again after the text near the cursor changed this much."
    )
    memory_block_min_change: int = Field(
        default=2,
        ge=1,
        description="The memory block is rebuilt only when this many of the chosen notes are new (or one was "
        "removed): every rebuild costs a prefill.",
    )
    note_ivf_threshold: int = Field(default=50_000, ge=1000, description="Above this many notes the index is IVF.")
    # The coordinator: when to ask the cloud for new notes.
    request_context_chars: int = Field(default=2000, ge=100, description="The text before the cursor that is sent.")
    min_request_context_chars: int = Field(default=200, ge=1, description="Shorter texts are not sent.")
    drift_changed_chars: int = Field(
        default=600, ge=1, description="Ask again after this many characters changed since the last request."
    )
    drift_embedding_distance: float = Field(
        default=0.2, gt=0, le=2, description="...or when 1 - cosine to the last request's context reaches this."
    )
    min_request_interval_s: float = Field(default=15.0, ge=0, description="At most one memory request this often.")
    pending_request_timeout_s: float = Field(
        default=120.0, gt=0, description="A request unanswered this long is dropped."
    )


class ComposeSettings(BaseModel):
    """The composition TUI: when it asks for suggestions and how it keeps the writer's text safe."""

    debounce_initial_ms: float = Field(default=75.0, gt=0, description="Pause before the first suggestion request.")
    debounce_min_ms: float = Field(default=30.0, gt=0, description="The adaptive pause never goes below this...")
    debounce_max_ms: float = Field(default=350.0, gt=0, description="...nor above this.")
    debounce_typing_factor: float = Field(
        default=1.3,
        gt=0,
        description="A pause counts once it is this much longer than the writer's usual gap between keys.",
    )
    debounce_latency_factor: float = Field(
        default=0.5, ge=0, description="Slow suggestions wait longer: this share of the recent first-token latency."
    )
    suggestion_cache_entries: int = Field(
        default=256, ge=0, description="Finished suggestions kept by prefix, so backspace and retype are instant."
    )
    autosave_interval_s: float = Field(
        default=2.0, gt=0, description="Unsaved text goes to a recovery file this often."
    )
    recovery_dir: Path = Field(
        default_factory=lambda: platformdirs.user_data_path(APP_NAME) / "recovery",
        description="Recovery files of unsaved text, one per edited file.",
    )
    status_refresh_s: float = Field(default=0.5, gt=0, description="How often the status bar reads the sync state.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    cache_dir: Path = Field(default_factory=lambda: platformdirs.user_cache_path(APP_NAME))
    corpus_dir: Path = PYTHON_DOCS_DIR
    engine: EngineSettings = Field(default_factory=EngineSettings)
    cloud: CloudSettings = Field(default_factory=CloudSettings)
    client: ClientSettings = Field(default_factory=ClientSettings)
    compose: ComposeSettings = Field(default_factory=ComposeSettings)
    reads_login_file: ClassVar[bool] = True  # the client's; a cloud process never reads it

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        login = [JsonConfigSettingsSource(settings_cls, json_file=login_file_path())] if cls.reads_login_file else []
        return (
            init_settings,
            env_settings,
            *login,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file_path()),
        )


class CloudProcessSettings(Settings):
    """What a cloud process reads: the same settings file and variables, never the client's login file."""

    reads_login_file: ClassVar[bool] = False


def config_file_path() -> Path:
    """The TOML settings file: ``HYBRIDRAG_CONFIG``, else the user's config folder."""
    explicit = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        return Path(explicit)
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def login_file_path() -> Path:
    """Where ``hybridrag login`` keeps the cloud URL and token (mode 0600), beside the settings file."""
    return config_file_path().parent / "login.json"


def store_login(cloud_url: str, token: str) -> Path:
    """Write the login file, readable by its owner only (0600 from its creation, never wider)."""
    content = json.dumps({"client": {"cloud_url": cloud_url, "token": token}}, indent=2) + "\n"

    def write_private(partial: Path) -> None:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(content)

    path = login_file_path()
    replace_atomically(path, write_private)
    return path


def load_settings(**overrides: Any) -> Settings:
    """Load the client's settings (the login file included), a validation failure as one actionable line."""
    return _load(Settings, overrides)


def load_cloud_settings(**overrides: Any) -> Settings:
    """Load a cloud process's settings: as ``load_settings``, but the client's login file is never read."""
    return _load(CloudProcessSettings, overrides)


def _load(kind: type[Settings], overrides: dict[str, Any]) -> Settings:
    try:
        return kind(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            dotted = ".".join(str(part) for part in error["loc"])
            env_name = ENV_PREFIX + "__".join(str(p) for p in error["loc"]).upper()
            problems.append(f"{dotted} (env {env_name}): {error['msg']}")
        raise SettingsError(
            "Invalid setting: " + "; ".join(problems) + f". Fix the value in {config_file_path()} or the environment."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"Cannot read settings file {config_file_path()}: {exc}. Fix or remove it.") from None
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"Cannot read the login file {login_file_path()}: {exc}. Run `hybridrag login URL TOKEN` again."
        ) from None
