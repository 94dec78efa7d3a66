"""`binderfed doctor`: is a repository ready for Binder, and are its Binder links current?

Configuration as repo2docker reads it (the `binder/` folder wins over the top level; since
2026-03-13 mybinder.org builds no repository without an environment file), and every Binder
link and badge in Markdown, reStructuredText, HTML and notebooks' markdown cells: a valid spec,
a current host, the current form, a `urlpath` file that exists at the link's ref. Local checks
only (files, and `git` for refs); fixes are byte-exact edits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binderfed_sdk._lazy import lazy_exports

if TYPE_CHECKING:
    from ._doctor import Change, Report, check_url, diagnose, planned_changes, write_changes
    from ._hosts import DEPARTED_HOSTS, FRONT_DOOR, classify_hub
    from ._model import Edit, Finding, Severity

_EXPORTS = {
    "Change": "._doctor",
    "DEPARTED_HOSTS": "._hosts",
    "Edit": "._model",
    "FRONT_DOOR": "._hosts",
    "Finding": "._model",
    "Report": "._doctor",
    "Severity": "._model",
    "check_url": "._doctor",
    "classify_hub": "._hosts",
    "diagnose": "._doctor",
    "planned_changes": "._doctor",
    "write_changes": "._doctor",
}
__all__ = [
    "DEPARTED_HOSTS",
    "FRONT_DOOR",
    "Change",
    "Edit",
    "Finding",
    "Report",
    "Severity",
    "check_url",
    "classify_hub",
    "diagnose",
    "planned_changes",
    "write_changes",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
