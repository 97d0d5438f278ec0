"""``hybridrag cloud ...``: ingest a corpus, make tokens, serve the memory API and worker."""

import logging
import socket
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from shared.errors import InputError
from shared.settings import OpenAIEndpoint, Settings, WriterKind, load_settings

cloud_app = typer.Typer(help="The cloud memory service: datastore, memory worker and API.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens, one tenant each.", no_args_is_help=True)
cloud_app.add_typer(token_app, name="token")
out = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option(help="Where the service keeps its data (cloud.data_dir).")]


def _settings(data_dir: Path | None, **cloud: Any) -> Settings:
    overrides = {key: value for key, value in cloud.items() if value is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(cloud=overrides) if overrides else load_settings()


class _RichIngestProgress:
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


@cloud_app.command()
def ingest(
    folder: Annotated[Path, typer.Argument(help="A folder of text, Markdown, reST or HTML files.")],
    data_dir: DataDir = None,
) -> None:
    """Chunk, embed and index a folder; a re-run only embeds what changed."""
    from cloud.datastore import Datastore
    from shared.embeddings import SentenceEmbedder

    settings = _settings(data_dir)
    store = Datastore(settings.cloud.data_dir, settings.cloud, SentenceEmbedder.for_cloud(settings))
    columns = (TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err) as progress:
        report = store.ingest(folder, _RichIngestProgress(progress))
    store.close()
    table = Table(title=f"ingested {folder}", show_header=False, box=None, title_justify="left")
    for label, value in [
        ("files", f"{report.files_seen} seen: {report.added} added, {report.updated} changed, "
                  f"{report.unchanged} unchanged, {report.removed} removed, {len(report.skipped)} skipped"),
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
    data_dir: DataDir = None,
) -> None:
    """Print a new bearer token for TENANT (only its hash is stored: keep it now)."""
    from cloud.auth import TokenStore

    with TokenStore.open(_settings(data_dir).cloud) as store:
        print(store.create(tenant))


@token_app.command("revoke")
def revoke_tokens(
    tenant: Annotated[str, typer.Argument(help="The tenant whose tokens stop working.")],
    data_dir: DataDir = None,
) -> None:
    """Invalidate every token of TENANT at once (a running server sees it on the next request)."""
    from cloud.auth import TokenStore

    with TokenStore.open(_settings(data_dir).cloud) as store:
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


@cloud_app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (cloud.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (cloud.port); 0 picks a free one.")] = None,
    llm: Annotated[WriterKind | None, typer.Option(help="Who writes notes (cloud.llm).")] = None,
    model: Annotated[Path | None, typer.Option(help="GGUF for the embedded writer (cloud.llm_model_path).")] = None,
    openai_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL, up to /v1.")] = None,
    openai_model: Annotated[str | None, typer.Option(help="Model name at that endpoint.")] = None,
    openai_endpoint: Annotated[OpenAIEndpoint | None, typer.Option(help="completions (base models) or chat.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the memory API and worker in one process until interrupted."""
    import uvicorn
    import uvicorn.logging

    from cloud.api import create_app
    from cloud.service import CloudService

    chosen = {"base_url": openai_base_url, "model": openai_model, "endpoint": openai_endpoint}
    openai = {key: value for key, value in chosen.items() if value is not None}
    settings = _settings(data_dir, host=host, port=port, llm=llm, llm_model_path=model, openai=openai or None)
    cloud = settings.cloud
    _require_free_port(cloud.host, cloud.port)  # before seconds of model loading, not after
    with err.status(f"Loading the {cloud.llm} memory writer…"):
        service = CloudService(settings)
        service.warm_up()
    chunks = service.datastore.chunk_count()
    if not chunks:
        err.print(f"[yellow]note: the datastore in {cloud.data_dir} is empty: run hybridrag cloud ingest DIR first.[/]",
                  soft_wrap=True)
    err.print(f"writer: {service.writer.name}; datastore: {chunks} chunks; data: {cloud.data_dir}", soft_wrap=True)
    worker_log = logging.StreamHandler()
    worker_log.setFormatter(uvicorn.logging.DefaultFormatter("%(levelprefix)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[worker_log])  # the worker's lines, looking like uvicorn's
    config = uvicorn.Config(create_app(service), host=cloud.host, port=cloud.port, log_level="info")
    uvicorn.Server(config).run()
