"""Which member a session runs on, and its persistent link, from the environment (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, unquote, urlsplit

from binderfed_sdk._redact import redact

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from binderfed_sdk.federation._config import (
        FederationConfig,
    )
    from binderfed_sdk.insession._model import MemberSource


#: the sandbox federation says outright which member launched the session
ENV_MEMBER = "BINDERFED_MEMBER"
#: where a session can learn its JupyterHub's host (public URLs first; the API URL is often
#: an in-cluster name such as `http://hub:8081/hub/api`, which matches no member)
HUB_URL_VARIABLES = (
    "JUPYTERHUB_PUBLIC_HUB_URL",
    "JUPYTERHUB_PUBLIC_URL",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_BASE_URL",
)


def image_registry_host(image_spec: str | None) -> str | None:
    """The registry host of an image reference: the part before the first "/" when it looks
    like a host (has a "." or ":", or is "localhost"), as Docker decides."""
    if not image_spec or "/" not in image_spec:
        return None
    first = image_spec.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        return first.lower()
    return None


#: how closely two places agree: the same (scheme, host, port) > the same host and port
#: (one side gives no scheme) > the same host name (one side gives no port)
EXACT, HOST_PORT, HOST = 3, 2, 1
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: the evidence, in the order a tie between equally specific matches is settled
_SOURCES: tuple[MemberSource, ...] = ("image-registry", "hub-host", "launch-host")


@dataclass(frozen=True)
class _Place:
    """Where a URL, `host:port` or host name points: scheme and port when it says them."""

    scheme: str | None
    host: str
    port: int | None
    path: str = ""


def _split(value: str) -> SplitResult | None:
    """`urlsplit`, total: None for what it refuses (`http://[`, a port that is no number)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsed lazily: an invalid port raises here
    except ValueError:
        return None
    return parts


def http_link(value: str | None) -> str | None:
    """`value` when it is an absolute http(s) URL with a host and nothing a browser would
    read differently (whitespace, control characters); else None. The only links shown."""
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        return None
    parts = _split(value)
    if parts is None or parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return value


def _place(value: str) -> _Place | None:
    text = value.strip().lower()
    has_scheme = "://" in text
    parts = _split(text if has_scheme else "//" + text)
    if parts is None:
        return None
    host, port = parts.hostname, parts.port
    if not host:
        return None
    scheme = parts.scheme if has_scheme else None
    if port is None and scheme is not None:
        port = _DEFAULT_PORTS.get(scheme)
    return _Place(scheme, host, port, parts.path.rstrip("/"))


def _agreement(a: _Place, b: _Place) -> int:
    """How closely `a` and `b` agree (EXACT, HOST_PORT, HOST), 0 when they differ."""
    if a.host != b.host:
        return 0
    if a.port is None or b.port is None:
        return HOST
    if a.port != b.port:
        return 0
    if a.scheme is None or b.scheme is None:
        return HOST_PORT
    return EXACT if a.scheme == b.scheme else 0


def _best(value: str, candidates: Iterable[tuple[str, str | None]]) -> tuple[int, str] | None:
    """The member `value` points at, and how closely: only the closest matches count, and
    when they name more than one member the evidence is ambiguous (None)."""
    place = _place(value)
    if place is None:
        return None
    found: dict[str, int] = {}
    for name, where in candidates:
        other = _place(where) if where else None
        level = _agreement(place, other) if other is not None else 0
        if other is not None and place.path and other.path:
            # a member URL with a path (`https://host/binder/`) is only that path and below
            prefix = other.path + "/"
            level = level if (place.path + "/").startswith(prefix) else 0
        if level:
            found[name] = max(found.get(name, 0), level)
    if not found:
        return None
    top = max(found.values())
    names = [name for name, level in found.items() if level == top]
    return (top, names[0]) if len(names) == 1 else None


def _evidence(
    value: str, member_map: Mapping[str, str], members: Iterable[tuple[str, str | None]]
) -> tuple[int, str] | None:
    """The user's map first (it names hosts the member list does not know, or renames
    them), then the members' own places."""
    return _best(value, [(name, host) for host, name in member_map.items()]) or _best(
        value, members
    )


def identify_member(
    environ: Mapping[str, str],
    federation: FederationConfig,
    member_map: Mapping[str, str] | None = None,
) -> tuple[str | None, MemberSource | None]:
    """Which member runs this session, and what said so.

    The sandbox's `BINDERFED_MEMBER` says it outright. Otherwise each piece of evidence is
    matched against the members: the registry host of `JUPYTER_IMAGE_SPEC` (registries),
    the JupyterHub URLs (hubs), `BINDER_LAUNCH_HOST` (member URLs; not when it is the
    federation's front door: on mybinder.org it always is, and says nothing). The most
    specific match wins: the same (scheme, host, port) before the same host and port before
    the same host name; a piece of evidence that fits two members equally (two members on
    one host, told apart by port) counts for nothing. Equally specific matches are settled
    in that order. `member_map` (host -> member) is consulted before the member list.
    Nothing matching: `(None, None)`, never a guess."""
    extra = {key.strip().lower(): name for key, name in (member_map or {}).items()}
    hosts = list(federation.hosts.values())

    if named := environ.get(ENV_MEMBER, "").strip():
        return named, "sandbox"

    findings: list[tuple[int, int, str, MemberSource]] = []

    def note(source: MemberSource, found: tuple[int, str] | None) -> None:
        if found is not None:
            findings.append((found[0], -_SOURCES.index(source), found[1], source))

    registry = image_registry_host(environ.get("JUPYTER_IMAGE_SPEC"))
    if registry is not None:
        note("image-registry", _evidence(registry, extra, ((m.name, m.registry) for m in hosts)))

    for variable in HUB_URL_VARIABLES:
        url = environ.get(variable, "").strip()
        if "://" not in url:  # JUPYTERHUB_BASE_URL is often just a path
            continue
        note("hub-host", _evidence(url, extra, ((m.name, m.hub) for m in hosts)))

    launch_host = environ.get("BINDER_LAUNCH_HOST", "").strip()
    if launch_host and not _is_front_door(launch_host, federation):
        note("launch-host", _evidence(launch_host, extra, ((m.name, m.url) for m in hosts)))

    if not findings:
        return None, None
    _, _, name, source = max(findings)
    return name, source


def _is_front_door(url: str, federation: FederationConfig) -> bool:
    """`url` is the redirector itself (same scheme, host, port and path)."""
    if not federation.redirector:
        return False
    here, door = _place(url), _place(federation.redirector)
    if here is None or door is None:
        return False
    return _agreement(here, door) == EXACT and here.path == door.path


def ref_of(persistent_request: str | None, ref_url: str | None) -> str | None:
    """The resolved ref: last path part of BINDER_PERSISTENT_REQUEST (`v2/gh/org/repo/<sha>`),
    else of BINDER_REF_URL (`https://github.com/org/repo/tree/<sha>`)."""
    for value in (persistent_request, ref_url):
        if value:
            parts = _split(value) if "://" in value else None
            path = parts.path if parts is not None else value.split("?", 1)[0]
            last = path.rstrip("/").rsplit("/", 1)[-1]
            if last:
                return unquote(last)
    return None


def persistent_link(launch_host: str | None, persistent_request: str | None) -> str | None:
    if not launch_host or not persistent_request:
        return None
    return launch_host.rstrip("/") + "/" + persistent_request.lstrip("/")


#: BinderHub providers whose spec ends in a git ref, and the ref naming the default branch
_DEFAULT_REF = {"gh": "HEAD", "gl": "HEAD", "gist": "HEAD", "git": "HEAD"}


def latest_link(
    launch_host: str | None, request: str | None, persistent_request: str | None
) -> str | None:
    """Opens the newest version: launch host + BINDER_REQUEST, the ref as launched (a branch
    moves on). Launched at an exact commit (the request is the persistent one), the ref is
    replaced by the provider's default branch (`HEAD`); a provider without refs (Zenodo,
    Figshare, ...) has no newer version: None."""
    if not launch_host or not request:
        return None
    if request.strip("/") != (persistent_request or "").strip("/"):
        return persistent_link(launch_host, request)
    parts = request.strip("/").split("/")
    default = _DEFAULT_REF.get(parts[1]) if len(parts) > 3 and parts[0] == "v2" else None
    if default is None or parts[-1] == default:
        return None
    return persistent_link(launch_host, "/".join([*parts[:-1], default]))


def public_url(value: str | None) -> str | None:
    """A URL safe to show: no `user:password@`, no token-like parameter's value."""
    if not value:
        return None
    if "@" in value and "://" in value:
        scheme, rest = value.split("://", 1)
        netloc, slash, path = rest.partition("/")
        value = f"{scheme}://{netloc.rsplit('@', 1)[-1]}{slash}{path}"
    return redact(value)
