"""Members as data: a federation's member list, its check settings and session limits."""

from __future__ import annotations

import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from binderfed_sdk._errors import FederationError
from binderfed_sdk._urls import hub_root
from binderfed_sdk.federation._limits import SessionLimits

if TYPE_CHECKING:
    from collections.abc import Mapping


logger = logging.getLogger("binderfed")

ENV_FEDERATION = "BINDERFED_FEDERATION"
DEFAULT_FEDERATION = "mybinder"

# --- members as data ---------------------------------------------------------------------------


class CheckSettings(BaseModel):
    """The redirector's health-check settings (seconds)."""

    model_config = ConfigDict(frozen=True)

    period: float = 15.0
    jitter: float = 0.05
    retries: int = 5
    timeout: float = 5.0
    failed_period: float = 90.0


class Member(BaseModel):
    """One member hub of a federation."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str
    url: str
    weight: float = Field(default=1.0, ge=0)
    prime: bool = False
    #: the JupyterHub and image-registry host names, to tell from inside a session where it is
    hub: str | None = None
    registry: str | None = None

    @field_validator("url")
    @classmethod
    def _root(cls, url: str) -> str:
        return hub_root(url)

    @property
    def origin(self) -> tuple[str, str]:
        parts = urlsplit(self.url)
        return parts.scheme, parts.netloc.lower()


class FederationConfig(BaseModel):
    """A member list in the redirector's config shape: `{check, pod_headroom, hosts: {...}}`."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = "custom"
    redirector: str | None = None
    check: CheckSettings = CheckSettings()
    load_balancer: str = "random"
    pod_headroom: int = 10
    host_cookie_age_hours: float = 4.0
    #: what a session may use on this federation's members (idle, max age, CPU, memory)
    limits: SessionLimits = SessionLimits()
    hosts: dict[str, Member]

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("hosts"), dict):
            hosts = {
                name: {**host, "name": name} if isinstance(host, dict) else host
                for name, host in data["hosts"].items()
            }
            data = {**data, "hosts": hosts}
        return data

    @model_validator(mode="after")
    def _one_prime(self) -> Self:
        if not self.hosts:
            msg = "a federation needs at least one member"
            raise ValueError(msg)
        primes = [m.name for m in self.hosts.values() if m.prime]
        if len(primes) > 1:
            msg = f"a federation has one prime member, not {len(primes)}: {', '.join(primes)}"
            raise ValueError(msg)
        return self

    @property
    def members(self) -> list[Member]:
        """Members that take launches (weight > 0) and the prime, in file order."""
        return [m for m in self.hosts.values() if m.weight > 0 or m.prime]

    @property
    def prime(self) -> Member:
        return next((m for m in self.hosts.values() if m.prime), next(iter(self.hosts.values())))

    def member(self, name: str) -> Member:
        try:
            return self.hosts[name]
        except KeyError:
            msg = f"unknown member {name!r}; members: {', '.join(self.hosts)}"
            raise FederationError(msg) from None

    def member_for_url(self, url: str) -> Member | None:
        """The member whose URL `url` is under (same scheme, host and port, path prefix)."""
        parts = urlsplit(url)
        origin = parts.scheme, parts.netloc.lower()
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        for member in self.hosts.values():
            if member.origin == origin and path.startswith(urlsplit(member.url).path):
                return member
        return None


def builtin_federations() -> list[str]:
    folder = resources.files("binderfed_sdk") / "federations"
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def load_federation(
    source: FederationConfig | Mapping[str, Any] | str | Path | None = None,
) -> FederationConfig:
    """A member list from a config, a mapping, a built-in name, a JSON file, or
    `$BINDERFED_FEDERATION` (a name or a path); the default is mybinder.org's members."""
    if isinstance(source, FederationConfig):
        return source
    if source is None:
        source = os.environ.get(ENV_FEDERATION) or DEFAULT_FEDERATION
    where = str(source) if not isinstance(source, dict) else "the given mapping"
    try:
        data = _read_federation(source) if isinstance(source, str | Path) else dict(source)
        return FederationConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(part) for part in first["loc"]) or "top level"
        msg = f"federation {where}: invalid at {at}: {first['msg']}"
        raise FederationError(msg) from None


def _read_federation(source: str | Path) -> dict[str, Any]:
    text = str(source)
    if isinstance(source, str) and text in builtin_federations():
        raw = (resources.files("binderfed_sdk") / "federations" / f"{text}.json").read_text()
    elif text == "sandbox":
        from binderfed_sdk.sandbox.manager import read_state  # noqa: PLC0415 - only the sandbox needs it

        raw = Path(read_state().federation_file).read_text()
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            known = ", ".join(builtin_federations())
            msg = f"federation {text!r} is neither a built-in ({known}, sandbox) nor a file"
            raise FederationError(msg)
        raw = path.read_text()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        msg = f"federation {text}: not valid JSON ({exc})"
        raise FederationError(msg) from None
    if not isinstance(data, dict):
        msg = f"federation {text}: expected a JSON object"
        raise FederationError(msg)
    return data


def config_from_active_hosts(
    base: FederationConfig, answer: Any, redirector: str
) -> FederationConfig:
    """The member list a redirector's `/active_hosts` gives (healthy members only)."""
    hosts = answer.get("active_hosts") if isinstance(answer, dict) else None
    if not isinstance(hosts, dict) or not hosts:
        msg = "active_hosts: expected {'active_hosts': {name: {url, weight, ...}}}"
        raise FederationError(msg)
    data = base.model_dump(exclude={"hosts"})
    data.update(hosts=hosts, redirector=redirector)
    return load_federation(data)
