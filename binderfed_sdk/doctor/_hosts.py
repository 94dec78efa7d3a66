"""Which Binder hosts are current: mybinder.org's front door and members, and those that left.

The current ones come from the member list binderfed ships as data (`federations/mybinder.json`);
the departed ones are listed here, as read from jupyterhub/mybinder.org-deploy's history. A link
to a departed host no longer launches anything; the front door does, and routes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final, Literal
from urllib.parse import urlsplit

from binderfed_sdk.federation._config import mybinder

__all__ = ["DEPARTED_HOSTS", "FRONT_DOOR", "HostKind", "classify_hub"]

FRONT_DOOR: Final = "https://mybinder.org"

#: former mybinder.org members and hosts that no longer serve launches (host[/base path])
DEPARTED_HOSTS: Final = (
    "gke.mybinder.org",
    "gke2.mybinder.org",
    "ovh.mybinder.org",
    "ovh2.mybinder.org",
    "turing.mybinder.org",
    "beta.mybinder.org",
    "notebooks.gesis.org/binder",
    "binder.curvenote.dev",
    "curvenote.mybinder.org",
)

HostKind = Literal["front-door", "member", "staging", "departed", "other"]


@dataclass(frozen=True, slots=True)
class HostStatus:
    kind: HostKind
    #: the member's name, for a member
    name: str | None = None


@cache
def _members() -> dict[str, str]:
    """host[/path] of each current member -> its name."""
    data = mybinder()
    found: dict[str, str] = {}
    for name, host in data["hosts"].items():
        parts = urlsplit(host["url"])
        found[(parts.netloc + parts.path.rstrip("/")).lower()] = name
    return found


def _key(hub: str) -> str:
    parts = urlsplit(hub)
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    port = f":{parts.port}" if parts.port not in (None, 80, 443) else ""
    return host + port + parts.path.rstrip("/").lower()


def classify_hub(hub: str) -> HostStatus:
    """What `hub` (a launch link's hub: scheme, host, base path) is to mybinder.org."""
    key = _key(hub)
    if key == "mybinder.org":
        return HostStatus("front-door")
    member = _members().get(key)
    if member is not None:
        return HostStatus("member", member)
    if key in DEPARTED_HOSTS:
        return HostStatus("departed")
    if key == "staging.mybinder.org" or key.endswith(".staging.mybinder.org"):
        return HostStatus("staging")
    return HostStatus("other")
