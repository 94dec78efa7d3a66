"""The `binderfed` command and its terminal UI."""

from binderfed_sdk.cli._main import main

__all__ = ["main"]
