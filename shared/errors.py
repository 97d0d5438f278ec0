"""Errors a person can act on.

Every error the CLI shows without a traceback is a HybridRAGError: its message says
what was wrong and what to do about it.
"""


class HybridRAGError(Exception):
    """A failure with a one-line, actionable message."""


class SettingsError(HybridRAGError):
    """A setting (TOML file or HYBRIDRAG_* variable) has an invalid value."""


class ModelFileError(HybridRAGError):
    """A model file is missing, corrupt or not loadable."""


class InputError(HybridRAGError):
    """The caller's input cannot be used (empty text, unknown option, ...)."""
