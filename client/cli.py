"""The ``hybridrag`` command line."""

import dataclasses
import json
import re
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, distribution, entry_points, version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shared.errors import HybridRAGError, InputError
from shared.safe_text import terminal_safe
from shared.settings import KVPreset, load_settings

if TYPE_CHECKING:  # the engine loads llama.cpp: imported only when a command needs it
    from client.assistant import CompositionAssistant
    from client.engine import Suggestion, SuggestionEngine
    from client.memory.local_memory import LocalNote
    from client.sync.memory_sync import SyncReport
    from shared.onnx_embedder import OnnxEmbedder
    from shared.settings import Settings

app = typer.Typer(
    help="HybridRAG: next-words suggestions from a local model, grounded in cloud-written memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
# Continued when the corpus is not installed (the Python tutorial's opening lines).
FALLBACK_SAMPLE = (
    "Python is an easy to learn, powerful programming language. It has efficient high-level data "
    "structures and a simple but effective approach to object-oriented programming. Its elegant syntax"
)


def _print_version(requested: bool) -> None:
    if requested:
        out.print(f"hybridrag {version('hybridrag')}")
        raise typer.Exit()


@app.callback()
def _commands(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """HybridRAG: next-words suggestions from a local model, grounded in cloud-written memory."""


@app.command()
def suggest(
    text: Annotated[str | None, typer.Argument(help="Text to continue.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Continue the text of this file ('-': standard input).")
    ] = None,
    sample: Annotated[bool, typer.Option(help="Continue a sample passage from the corpus.")] = False,
    kv: Annotated[KVPreset | None, typer.Option(help="KV-cache precision preset.")] = None,
    adapter: Annotated[bool, typer.Option(help="Apply the memory adapter (--no-adapter: the base model).")] = True,
    max_tokens: Annotated[int | None, typer.Option(min=1, max=256, help="Token limit for the suggestion.")] = None,
    memory: Annotated[
        bool, typer.Option(help="Put notes from the local memory in the prompt (after `hybridrag login`).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the suggestion and its timings as JSON.")] = False,
) -> None:
    """Print the local model's continuation of some text, and what it cost."""
    from client.engine import SuggestionEngine, require_text  # loads llama.cpp: only when needed
    from shared.corpus import sample_text

    # One suggestion: no point in prefilling a memory block in the background.
    engine_overrides: dict[str, object] = {"background_prefill": False}
    if kv:
        engine_overrides["kv_preset"] = kv
    if not adapter:
        engine_overrides["memory_adapter"] = False
    settings = load_settings(engine=engine_overrides)
    sources = [text is not None, file is not None, sample]
    if sum(sources) != 1:
        raise InputError("Give exactly one of: TEXT, --file PATH, --sample.")
    if file == Path("-"):
        text = sys.stdin.read()
    elif file is not None:
        if not file.is_file():
            raise InputError(f"No such file: {file}.")
        text = file.read_text(encoding="utf-8", errors="replace")
    elif sample:
        try:
            text = sample_text(settings.corpus_dir)
        except InputError as missing:
            err.print(Text(f"note: {missing} Continuing a built-in passage instead.", style="yellow"), soft_wrap=True)
            text = FALLBACK_SAMPLE
    text = require_text(text)

    with err.status(f"Loading the model ({settings.engine.kv_preset} KV cache)…"):
        engine = SuggestionEngine.from_settings(settings)
    assistant = _offline_assistant(settings, engine) if memory else None
    try:
        notes: tuple[LocalNote, ...] = ()
        if assistant is not None:
            notes = assistant.refresh_memory(text).notes
        if as_json:
            result = engine.suggest(text, max_tokens=max_tokens)
            out.print_json(json.dumps(dataclasses.asdict(result) | {"notes": [note.text for note in notes]}))
            return
        shown = "…" + text[-300:].lstrip() if len(text) > 300 else text
        out.print(Text(terminal_safe(shown), style="dim"), end="")
        result = engine.suggest(
            text,
            max_tokens=max_tokens,
            on_text=lambda piece: out.print(Text(terminal_safe(piece), style="bold cyan"), end=""),
        )
        out.print()
        if notes:
            out.print(_notes_table("memory notes in the prompt", notes))
        out.print(_timings_table(result))
    finally:
        if assistant is not None:
            assistant.close()
        engine.close()


@app.command()
def compose(
    file: Annotated[Path | None, typer.Argument(help="The file to write in (created on the first save).")] = None,
    kv: Annotated[KVPreset | None, typer.Option(help="KV-cache precision preset.")] = None,
    adapter: Annotated[bool, typer.Option(help="Apply the memory adapter (--no-adapter: the base model).")] = True,
) -> None:
    """Write with ghost-text suggestions from the local model, grounded in synced memory (F1 lists the keys)."""
    from client.engine import SuggestionEngine
    from client.tui.app import ComposeApp

    settings = load_settings(engine=({"kv_preset": kv} if kv else {}) | ({} if adapter else {"memory_adapter": False}))
    if file is not None:
        _check_editable(file)
    with err.status(f"Loading the model ({settings.engine.kv_preset} KV cache)…"):
        engine = SuggestionEngine.from_settings(settings)
    try:
        assistant = _online_assistant(settings, engine)
        assistant.start()
        try:
            kept = ComposeApp(assistant, settings, file).run()
        finally:
            assistant.close()
    finally:
        engine.close()
    if kept:
        err.print(
            Text(
                f"Unsaved text is kept in {kept}; `hybridrag compose {file or ''}` offers to restore it.",
                style="yellow",
            ),
            soft_wrap=True,
        )


def _check_editable(file: Path) -> None:
    if file.is_dir():
        raise InputError(f"{file} is a folder: give a file to write in.")
    if file.exists():
        try:
            file.read_text(encoding="utf-8")
        except UnicodeDecodeError as problem:
            raise InputError(
                f"{file} is not UTF-8 text (byte {problem.start}): compose edits text files only."
            ) from None
        except OSError as problem:
            raise InputError(f"Cannot read {file}: {problem.strerror or problem}.") from None
    elif not file.parent.is_dir():
        raise InputError(f"No folder {file.parent} to save {file.name} in: create it first.")


def _online_assistant(settings: "Settings", engine: "SuggestionEngine") -> "CompositionAssistant":
    """The full client loop when logged in (memory, coordinator, sync); suggestions alone otherwise."""
    from client.assistant import CompositionAssistant, open_local_memory
    from client.sync.cloud_client import CloudClient

    client = settings.client
    if not client.cloud_url or client.token is None:
        err.print(
            Text(
                "note: no cloud memory service is set (`hybridrag login URL TOKEN`): suggestions "
                "come from the model alone.",
                style="yellow",
            ),
            soft_wrap=True,
        )
        return CompositionAssistant(settings, engine, None, None, None)
    embedder = _query_embedder(settings)
    cloud = CloudClient(client.cloud_url, client.token.get_secret_value(), client.timeout_s, client.max_retries)
    return CompositionAssistant(settings, engine, embedder, open_local_memory(settings, embedder), cloud)


def _query_embedder(settings: "Settings") -> "OnnxEmbedder":
    from shared.onnx_embedder import OnnxEmbedder

    with err.status("Loading the query embedder (its first use exports it to ONNX, about 10 s)…"):
        return OnnxEmbedder(settings.cache_dir, settings.client.embed_threads)


def _offline_assistant(settings: "Settings", engine: "SuggestionEngine") -> "CompositionAssistant | None":
    """Memory for the prompt from the local copy only (`suggest` never waits on the network); None before a sync."""
    from client.assistant import CompositionAssistant, local_memory_folder, open_local_memory
    from client.memory.local_memory import DATABASE_NAME

    if not settings.client.cloud_url or settings.client.token is None:
        return None
    if not (local_memory_folder(settings) / DATABASE_NAME).exists():
        return None  # nothing synced yet: no reason to load (or first export) the query embedder
    embedder = _query_embedder(settings)
    return CompositionAssistant(settings, engine, embedder, open_local_memory(settings, embedder), cloud=None)


@app.command()
def login(
    url: Annotated[str, typer.Argument(help="The memory service, e.g. http://127.0.0.1:8765.")],
    token: Annotated[str, typer.Argument(help="A token from `hybridrag cloud token create TENANT`.")],
    check: Annotated[bool, typer.Option(help="Check the URL and token with the service first.")] = True,
) -> None:
    """Remember the cloud memory service and its token (in a file only you can read)."""
    from client.sync.cloud_client import CloudClient
    from shared.settings import store_login

    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InputError(f"Not an http(s) URL: {url!r}. Give the service's address, e.g. http://127.0.0.1:8765.")
    if not token.strip():
        raise InputError("The token is empty: give the one `hybridrag cloud token create TENANT` printed.")
    if check:
        settings = load_settings()
        cloud = CloudClient(url, token, settings.client.timeout_s, max_retries=0)
        try:
            cloud.health()
            latest = cloud.memory_delta(0).latest_version  # an authenticated call: checks the token
        finally:
            cloud.close()
        out.print(f"The memory service at {url} accepted the token (its memory is at version {latest}).")
    path = store_login(url, token)
    out.print(f"Saved to {path} (readable by you only). Next: `hybridrag sync`.")


@app.command()
def sync() -> None:
    """Pull the memory notes the cloud wrote since the last sync, and print what changed."""
    from client.assistant import open_local_memory
    from client.sync.cloud_client import CloudClient
    from client.sync.memory_sync import sync_memory

    settings = load_settings()
    cloud = CloudClient.from_settings(settings.client)
    memory = open_local_memory(settings, _query_embedder(settings))
    try:
        with err.status(f"Syncing with {cloud.base_url}…"):
            report = sync_memory(cloud, memory)
        out.print(_sync_summary(report, memory.note_count))
        if report.added:
            out.print(_notes_table("added", report.added))
    finally:
        memory.close()
        cloud.close()


def _sync_summary(report: "SyncReport", note_count: int) -> str:
    if report.resynced:
        change = "the cloud's memory was reset: replaced the local copy with it"
    elif report.to_version == report.from_version:
        change = "already up to date"
    else:
        change = f"version {report.from_version} → {report.to_version}"
    return (
        f"Memory {change}: {len(report.added)} notes added, {len(report.removed)} removed, "
        f"{note_count} in all ({report.pages} page{'s' * (report.pages != 1)}, {report.seconds * 1000:.0f} ms)."
    )


def _notes_table(title: str, notes: "Sequence[LocalNote]") -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("v", justify="right")
    table.add_column("note")
    table.add_column("source")
    for note in notes:
        sources = ", ".join(sorted({Path(source.path).name for source in note.sources}))  # the cloud's paths are long
        table.add_row(str(note.version), terminal_safe(note.text), terminal_safe(sources))
    return table


def _timings_table(result: "Suggestion") -> Table:
    table = Table(title="suggestion", show_header=False, box=None, title_justify="left")

    def ms(value: float | None) -> str:
        return f"{value:.1f} ms" if value is not None else "-"

    for label, value in [
        ("KV cache", str(result.kv_preset)),
        (
            "prompt tokens",
            f"{result.prompt_tokens} ({result.reused_tokens} reused, {result.evaluated_tokens} evaluated)",
        ),
        ("re-spelled word", repr(result.healed) if result.healed else "-"),
        ("generated tokens", str(result.generated_tokens)),
        ("first token", ms(result.first_token_ms)),
        ("first visible text", ms(result.first_text_ms)),
        ("total", f"{result.total_ms:.1f} ms"),
        ("stopped at", str(result.stop_reason)),
    ]:
        table.add_row(label, value)
    return table


PLUGIN_GROUP = "hybridrag.commands"  # pyproject.toml: the cloud's commands and the evaluation register here


def _add_plugin_commands(app: typer.Typer) -> None:
    """The commands of the parts installed beside the client; a part that is not says how to get it.

    The client never imports the cloud: its commands arrive as entry points named
    after their extra (``cloud``, ``eval``). A command whose extra is not installed
    (a writer's install) stays listed and answers with the install line.
    """
    requirements = distribution("hybridrag").requires or []  # read once: this runs at every start
    for plugin in entry_points(group=PLUGIN_GROUP):
        missing = _missing_requirements(requirements, plugin.name)
        if not missing:
            try:
                command = plugin.load()
            except ImportError as failed:
                missing = [failed.name or str(failed)]
        if missing:
            app.command(
                plugin.name,
                help=f"(not installed: pip install 'hybridrag[{plugin.name}]')",
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                add_help_option=False,
            )(_not_installed(plugin.name, missing))
        elif isinstance(command, typer.Typer):
            app.add_typer(command, name=plugin.name)
        else:
            app.command(plugin.name)(command)


def _missing_requirements(requirements: list[str], extra: str) -> list[str]:
    """The distributions ``hybridrag[extra]`` needs that are not installed (from metadata, nothing imported)."""
    missing = []
    for requirement in requirements:
        if f'extra == "{extra}"' not in requirement.replace("'", '"'):
            continue
        name = re.match(r"[A-Za-z0-9_.\-]+", requirement)
        if name is None or name.group() == "hybridrag":
            continue  # an extra of ours that this one includes: its own packages are listed with it
        try:
            version(name.group())
        except PackageNotFoundError:
            missing.append(name.group())
    return missing


def _not_installed(part: str, missing: list[str]) -> "Callable[[], None]":
    def explain() -> None:
        raise InputError(
            f"`hybridrag {part}` is not part of this install (missing: {', '.join(missing)}). "
            f"Fix: pip install 'hybridrag[{part}]'."
        )

    return explain


_add_plugin_commands(app)


def main() -> None:
    """Console entry point: errors a person can act on print as one line, not a traceback."""
    try:
        app()
    except HybridRAGError as exc:
        err.print(Text(f"error: {exc}", style="red"), soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
