"""Specs, launch links and badges for every provider; any Binder link parsed back (pure, no I/O).

Providers: the nine built in, those plug-ins register (`binderfed.providers`), a hub's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binderfed_sdk._lazy import lazy_exports

if TYPE_CHECKING:
    from ._providers import PROVIDERS, Provider, ProviderRegistry, RepoProvider
    from ._spec import (
        BADGE_FORMATS,
        BadgeFormat,
        LaunchLink,
        Spec,
        parse,
        parse_launch_link,
        parse_repo_url,
        parse_spec,
        parse_target,
    )

_EXPORTS = {
    "BADGE_FORMATS": "._spec",
    "BadgeFormat": "._spec",
    "LaunchLink": "._spec",
    "PROVIDERS": "._providers",
    "Provider": "._providers",
    "ProviderRegistry": "._providers",
    "RepoProvider": "._providers",
    "Spec": "._spec",
    "parse": "._spec",
    "parse_launch_link": "._spec",
    "parse_repo_url": "._spec",
    "parse_spec": "._spec",
    "parse_target": "._spec",
}
__all__ = [
    "BADGE_FORMATS",
    "PROVIDERS",
    "BadgeFormat",
    "LaunchLink",
    "Provider",
    "ProviderRegistry",
    "RepoProvider",
    "Spec",
    "parse",
    "parse_launch_link",
    "parse_repo_url",
    "parse_spec",
    "parse_target",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
