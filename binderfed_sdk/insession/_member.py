"""Which member a session runs on, and its persistent link, from the environment (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

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


def _host_forms(value: str) -> list[str]:
    """`host:port` and `host` of a host or URL, lower-case, most specific first."""
    text = value.strip().lower()
    parts = urlsplit(text if "://" in text else "//" + text)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if not netloc:
        return []
    host = parts.hostname or netloc
    return [netloc] if host == netloc else [netloc, host]


def _match_host(
    value: str,
    member_map: Mapping[str, str],
    members: Iterable[tuple[str, str | None]],
) -> str | None:
    """The member for a host: the extra map first, then the members' own host names."""
    forms = _host_forms(value)
    for form in forms:
        if form in member_map:
            return member_map[form]
    for name, host in members:
        if host and any(form in _host_forms(host) for form in forms):
            return name
    return None


def identify_member(
    environ: Mapping[str, str],
    federation: FederationConfig,
    member_map: Mapping[str, str] | None = None,
) -> tuple[str | None, MemberSource | None]:
    """Which member runs this session, and what said so. In order: the sandbox's
    `BINDERFED_MEMBER`; the registry host of `JUPYTER_IMAGE_SPEC`; the JupyterHub host;
    `BINDER_LAUNCH_HOST` unless it is the federation's front door (on mybinder.org it always
    is, and says nothing). `member_map` (host -> member) is consulted first for the host
    matches. Nothing matching: `(None, None)`, never a guess."""
    extra = {key.strip().lower(): name for key, name in (member_map or {}).items()}
    hosts = federation.hosts.values()

    if named := environ.get(ENV_MEMBER, "").strip():
        return named, "sandbox"

    registry = image_registry_host(environ.get("JUPYTER_IMAGE_SPEC"))
    if registry is not None:
        found = _match_host(registry, extra, ((m.name, m.registry) for m in hosts))
        if found is not None:
            return found, "image-registry"

    for variable in HUB_URL_VARIABLES:
        url = environ.get(variable, "").strip()
        if "://" not in url:  # JUPYTERHUB_BASE_URL is often just a path
            continue
        found = _match_host(url, extra, ((m.name, m.hub) for m in hosts))
        if found is not None:
            return found, "hub-host"

    launch_host = environ.get("BINDER_LAUNCH_HOST", "").strip()
    if launch_host and not _is_front_door(launch_host, federation):
        found = _match_host(launch_host, extra, ())
        if found is None and launch_host.startswith(("http://", "https://")):
            member = federation.member_for_url(launch_host)
            found = member.name if member is not None else None
        if found is not None:
            return found, "launch-host"
    return None, None


def _is_front_door(url: str, federation: FederationConfig) -> bool:
    redirector = federation.redirector
    if not redirector:
        return False
    return _url_key(url) == _url_key(redirector)


def _url_key(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")


def ref_of(persistent_request: str | None, ref_url: str | None) -> str | None:
    """The resolved ref: last path part of BINDER_PERSISTENT_REQUEST (`v2/gh/org/repo/<sha>`),
    else of BINDER_REF_URL (`https://github.com/org/repo/tree/<sha>`)."""
    for value in (persistent_request, ref_url):
        if value:
            path = urlsplit(value).path if "://" in value else value.split("?", 1)[0]
            last = path.rstrip("/").rsplit("/", 1)[-1]
            if last:
                return unquote(last)
    return None


def persistent_link(launch_host: str | None, persistent_request: str | None) -> str | None:
    if not launch_host or not persistent_request:
        return None
    return launch_host.rstrip("/") + "/" + persistent_request.lstrip("/")


def public_url(value: str | None) -> str | None:
    """A URL safe to show: no `user:password@`, no `token=` value."""
    if not value:
        return None
    if "@" in value and "://" in value:
        scheme, rest = value.split("://", 1)
        netloc, slash, path = rest.partition("/")
        value = f"{scheme}://{netloc.rsplit('@', 1)[-1]}{slash}{path}"
    return redact(value) if "token=" in value else value
