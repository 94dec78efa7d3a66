"""One Binder link or badge image checked: valid spec, current host, current form; the fix.

Links are read by `spec.parse_launch_link`, exactly as BinderHub reads them; this module only
judges what it reads and rebuilds the current form of a link that needs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from binderfed_sdk._errors import SpecError
from binderfed_sdk.doctor._hosts import FRONT_DOOR, classify_hub
from binderfed_sdk.spec._providers import PROVIDERS
from binderfed_sdk.spec._spec import DEFAULT_BADGE, LaunchLink, parse_launch_link

if TYPE_CHECKING:
    from binderfed_sdk.doctor._model import Severity
    from binderfed_sdk.spec._spec import Spec

__all__ = ["LinkCheck", "check_badge_image", "check_link", "file_in_urlpath", "maybe_binder_link"]

_MARKER: Final = re.compile(r"/(?:v2|build|repo)/")
_QUERY_PATHS: Final = ("urlpath", "labpath", "filepath")
#: urlpaths that open a file of the repository: the interface's prefix, then the path
_FILE_URLPATH: Final = re.compile(
    r"/*(?:lab/tree|doc/tree|tree|notebooks|edit|view|voila/render|lab/workspaces/[^/]+/tree)/"
    r"([^?#]+)"
)
# where a /build/ or /repo/ path is a repository's own folder, never a Binder link
_REPOSITORY_HOSTS: Final = frozenset(
    {"github.com", "www.github.com", "gist.github.com", "gitlab.com", "www.gitlab.com",
     "bitbucket.org", "zenodo.org", "doi.org", "hydroshare.org", "www.hydroshare.org"}
)  # fmt: skip
_BADGE_IMAGE: Final = re.compile(r"/(?:badge|badge_logo)\.svg$")
# hosts whose badge image is mybinder.org's own (and so should be its current one)
_BADGE_HOSTS: Final = ("mybinder.org", "static.mybinder.org")


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Severity
    code: str
    message: str
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class LinkCheck:
    """What one link came to: its reading (None: unreadable), problems, its current form."""

    link: LaunchLink | None
    problems: tuple[Problem, ...] = ()
    #: the link in its current form, when it can be rewritten safely
    fixed: str | None = None
    #: the repository file its urlpath opens, if any
    target: str | None = field(default=None)


def maybe_binder_link(url: str) -> bool:
    """Cheap first look: the path has /v2/, /build/ or /repo/ (or the host is mybinder's)."""
    return _MARKER.search(url) is not None


def file_in_urlpath(urlpath: str | None) -> str | None:
    """The repository file a urlpath opens (`lab/tree/a.ipynb` -> `a.ipynb`), else None."""
    if not urlpath:
        return None
    found = _FILE_URLPATH.fullmatch(urlpath.split("?", 1)[0].split("#", 1)[0])
    if found is None:
        return None
    path = found[1].strip("/")
    return path or None


def _binder_host(hub_kind: str) -> bool:
    return hub_kind in ("front-door", "member", "departed", "staging")


def _raw_prefix(url: str) -> tuple[str, str, str]:
    """(the link up to the hub's end, the marker segment, the rest after it) as written."""
    parts = urlsplit(url)
    head = f"{parts.scheme}://{parts.netloc}"
    segments = parts.path.split("/")[1:]
    at = next(i for i, s in enumerate(segments) if s in ("v2", "build", "repo"))
    base = "".join(f"/{s}" for s in segments[:at])
    start = len(head) + len(base)
    marker = segments[at]
    return url[:start], marker, url[start + len(marker) + 2 :]


def _other_params(query: str) -> str:
    """The query's parameters that do not say what to open, as written."""
    kept = [p for p in query.split("&") if p and p.partition("=")[0] not in _QUERY_PATHS]
    return "&".join(kept)


def _rebuilt(url: str, hub: str, spec: Spec, urlpath: str | None) -> str:
    """The current form: `<hub>/v2/<spec>[?urlpath=...]`, other parameters and the fragment
    kept as written."""
    parts = urlsplit(url)
    new = LaunchLink(hub, spec, urlpath).url
    others = _other_params(parts.query)
    if others:
        new += ("&" if "?" in new else "?") + others
    if parts.fragment:
        new += "#" + parts.fragment
    return new


@lru_cache(maxsize=8192)
def check_link(url: str) -> LinkCheck | None:
    """Check one URL; None when it is not a Binder link (nothing to say)."""
    if not maybe_binder_link(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    try:
        host = classify_hub(f"{parts.scheme}://{parts.netloc}{_hub_path(parts.path)}")
    except ValueError:
        return None
    if not _binder_host(host.kind) and not _other_hub_link(parts.hostname, parts.path):
        return None
    try:
        link = parse_launch_link(url)
    except SpecError as error:
        if not _binder_host(host.kind):
            return None  # some other site's /repo/ or /build/ path: not ours to judge
        return LinkCheck(None, (Problem("error", "invalid-link", str(error)),))
    problems: list[Problem] = []
    hub = link.hub
    rebuild = False
    if host.kind == "departed":
        problems.append(
            Problem(
                "error",
                "departed-host",
                f"{_host_text(link.hub)} left the mybinder.org federation: this link no "
                "longer launches",
                f"use the front door {FRONT_DOOR}",
            )
        )
        hub = FRONT_DOOR
    elif host.kind == "staging":
        problems.append(
            Problem(
                "warning",
                "staging-host",
                f"{_host_text(link.hub)} is mybinder.org's staging deployment, not for readers",
                f"use the front door {FRONT_DOOR}",
            )
        )
    elif host.kind == "member":
        problems.append(
            Problem(
                "info",
                "member-host",
                f"this link names the member {host.name} directly, bypassing the front door's "
                "routing and failover",
                f"link to {FRONT_DOOR} instead",
            )
        )
    if _binder_host(host.kind) and parts.scheme == "http" and hub != FRONT_DOOR:
        hub = "https" + hub[len("http") :]
    if _binder_host(host.kind) and link.hub.startswith("http://"):
        problems.append(Problem("warning", "plain-http", "the link uses http://", "use https://"))
    _, marker, _ = _raw_prefix(url)
    query_names = {p.partition("=")[0] for p in parts.query.split("&")}
    if marker == "repo":
        problems.append(
            Problem(
                "warning",
                "legacy-repo-link",
                "legacy /repo/<user>/<repo> link: BinderHub only redirects it, to the "
                "'master' branch",
                "the /v2/gh/<user>/<repo>/<ref> form",
            )
        )
        rebuild = True
    elif marker == "build":
        problems.append(
            Problem(
                "warning",
                "build-link",
                "a /build/ link is the build's event stream, not the launch page",
                "the /v2/ form",
            )
        )
        rebuild = True
    if marker != "repo" and "filepath" in query_names:
        problems.append(
            Problem(
                "warning",
                "legacy-filepath",
                "legacy 'filepath=' parameter",
                "'urlpath=' (the same path under tree/)",
            )
        )
        rebuild = True
    fixed: str | None = None
    if rebuild:
        fixed = _rebuilt(url, hub, link.spec, link.urlpath)
    elif hub != link.hub:
        _, _, rest = _raw_prefix(url)
        fixed = f"{hub}/{marker}/{rest}"
    if fixed is not None and fixed == url:
        fixed = None
    return LinkCheck(link, tuple(problems), fixed, file_in_urlpath(link.urlpath))


def _other_hub_link(hostname: str | None, path: str) -> bool:
    """On a host that is not mybinder.org's: `/v2/<provider>/` or `/build/<provider>/` with a
    provider binderfed knows, off the repository hosts (a BinderHub of its own)."""
    if (hostname or "").lower() in _REPOSITORY_HOSTS:
        return False
    segments = path.split("/")[1:]
    at = next((i for i, s in enumerate(segments) if s in ("v2", "build", "repo")), None)
    return (
        at is not None
        and segments[at] != "repo"
        and at + 1 < len(segments)
        and segments[at + 1] in PROVIDERS
    )


def _hub_path(path: str) -> str:
    segments = path.split("/")[1:]
    at = next((i for i, s in enumerate(segments) if s in ("v2", "build", "repo")), len(segments))
    return "".join(f"/{s}" for s in segments[:at])


def _host_text(hub: str) -> str:
    return hub.split("://", 1)[-1]


def check_badge_image(url: str) -> tuple[Problem, str] | None:
    """An old mybinder.org badge image (`badge.svg`, a departed host's): the problem and the
    current image URL; None when the image is current or not mybinder.org's."""
    if url == DEFAULT_BADGE:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if _BADGE_IMAGE.search(parts.path) is None:
        return None
    host = (parts.hostname or "").lower()
    departed = classify_hub(f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}")
    if host not in _BADGE_HOSTS and departed.kind not in ("departed", "member", "staging"):
        return None
    problem = Problem(
        "warning" if departed.kind == "departed" else "info",
        "old-badge",
        f"badge image {url} is not the current one",
        DEFAULT_BADGE,
    )
    return problem, DEFAULT_BADGE
