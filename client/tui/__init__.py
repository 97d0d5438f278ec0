"""The composition TUI (Textual): an editor with ghost-text suggestions, memory and sync status."""
