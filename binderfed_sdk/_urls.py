"""Hub URLs: one normal form, and endpoints joined under it (pure, shared by every layer)."""

from __future__ import annotations

from urllib.parse import urljoin

from binderfed_sdk._errors import ConfigError


def hub_root(url: str) -> str:
    """The hub URL with exactly one trailing slash, so relative endpoint paths join under it."""
    url = url.strip()
    if not url.startswith(("http://", "https://")):
        msg = f"hub URL must start with http:// or https://, got {url!r}"
        raise ConfigError(msg)
    return url.rstrip("/") + "/"


def endpoint(hub: str, path: str) -> str:
    return urljoin(hub, path.lstrip("/"))
