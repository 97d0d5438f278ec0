"""Running the project's programs as real processes in tests, free of the developer's settings."""

import os


def hermetic_env(**settings: str) -> dict[str, str]:
    """This process's environment without any HYBRIDRAG_* variable, plus ``settings``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDRAG_")} | settings
