"""Members as data: a federation's member list, its check settings and session limits."""

from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from binderfed_sdk import _json
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
    """The redirector's health-check settings (seconds).

    `jitter` is the redirector's: the next check comes after
    `(1 + jitter * (0.5 - random())) * period`, so mybinder.org's 0.1 is +-5 %, not +-10 %.
    """

    model_config = ConfigDict(frozen=True)

    period: float = 15.0
    jitter: float = Field(default=0.1, ge=0)
    retries: int = 5
    timeout: float = 5.0
    failed_period: float = 90.0

    def next_check(
        self,
        period: float | None = None,
        *,
        failed: bool = False,
        draw: Callable[[], float] = random.random,
    ) -> float:
        """Seconds until a member's next check, as the redirector schedules it: `period` (by
        default this one's), or `failed_period` after a failed check, with the jitter applied
        (`draw` gives a float in [0, 1), as `random.random`)."""
        if period is None:
            period = self.failed_period if failed else self.period
        return (1 + self.jitter * (0.5 - draw())) * period


class RepoQuota(BaseModel):
    """A per-repository quota of its own (BinderHub's `spec_config`): specs of `provider`
    matching `pattern` (a regex, from the start, case ignored) may run `quota` sessions."""

    model_config = ConfigDict(frozen=True)

    provider: str
    pattern: str
    quota: int = Field(ge=0)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            msg = f"not a regular expression: {exc}"
            raise ValueError(msg) from None
        return pattern


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
    #: the member's launch quota in pods (BinderHub's `LaunchQuota.total_quota`), None: unknown
    launch_quota: int | None = Field(default=None, ge=0)

    @field_validator("url")
    @classmethod
    def _root(cls, url: str) -> str:
        # every trailing `/` goes, as the redirector strips them; then one, to join paths under
        return hub_root(url)

    @property
    def redirect_url(self) -> str:
        """The URL as the redirector keeps it (no trailing `/`): the value of its `host`
        cookie, and what its 307 `Location` starts with (followed by the request's `/build/...`)."""
        return self.url.rstrip("/")

    @property
    def origin(self) -> tuple[str, str]:
        parts = urlsplit(self.url)
        return parts.scheme, parts.netloc.lower()


class FederationConfig(BaseModel):
    """A member list in the redirector's config shape: `{check, pod_headroom, hosts: {...}}`.

    Loaded as the redirector loads its config: hosts set to null and hosts with weight 0 are
    removed (the prime too), trailing `/` of member URLs go. A host without `weight` counts as
    weight 1 here (the redirector would drop it like weight 0; hand-written lists of a hub or
    two are the reason). The prime is what the redirector proxies every non-`/build` request
    to, whose versions every member must match, and where a launch goes when no member is
    healthy. If the list flags a prime with weight 0, the redirector drops it and then refuses
    to start ("No prime host configured"), so such a list is refused here too; a list that flags
    no prime at all is a plain list of hubs, and its first member plays the prime's part.

    Quotas as data: each member's `launch_quota` (pods), `per_repo_quota` (concurrent sessions
    of one repository per member, BinderHub's setting of that name) and `repo_quotas`, the
    repositories with numbers of their own.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = "custom"
    redirector: str | None = None
    check: CheckSettings = CheckSettings()
    load_balancer: str = "random"
    pod_headroom: int = 10
    host_cookie_age_hours: float = 4.0
    #: what a session may use on this federation's members (idle, max age, CPU, memory)
    limits: SessionLimits = SessionLimits()
    #: concurrent sessions of one repository per member (None: no such quota, or unknown)
    per_repo_quota: int | None = Field(default=None, ge=0)
    repo_quotas: tuple[RepoQuota, ...] = ()
    hosts: dict[str, Member]

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: Any) -> Any:
        if not (isinstance(data, dict) and isinstance(data.get("hosts"), dict)):
            return data
        hosts: dict[str, Any] = {}
        zero_prime: list[str] = []
        for name, host in data["hosts"].items():
            if host is None:
                continue  # a helm chart can only null a member out; the redirector drops it
            if isinstance(host, dict):
                if _is_zero(host.get("weight")):
                    logger.debug("federation: removing host %s with 0 weight", name)
                    if host.get("prime"):
                        zero_prime.append(str(name))
                    continue
                host = {**host, "name": name}  # noqa: PLW2901
            hosts[name] = host
        if zero_prime:
            msg = (
                f"the prime member {zero_prime[0]!r} has weight 0: the redirector removes"
                " zero-weight hosts, the prime too, and then has no prime and refuses to start;"
                " give it a weight, or flag another member as the prime"
            )
            raise ValueError(msg)
        return {**data, "hosts": hosts}

    @model_validator(mode="after")
    def _one_prime(self) -> Self:
        if not self.hosts:
            msg = "a federation needs at least one member with weight > 0"
            raise ValueError(msg)
        primes = [m.name for m in self.hosts.values() if m.prime]
        if len(primes) > 1:
            msg = f"a federation has one prime member, not {len(primes)}: {', '.join(primes)}"
            raise ValueError(msg)
        return self

    @property
    def members(self) -> list[Member]:
        """The members, in file order (all take launches: weight 0 is removed at load)."""
        return list(self.hosts.values())

    def repo_quota(self, provider: str, spec: str) -> int | None:
        """The per-repo quota of a spec (`spec`: what follows the provider, as in the link),
        as BinderHub computes it: `per_repo_quota`, unless a `repo_quotas` pattern matches
        (the last match wins). None or 0: no per-repo limit."""
        quota = self.per_repo_quota
        for rule in self.repo_quotas:
            if rule.provider == provider and re.match(rule.pattern, spec, re.IGNORECASE):
                quota = rule.quota
        return quota

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
    return _parse(_read_capped(path, text), text)


#: the largest member-list file read (mybinder.org's is a few KiB); read at most this many
#: bytes, so that a path such as a FIFO or an endless device cannot hold the client
MAX_FEDERATION_FILE_BYTES = _json.MAX_JSON_BYTES


def _read_capped(path: Path, where: str) -> str:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FEDERATION_FILE_BYTES + 1)
    except OSError as exc:
        msg = f"federation {where}: cannot read it ({exc.strerror or type(exc).__name__})"
        raise FederationError(msg) from None
    if len(raw) > MAX_FEDERATION_FILE_BYTES:
        msg = f"federation {where}: larger than {MAX_FEDERATION_FILE_BYTES} bytes"
        raise FederationError(msg)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        msg = f"federation {where}: not UTF-8 text"
        raise FederationError(msg) from None


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
        data = _json.loads(raw)
    except ValueError as exc:
        msg = f"federation {where}: {exc}"
        raise FederationError(msg) from None
    if not isinstance(data, dict):
        msg = f"federation {where}: expected a JSON object"
        raise FederationError(msg)
    return data


def _is_zero(weight: Any) -> bool:
    # the redirector's test is `weight == 0`: 0, 0.0 and False, not a missing weight here
    return weight is not None and not isinstance(weight, str) and weight == 0


def config_from_active_hosts(
    base: FederationConfig, answer: Any, redirector: str
) -> FederationConfig:
    """The member list a redirector's `/active_hosts` gives (its healthy members), keeping
    the base's prime when the answer leaves it out."""
    hosts = answer.get("active_hosts") if isinstance(answer, dict) else None
    if not isinstance(hosts, dict) or not hosts:
        msg = "active_hosts: expected {'active_hosts': {name: {url, weight, ...}}}"
        raise FederationError(msg)
    hosts = dict(hosts)
    prime = next((m for m in base.hosts.values() if m.prime), None)
    listed_prime = any(isinstance(h, dict) and h.get("prime") for h in hosts.values())
    if prime is not None and prime.name not in hosts and not listed_prime:
        # /active_hosts lists healthy members only; an unhealthy prime is still the one the
        # redirector proxies to and sends launches to when no member is healthy, so it stays
        hosts[prime.name] = prime.model_dump(exclude={"name"})
    data = base.model_dump(exclude={"hosts"})
    data.update(hosts=hosts, redirector=redirector)
    return load_federation(data)


publish(__name__)  # public classes show as binderfed_sdk.X
