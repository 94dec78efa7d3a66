"""Members as data: a federation's member list, its check settings and session limits."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from binderfed_sdk._errors import BinderFedError, FederationError
from binderfed_sdk._lazy import publish
from binderfed_sdk._urls import hub_root
from binderfed_sdk.federation._limits import SessionLimits

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint


logger = logging.getLogger("binderfed")

ENV_FEDERATION = "BINDERFED_FEDERATION"
DEFAULT_FEDERATION = "mybinder"
#: member lists by name: `name = "package.module:callable"`, a `FederationSource`
ENTRY_POINT_GROUP = "binderfed.federations"

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


class FederationSource(Protocol):
    """What an entry point of the `binderfed.federations` group names: a callable that takes
    nothing and returns a member list in the redirector's config shape (`{check, hosts: {...}}`),
    as `load_federation` accepts it. It runs each time the federation is loaded by name; a
    `BinderFedError` it raises reaches the caller as it is, any other error as a
    `FederationError` naming the entry point."""

    def __call__(self) -> Mapping[str, Any]: ...


def mybinder() -> dict[str, Any]:
    """mybinder.org's members, shipped as data (binderfed_sdk/federations/mybinder.json)."""
    raw = (resources.files("binderfed_sdk") / "federations" / "mybinder.json").read_text()
    return _parse(raw, "mybinder")


# the default, checked first so it loads without package metadata (a bare source tree, and no
# importlib.metadata look-up in the in-session reader); pyproject.toml registers it as well
_BUILTINS: dict[str, FederationSource] = {DEFAULT_FEDERATION: mybinder}


def _registered() -> list[EntryPoint]:
    # importlib.metadata costs ~30 ms to import: only a look-up by name pays for it
    from importlib.metadata import entry_points  # noqa: PLC0415

    return list(entry_points(group=ENTRY_POINT_GROUP))


def builtin_federations() -> list[str]:
    """The federations known by name: the default, then those of the `binderfed.federations`
    entry-point group (the sandbox's, and any a plugin registers), sorted."""
    extra = {entry.name for entry in _registered()} - _BUILTINS.keys()
    return [*_BUILTINS, *sorted(extra)]


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
        data = dict(_read_federation(source) if isinstance(source, str | Path) else source)
        return FederationConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(part) for part in first["loc"]) or "top level"
        msg = f"federation {where}: invalid at {at}: {first['msg']}"
        raise FederationError(msg) from None


def _read_federation(source: str | Path) -> Mapping[str, Any]:
    text = str(source)
    if isinstance(source, str):
        builtin = _BUILTINS.get(text)
        if builtin is not None:
            return builtin()
        found = [entry for entry in _registered() if entry.name == text]
        if found:
            return _load_entry_point(found[0])
    path = Path(source).expanduser()
    if not path.is_file():
        known = ", ".join(builtin_federations())
        msg = f"federation {text!r} is neither a built-in ({known}) nor a file"
        raise FederationError(msg)
    return _parse(path.read_text(), text)


def _load_entry_point(entry: EntryPoint) -> Mapping[str, Any]:
    origin = f"federation {entry.name!r} (entry point {entry.value})"
    try:
        source = entry.load()
    except (ImportError, AttributeError) as exc:
        msg = f"cannot load {origin}: {exc}"
        raise FederationError(msg) from exc
    if not callable(source):
        msg = f"{origin} is not callable: {source!r}"
        raise FederationError(msg)
    try:
        data = source()
    except BinderFedError:
        raise  # already says what is wrong (the sandbox's: none is running, start one)
    except Exception as exc:
        msg = f"{origin} failed: {type(exc).__name__}: {exc}"
        raise FederationError(msg) from exc
    if not isinstance(data, Mapping):
        msg = f"{origin} returned {type(data).__name__}, not a mapping"
        raise FederationError(msg)
    return data


def _parse(raw: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        msg = f"federation {where}: not valid JSON ({exc})"
        raise FederationError(msg) from None
    if not isinstance(data, dict):
        msg = f"federation {where}: expected a JSON object"
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


publish(__name__)  # public classes show as binderfed_sdk.X
