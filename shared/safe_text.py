"""Untrusted text (model output, files) made safe to show in a terminal."""

import re

# ANSI/VT escape sequences (CSI, OSC, and short escapes such as ESC c or ESC ( B), then any other C0
# or C1 control character except newline and tab.
_ESCAPE_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[ -/]*[0-~])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` without anything a terminal would act on instead of showing."""
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))
