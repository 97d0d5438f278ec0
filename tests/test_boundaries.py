"""The architecture's import rules, read from the source (ast), so a stray import fails here.

The client installs and runs without the cloud; ``shared`` is what both sides use and
depends on neither. The evaluation and the training drive both sides from outside.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "client": {"cloud", "evaluation", "training"},
    "shared": {"client", "cloud", "evaluation", "training"},
    "cloud": {"client", "evaluation", "training"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages ``path`` imports, anywhere in it (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_the_architecture_allows(package: str) -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {sorted(imported_packages(path) & FORBIDDEN[package])}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if imported_packages(path) & FORBIDDEN[package]
    ]
    assert not crossings, "\n".join(crossings)


def test_the_import_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text("import os\n\ndef f():\n    from cloud.cli import cloud_app\n    import client.engine\n")
    assert imported_packages(module) == {"os", "cloud", "client"}
