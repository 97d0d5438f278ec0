"""The ``hybridrag`` command line."""

import dataclasses
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cloud.cli import cloud_app
from shared.errors import HybridRAGError, InputError
from shared.safe_text import terminal_safe
from shared.settings import KVPreset, load_settings

if TYPE_CHECKING:  # the engine loads llama.cpp: imported only when a command needs it
    from client.engine import Suggestion

app = typer.Typer(
    help="HybridRAG: next-words suggestions from a local model, grounded in cloud-written memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cloud_app, name="cloud")
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
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Continue the text of this file ('-': standard input).")] = None,
    sample: Annotated[bool, typer.Option(help="Continue a sample passage from the corpus.")] = False,
    kv: Annotated[KVPreset | None, typer.Option(help="KV-cache precision preset.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, max=256, help="Token limit for the suggestion.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the suggestion and its timings as JSON.")] = False,
) -> None:
    """Print the local model's continuation of some text, and what it cost."""
    from client.engine import SuggestionEngine, require_text  # loads llama.cpp: only when needed
    from shared.corpus import sample_text

    settings = load_settings(**({"engine": {"kv_preset": kv}} if kv else {}))
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
    require_text(text)

    with err.status(f"Loading the model ({settings.engine.kv_preset} KV cache)…"):
        engine = SuggestionEngine.from_settings(settings)
    try:
        if as_json:
            result = engine.suggest(text, max_tokens=max_tokens)
            out.print_json(json.dumps(dataclasses.asdict(result)))
            return
        shown = "…" + text[-300:].lstrip() if len(text) > 300 else text
        out.print(Text(terminal_safe(shown), style="dim"), end="")
        result = engine.suggest(
            text,
            max_tokens=max_tokens,
            on_text=lambda piece: out.print(Text(terminal_safe(piece), style="bold cyan"), end=""),
        )
        out.print()
        out.print(_timings_table(result))
    finally:
        engine.close()


def _timings_table(result: "Suggestion") -> Table:
    table = Table(title="suggestion", show_header=False, box=None, title_justify="left")

    def ms(value: float | None) -> str:
        return f"{value:.1f} ms" if value is not None else "-"

    for label, value in [
        ("KV cache", str(result.kv_preset)),
        ("prompt tokens", f"{result.prompt_tokens} ({result.reused_tokens} reused, {result.evaluated_tokens} evaluated)"),
        ("re-spelled word", repr(result.healed) if result.healed else "-"),
        ("generated tokens", str(result.generated_tokens)),
        ("first token", ms(result.first_token_ms)),
        ("first visible text", ms(result.first_text_ms)),
        ("total", f"{result.total_ms:.1f} ms"),
        ("stopped at", str(result.stop_reason)),
    ]:
        table.add_row(label, value)
    return table


def main() -> None:
    """Console entry point: errors a person can act on print as one line, not a traceback."""
    try:
        app()
    except HybridRAGError as exc:
        err.print(Text(f"error: {exc}", style="red"), soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
