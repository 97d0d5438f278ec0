"""``hybridrag cloud ...``: ingest a corpus, make tokens, serve the memory API and worker."""

import json
import logging
import os
import socket
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cloud.database import redacted_url
from shared.errors import InputError
from shared.settings import ENV_PREFIX, OpenAIEndpoint, Settings, WriterKind, load_cloud_settings

if TYPE_CHECKING:  # the datastore loads FAISS and torch: imported only when a command needs it
    from cloud.datastore import Datastore, IngestReport

cloud_app = typer.Typer(help="The cloud memory service: datastore, memory worker and API.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens, one tenant each.", no_args_is_help=True)
cloud_app.add_typer(token_app, name="token")
out = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option(help="Where the service keeps its data (cloud.data_dir).")]
Llm = Annotated[WriterKind | None, typer.Option(help="Who writes notes (cloud.llm).")]
Model = Annotated[Path | None, typer.Option(help="GGUF for the embedded writer (cloud.llm_model_path).")]
OpenAIBaseUrl = Annotated[str | None, typer.Option(help="OpenAI-compatible base URL, up to /v1.")]
OpenAIModel = Annotated[str | None, typer.Option(help="Model name at that endpoint.")]
OpenAIEndpointOption = Annotated[OpenAIEndpoint | None, typer.Option(help="completions (base models) or chat.")]
Queue = Annotated[str | None, typer.Option(help="memory (in this process) or redis://host:port/db (cloud.queue).")]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="postgresql://… for a log shared by many processes "
        "(cloud.database_url); default: SQLite in the data folder."
    ),
]


def _settings(data_dir: Path | None, **cloud: Any) -> Settings:
    overrides = {key: value for key, value in cloud.items() if value is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_cloud_settings(cloud=overrides) if overrides else load_cloud_settings()


class RichIngestProgress:
    """The datastore's progress events drawn as a rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: Any = None

    def phase(self, description: str, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, done: int) -> None:
        self._progress.advance(self._task, done)


def ingest_with_progress(store: "Datastore", folder: Path) -> "IngestReport":
    """Ingest ``folder`` into ``store``, its phases drawn as progress bars on stderr."""
    columns = (
        TextColumn("{task.description:>9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err) as progress:
        return store.ingest(folder, RichIngestProgress(progress))


@cloud_app.command()
def ingest(
    folder: Annotated[Path, typer.Argument(help="A folder of text, Markdown, reST or HTML files.")],
    data_dir: DataDir = None,
) -> None:
    """Chunk, embed and index a folder; a re-run only embeds what changed."""
    from cloud.datastore import Datastore
    from shared.embeddings import chunk_embedder

    settings = _settings(data_dir)
    store = Datastore(settings.cloud.data_dir, settings.cloud, chunk_embedder(settings))
    report = ingest_with_progress(store, folder)
    store.close()
    table = Table(title=f"ingested {folder}", show_header=False, box=None, title_justify="left")
    for label, value in [
        (
            "files",
            (
                f"{report.files_seen} seen: {report.added} added, {report.updated} changed, "
                f"{report.unchanged} unchanged, {report.removed} removed, {len(report.skipped)} skipped"
            ),
        ),
        ("chunks", f"{report.chunks_added} added, {report.chunks_removed} removed, {report.chunks_total} in all"),
        ("index", f"{report.index_kind} ({settings.cloud.data_dir})"),
        ("time", f"{report.seconds:.1f} s"),
    ]:
        table.add_row(label, value)
    out.print(table)
    for reason, count in Counter(skip.reason for skip in report.skipped).most_common():
        out.print(f"  skipped {count} file(s): {reason}")


@token_app.command("create")
def create_token(
    tenant: Annotated[str, typer.Argument(help="The tenant the token acts for.")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Print a new bearer token for TENANT (only its hash is stored: keep it now)."""
    from cloud.auth import TokenStore

    with TokenStore.open(_settings(data_dir, database_url=database_url).cloud) as store:
        print(store.create(tenant))


@token_app.command("revoke")
def revoke_tokens(
    tenant: Annotated[str, typer.Argument(help="The tenant whose tokens stop working.")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Invalidate every token of TENANT at once (a running server sees it on the next request)."""
    from cloud.auth import TokenStore

    with TokenStore.open(_settings(data_dir, database_url=database_url).cloud) as store:
        out.print(f"revoked {store.revoke(tenant)} token(s) of {tenant}")


def _require_free_port(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InputError(
                f"Cannot listen on {host}:{port} ({exc.strerror}). Pick another with --port (0 picks a free one) "
                "or --host, or stop what is using it."
            ) from None


def _service_settings(
    data_dir: Path | None,
    openai_base_url: str | None,
    openai_model: str | None,
    openai_endpoint: OpenAIEndpoint | None,
    **cloud: Any,
) -> Settings:
    chosen = {"base_url": openai_base_url, "model": openai_model, "endpoint": openai_endpoint}
    openai = {key: value for key, value in chosen.items() if value is not None}
    return _settings(data_dir, openai=openai or None, **cloud)


@cloud_app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (cloud.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (cloud.port); 0 picks a free one.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API processes (uvicorn workers); > 1 wants --database-url, and --queue redis://… to share work.",
        ),
    ] = 1,
    llm: Llm = None,
    model: Model = None,
    openai_base_url: OpenAIBaseUrl = None,
    openai_model: OpenAIModel = None,
    openai_endpoint: OpenAIEndpointOption = None,
    queue: Queue = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    ingest_dir: Annotated[
        Path | None,
        typer.Option(
            "--ingest",
            help="Ingest this folder in the background while serving: requests meanwhile get notes "
            "from what is indexed so far (in-process worker only).",
        ),
    ] = None,
) -> None:
    """Run the memory API (and, with the in-process queue, the worker) until interrupted."""
    import uvicorn
    import uvicorn.logging

    from cloud.api import create_app
    from cloud.service import CloudService

    settings = _service_settings(
        data_dir,
        openai_base_url,
        openai_model,
        openai_endpoint,
        host=host,
        port=port,
        llm=llm,
        llm_model_path=model,
        queue=queue,
        database_url=database_url,
    )
    cloud = settings.cloud
    if ingest_dir is not None and (workers > 1 or cloud.uses_redis_queue):
        raise InputError(
            "--ingest fills this process's datastore, but with several API processes or a Redis queue "
            "the notes are written elsewhere: run hybridrag cloud ingest in each worker's data folder instead."
        )
    if ingest_dir is not None and not ingest_dir.is_dir():
        raise InputError(f"Not a folder: {ingest_dir}. Give --ingest the folder of documents to ingest.")
    _require_free_port(cloud.host, cloud.port)  # before seconds of model loading, not after
    worker_log = logging.StreamHandler()
    worker_log.setFormatter(uvicorn.logging.DefaultFormatter("%(levelprefix)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[worker_log])  # the worker's lines, looking like uvicorn's
    if workers > 1:
        _export_settings(settings)  # what each worker process's settings are read from
        err.print(
            f"{workers} API processes; queue: {redacted_url(cloud.queue)}; log: "
            f"{'PostgreSQL' if cloud.database_url else cloud.data_dir}",
            soft_wrap=True,
        )
        uvicorn.run(
            "cloud.api:app_from_settings",
            factory=True,
            workers=workers,
            host=cloud.host,
            port=cloud.port,
            log_level="info",
        )
        return
    with err.status(f"Loading the {cloud.llm} memory writer…" if not cloud.uses_redis_queue else "Starting…"):
        service = CloudService(settings)
        service.warm_up()
    chunks = service.datastore.chunk_count()
    if ingest_dir is not None:
        service.ingest_in_background(ingest_dir)
        err.print(f"ingesting {ingest_dir} in the background (notes meanwhile come from what is indexed)")
    elif not chunks and service.writes_notes:
        err.print(
            f"[yellow]note: the datastore in {cloud.data_dir} is empty: run hybridrag cloud ingest DIR first.[/]",
            soft_wrap=True,
        )
    writer = service.writer.name if service.writer else f"worker processes at {redacted_url(cloud.queue)}"
    err.print(f"writer: {writer}; datastore: {chunks} chunks; data: {cloud.data_dir}", soft_wrap=True)
    config = uvicorn.Config(create_app(service), host=cloud.host, port=cloud.port, log_level="info")
    uvicorn.Server(config).run()


@cloud_app.command()
def worker(
    queue: Annotated[str, typer.Option(help="The Redis queue the API sends to: redis://host:port/db.")],
    llm: Llm = None,
    model: Model = None,
    openai_base_url: OpenAIBaseUrl = None,
    openai_model: OpenAIModel = None,
    openai_endpoint: OpenAIEndpointOption = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Write memory notes for requests from a Redis queue; start as many as the machines allow.

    Each worker reads the datastore in its data folder (ingest the same corpus there, or
    share the folder) and writes to the memory log the API reads (--database-url).
    """
    from cloud.memory.celery_queue import run_worker
    from cloud.service import worker_processor

    settings = _service_settings(
        data_dir,
        openai_base_url,
        openai_model,
        openai_endpoint,
        llm=llm,
        llm_model_path=model,
        queue=queue,
        database_url=database_url,
    )
    cloud = settings.cloud
    if not cloud.uses_redis_queue:
        raise InputError(f"--queue must be a Redis URL (redis://host:port/db), not {queue!r}.")
    with err.status(f"Loading the {cloud.llm} memory writer…"):
        processor = worker_processor(settings)
        processor.datastore.search_text("warm up", 1)
    err.print(
        f"writer: {processor.writer.name}; datastore: {processor.datastore.chunk_count()} chunks; "
        f"queue: {redacted_url(cloud.queue)}",
        soft_wrap=True,
    )
    logging.basicConfig(level=logging.INFO)
    run_worker(processor, cloud)


def _export_settings(settings: Settings) -> None:
    """Put the cloud settings in the environment, where uvicorn's worker processes read them from."""
    for key, value in settings.cloud.model_dump(mode="json", exclude={"openai"}).items():
        if value is not None:  # lists as JSON, which is how pydantic-settings reads them back
            os.environ[f"{ENV_PREFIX}CLOUD__{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    openai = settings.cloud.openai
    for key, value in openai.model_dump(mode="json", exclude={"api_key"}).items():
        os.environ[f"{ENV_PREFIX}CLOUD__OPENAI__{key.upper()}"] = str(value)
    if openai.api_key is not None:
        os.environ[f"{ENV_PREFIX}CLOUD__OPENAI__API_KEY"] = openai.api_key.get_secret_value()
