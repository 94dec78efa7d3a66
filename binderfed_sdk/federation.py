"""A federation of BinderHubs: members as data, their health, routing, failover, priming.

The rules are mybinder.org's redirector's (see `judge_member`), written once and used by the
sync `Federation`, the async `AsyncFederation` and the sandbox's own redirector.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._core import NO_RETRY, StreamLimits, hub_root
from ._errors import (
    BinderFedError,
    BuildFailed,
    ConfigError,
    HubError,
    HubUnavailable,
    StreamClosed,
    StreamTimeout,
)
from ._models import Health, Versions
from .hub import AsyncBinderHub, BinderHub, as_spec
from .limits import SessionLimits
from .routing import Candidate, RoutingPolicy, get_policy, routing_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from .events import BuildEvent
    from .session import AsyncSession, Session
    from .spec import Spec

__all__ = [
    "AsyncFederation",
    "Federation",
    "FederationConfig",
    "FederationError",
    "FederationHealth",
    "LaunchExhausted",
    "Member",
    "MemberHealth",
    "PrimeOutcome",
    "PrimeResult",
    "RedirectRefused",
    "Resolution",
    "load_federation",
]

logger = logging.getLogger("binderfed")

ENV_FEDERATION = "BINDERFED_FEDERATION"
DEFAULT_FEDERATION = "mybinder"
_STREAM = {"Accept": "text/event-stream"}
_PROBE_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)
#: messages of a `failed` event that mean "this member is full", worth another member
_QUOTA_MESSAGES = ("Too many users",)


class FederationError(ConfigError):
    """A member list that cannot be loaded or used."""


class RedirectRefused(HubError):
    """A redirector sent us somewhere that is not a known member (no open redirects)."""


class LaunchExhausted(HubUnavailable):
    """Every member tried failed; `attempts` says how, member by member."""

    def __init__(self, message: str, attempts: Sequence[tuple[str, BinderFedError]]) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


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
        from .sandbox.manager import read_state  # noqa: PLC0415 - only the sandbox needs it

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


# --- health, with the redirector's rules -----------------------------------------------------


class MemberHealth(BaseModel):
    """One member's health as the redirector would judge it."""

    model_config = ConfigDict(frozen=True)

    name: str
    url: str
    healthy: bool
    #: why it is unhealthy: `versions`, `health`, `pod quota`, `unreachable`, `timeout`, ...
    reason: str | None = None
    detail: str | None = None
    latency: float | None = None
    total_pods: int | None = None
    quota: int | None = None
    binderhub: str | None = None
    checked_at: datetime

    @property
    def headroom(self) -> int | None:
        if self.quota is None or self.total_pods is None:
            return None
        return self.quota - self.total_pods


class FederationHealth(BaseModel):
    model_config = ConfigDict(frozen=True)

    members: dict[str, MemberHealth]
    prime: str
    checked_at: datetime

    @property
    def healthy(self) -> list[str]:
        return [name for name, health in self.members.items() if health.healthy]


def _failure_reason(error: BinderFedError) -> str:
    if isinstance(error, StreamTimeout) or "timed out" in str(error):
        return "timeout"
    if isinstance(error, HubUnavailable) and error.status_code is None and "HTML" not in str(error):
        return "unreachable"
    return "unknown"


def judge_member(
    member: Member,
    *,
    versions: Versions | BinderFedError,
    health: Health | BinderFedError,
    prime_versions: Versions | None,
    headroom: int,
    latency: float | None,
    now: datetime | None = None,
) -> MemberHealth:
    """The redirector's verdict: versions equal to the prime's, every check ok (Pod quota
    included, though BinderHub marks it soft), `total_pods + headroom < quota`, and answers
    that are 200 JSON. Pure: the probing is done by the caller."""
    facts: dict[str, Any] = {
        "name": member.name,
        "url": member.url,
        "latency": latency,
        "checked_at": now or datetime.now(UTC),
    }
    if isinstance(versions, Versions):
        facts["binderhub"] = versions.binderhub
    if isinstance(health, Health) and (quota := health.pod_quota) is not None:
        facts.update(total_pods=quota.total_pods, quota=quota.quota)

    def unhealthy(reason: str, detail: str) -> MemberHealth:
        return MemberHealth(healthy=False, reason=reason, detail=detail, **facts)

    if isinstance(versions, BinderFedError):
        return unhealthy(_failure_reason(versions), str(versions))
    if prime_versions is not None and versions.model_dump() != prime_versions.model_dump():
        detail = (
            f"binderhub {versions.binderhub} differs from the prime's {prime_versions.binderhub}"
        )
        return unhealthy("versions", detail)
    if isinstance(health, BinderFedError):
        return unhealthy(_failure_reason(health), str(health))
    if failed := health.failed_checks:
        return unhealthy("health", "failing: " + ", ".join(c.service for c in failed))
    if health.status_code != 200:
        return unhealthy("health", f"/health answered HTTP {health.status_code}")
    quota = health.pod_quota
    if (
        quota is not None
        and quota.quota is not None
        and quota.total_pods is not None
        and quota.total_pods + headroom >= quota.quota
    ):
        detail = f"{quota.total_pods} pods + headroom {headroom} >= quota {quota.quota}"
        return unhealthy("pod quota", detail)
    return MemberHealth(healthy=True, **facts)


def judge_federation(
    config: FederationConfig,
    answers: Mapping[str, tuple[Versions | BinderFedError, Health | BinderFedError, float | None]],
) -> FederationHealth:
    prime = config.prime
    prime_answer = answers.get(prime.name)
    prime_versions = (
        prime_answer[0] if prime_answer and isinstance(prime_answer[0], Versions) else None
    )
    now = datetime.now(UTC)
    members = {
        name: judge_member(
            config.member(name),
            versions=versions,
            health=health,
            prime_versions=prime_versions,
            headroom=config.pod_headroom,
            latency=latency,
            now=now,
        )
        for name, (versions, health, latency) in answers.items()
    }
    return FederationHealth(members=members, prime=prime.name, checked_at=now)


def candidates(config: FederationConfig, health: FederationHealth | None) -> list[Candidate]:
    def state(member: Member) -> MemberHealth | None:
        return health.members.get(member.name) if health is not None else None

    return [
        Candidate(
            name=m.name,
            weight=m.weight,
            prime=m.prime,
            healthy=(s.healthy if (s := state(m)) is not None else True),
            headroom=(s.headroom if (s := state(m)) is not None else None),
        )
        for m in config.members
    ]


def first_then(first: Member, ranking: Sequence[Member]) -> list[Member]:
    """`first`, then the rest of `ranking` without it."""
    return [first, *(m for m in ranking if m.name != first.name)]


class FailoverPlan:
    """The members to try in turn, bounded in count and time; what every failure means.

    Iterate it for the next member; report a failure with `failed()`, which raises the
    error itself when no other member would do better (a spec error, a 4xx).
    """

    def __init__(self, ranking: Sequence[Member], max_attempts: int, seconds: float) -> None:
        self.ranking = list(ranking[:max_attempts])
        self.deadline = time.monotonic() + seconds
        self.attempts: list[tuple[str, BinderFedError]] = []

    def __iter__(self) -> Iterator[Member]:
        for member in self.ranking:
            if self.attempts and time.monotonic() >= self.deadline:
                return
            yield member

    def failed(self, member: Member, error: BinderFedError) -> None:
        if not should_fail_over(error):
            raise error
        self.attempts.append((member.name, error))
        logger.warning("launch on %s failed (%s); trying the next member", member.name, error)

    def exhausted(self) -> LaunchExhausted:
        if not self.attempts:
            return LaunchExhausted("launch: no member to try", self.attempts)
        tried = "; ".join(f"{name}: {error}" for name, error in self.attempts)
        return LaunchExhausted(f"launch failed on every member tried ({tried})", self.attempts)


def should_fail_over(error: BinderFedError) -> bool:
    """Worth another member: the hub is down or broken, or this repo is full there.

    Never a spec error or another 4xx (a rate limit included): those would fail anywhere.
    """
    if isinstance(error, BuildFailed):
        return error.retryable or any(text in error.message for text in _QUOTA_MESSAGES)
    return isinstance(error, HubUnavailable | StreamClosed | StreamTimeout)


# --- resolve: where would the redirector send this launch? ----------------------------------


class Resolution(BaseModel):
    """Where a redirector sends a launch: the member, the redirect target, the sticky cookie."""

    model_config = ConfigDict(frozen=True)

    member: Member
    location: str
    cookie: str | None = None


def resolution_from_redirect(
    config: FederationConfig,
    redirector: str,
    status_code: int,
    location: str | None,
    cookie: str | None,
) -> Resolution:
    if status_code not in {301, 302, 303, 307, 308} or not location:
        msg = f"resolve: the redirector answered HTTP {status_code}, not a redirect to a member"
        raise HubError(msg, hub=redirector, status_code=status_code)
    target = urljoin(redirector, location)
    member = config.member_for_url(target)
    if member is None:
        host = urlsplit(target).netloc
        msg = f"resolve: the redirector points at {host!r}, which is not a known member"
        raise RedirectRefused(msg, hub=redirector, status_code=status_code)
    # tornado (the redirector's server) quotes a cookie value holding ':'
    sticky = cookie.strip('"') if cookie else None
    return Resolution(member=member, location=target.split("?", 1)[0], cookie=sticky)


# --- priming ---------------------------------------------------------------------------------


class PrimeOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class PrimeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    member: str
    outcome: PrimeOutcome
    seconds: float = 0.0
    #: how: "build-only" where the hub allows it, else "launch" (and an immediate shutdown)
    method: str | None = None
    reason: str | None = None


def skip_unhealthy(
    targets: Sequence[Member], health: FederationHealth, *, include_unhealthy: bool
) -> tuple[dict[str, PrimeResult], list[Member]]:
    """(results of the members skipped as unhealthy, the members to prime)."""
    skipped: dict[str, PrimeResult] = {}
    todo: list[Member] = []
    for member in targets:
        state = health.members.get(member.name)
        if state is not None and not state.healthy and not include_unhealthy:
            skipped[member.name] = PrimeResult(
                member=member.name, outcome=PrimeOutcome.SKIPPED, reason=state.reason
            )
        else:
            todo.append(member)
    return skipped, todo


class _PrimeClock:
    """Times one member's priming and writes its result."""

    def __init__(self, member: str) -> None:
        self.member = member
        self.started = time.monotonic()

    def __call__(
        self, outcome: PrimeOutcome, method: str, reason: str | None = None
    ) -> PrimeResult:
        seconds = round(time.monotonic() - self.started, 3)
        return PrimeResult(
            member=self.member, outcome=outcome, seconds=seconds, method=method, reason=reason
        )


def _build_only_refused(error: BinderFedError) -> bool:
    return isinstance(error, BuildFailed) and error.status_code == 400


# --- the clients -----------------------------------------------------------------------------


HubT = TypeVar("HubT", BinderHub, AsyncBinderHub)
ClientT = TypeVar("ClientT", httpx.Client, httpx.AsyncClient)


class _FederationBase(Generic[HubT, ClientT]):
    """Configuration, routing and the decisions shared by the sync and async federations."""

    def __init__(
        self,
        federation: FederationConfig | Mapping[str, Any] | str | Path | None = None,
        *,
        policy: str | RoutingPolicy = "weighted-random",
        timeout: float = 10.0,
        limits: StreamLimits | None = None,
        headers: Mapping[str, str] | None = None,
        health_ttl: float = 15.0,
        max_attempts: int = 3,
    ) -> None:
        self.config = load_federation(federation)
        self.policy = get_policy(policy)
        self.timeout = timeout
        self.limits = limits or StreamLimits()
        self.headers = dict(headers or {})
        self.health_ttl = health_ttl
        self.max_attempts = max_attempts
        self.last_health: FederationHealth | None = None
        self._hubs: dict[str, HubT] = {}
        self._probes: ClientT | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config.name!r}, {len(self.config.members)} members)"

    @property
    def members(self) -> list[Member]:
        return self.config.members

    @property
    def redirector(self) -> str:
        if not self.config.redirector:
            msg = f"federation {self.config.name!r} has no redirector URL"
            raise FederationError(msg)
        return hub_root(self.config.redirector)

    def _health_fresh(self) -> bool:
        if self.last_health is None:
            return False
        age = (datetime.now(UTC) - self.last_health.checked_at).total_seconds()
        return age < self.health_ttl

    def _rank(self, spec: Spec, policy: str | RoutingPolicy | None) -> list[Member]:
        chosen = get_policy(policy) if policy is not None else self.policy
        key = routing_key(spec.provider, spec.repo)
        names = chosen.rank(candidates(self.config, self.last_health), key)
        return [self.config.member(name) for name in names]

    def _probe_targets(self, names: Iterable[str] | None) -> list[Member]:
        if names is None:
            return self.config.members
        return [self.config.member(name) for name in names]

    def _resolve_url(self, spec: Spec | str) -> str:
        """The redirector's `/build` URL for `spec` (a spec error is raised before any I/O)."""
        return urljoin(self.redirector, as_spec(spec).build_path)

    def _resolution(self, response: httpx.Response) -> Resolution:
        return resolution_from_redirect(
            self.config,
            self.redirector,
            response.status_code,
            response.headers.get("location"),
            response.cookies.get("host"),
        )

    def _hub_options(self) -> dict[str, Any]:
        return {
            "timeout": self.timeout,
            "limits": self.limits,
            "headers": self.headers,
            # failover is the retry: one attempt per member
            "retry": NO_RETRY,
        }


class Federation(_FederationBase[BinderHub, httpx.Client]):
    """A federation of BinderHubs (default: mybinder.org's members).

    >>> with Federation() as fed:
    ...     print(fed.health().healthy)
    ...     session = fed.launch("gh/binder-examples/requirements/HEAD")
    """

    def _probe_client(self) -> httpx.Client:
        # one pool for every probe: making a client (and its TLS context) costs tens of ms
        with self._lock:
            if self._probes is None:
                self._probes = httpx.Client(
                    headers=self.headers, limits=_PROBE_LIMITS, follow_redirects=False
                )
            return self._probes

    def hub(self, name: str) -> BinderHub:
        """The client of one member (made once, closed with the federation)."""
        with self._lock:
            if name not in self._hubs:
                member = self.config.member(name)
                self._hubs[name] = BinderHub(member.url, **self._hub_options())
            return self._hubs[name]

    def close(self) -> None:
        with self._lock:
            hubs, self._hubs = list(self._hubs.values()), {}
            probes, self._probes = self._probes, None
        for hub in hubs:
            hub.close()
        if probes is not None:
            probes.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # health ------------------------------------------------------------------------------------
    def health(
        self, *, timeout: float | None = None, members: Iterable[str] | None = None
    ) -> FederationHealth:
        """Probe every member at once; a member that has not answered by `timeout` is
        unhealthy (`timeout`) and never delays the answer past it."""
        timeout = timeout if timeout is not None else self.config.check.timeout
        targets = self._probe_targets(members)
        if self.config.prime not in targets:
            targets = [self.config.prime, *targets]  # its versions are the reference
        # threads left behind by a member that never answers end at their own httpx timeout
        pool = ThreadPoolExecutor(max_workers=2 * len(targets), thread_name_prefix="probe")
        try:
            client = self._probe_client()
            jobs = {
                member.name: (
                    pool.submit(_probe_call, client, member.url, "versions", timeout),
                    pool.submit(_probe_call, client, member.url, "health", timeout),
                )
                for member in targets
            }
            wait([f for pair in jobs.values() for f in pair], timeout=timeout + 0.05)
            answers = {
                name: _collect(versions, health, timeout)
                for name, (versions, health) in jobs.items()
            }
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        self.last_health = judge_federation(self.config, answers)
        return self.last_health

    # routing -----------------------------------------------------------------------------------
    def route(self, spec: Spec | str, *, policy: str | RoutingPolicy | None = None) -> list[Member]:
        """Members in the order a launch would try them (health probed if stale)."""
        if not self._health_fresh():
            self.health()
        return self._rank(as_spec(spec), policy)

    def resolve(self, spec: Spec | str) -> Resolution:
        """Ask the redirector where this launch would land, without launching: the `/build`
        request is sent with redirects off and only the 307 and its `host` cookie are read."""
        url = self._resolve_url(spec)
        with (
            httpx.Client(timeout=self.timeout, headers=self.headers) as client,
            client.stream("GET", url, headers=_STREAM, follow_redirects=False) as response,
        ):
            return self._resolution(response)

    def refresh(self) -> FederationConfig:
        """Replace the member list with the redirector's `/active_hosts` (healthy members)."""
        redirector = self.redirector
        with BinderHub(redirector, timeout=self.timeout, headers=self.headers) as hub:
            answer = hub.get_json("active_hosts")
        self.close()
        self.config = config_from_active_hosts(self.config, answer, redirector)
        self.last_health = None
        return self.config

    # launching ---------------------------------------------------------------------------------
    def launch(
        self,
        spec: Spec | str,
        *,
        policy: str | RoutingPolicy | None = None,
        urlpath: str | None = None,
        on_event: Callable[[str, BuildEvent], object] | None = None,
        max_attempts: int | None = None,
        via_redirector: bool = False,
    ) -> Session:
        """Launch on the routed member, failing over to the next one (by the policy) on a
        connection error, a 5xx or a full member; bounded by `max_attempts` and the stream
        limits' total deadline. Spec errors and other 4xx are raised at once.

        `via_redirector=True` lets the federation's redirector choose the first member, as a
        launch on mybinder.org does; failover then follows the policy."""
        resolved = as_spec(spec)
        ranking = self.route(resolved, policy=policy)
        if via_redirector:
            ranking = first_then(self.resolve(resolved).member, ranking)
        plan = FailoverPlan(ranking, max_attempts or self.max_attempts, self.limits.total_timeout)
        for member in plan:
            callback = _tagged(on_event, member.name)
            try:
                session = self.hub(member.name).launch(resolved, urlpath=urlpath, on_event=callback)
            except BinderFedError as error:
                plan.failed(member, error)
                continue
            session.member = member.name
            return session
        raise plan.exhausted()

    def prime(
        self,
        spec: Spec | str,
        *,
        members: Iterable[str] | None = None,
        on_event: Callable[[str, BuildEvent], object] | None = None,
        include_unhealthy: bool = False,
    ) -> list[PrimeResult]:
        """Build `spec` on every (or each chosen) member at once, to warm their caches.

        Uses `build_only` where a hub allows it, else launches and shuts the session down
        at once. No session is left running, on success, failure, or Ctrl-C.
        """
        resolved = as_spec(spec)
        targets = self._probe_targets(members)
        health = self.health(members=[m.name for m in targets])
        cancelled = threading.Event()
        results, todo = skip_unhealthy(targets, health, include_unhealthy=include_unhealthy)
        hubs = {m.name: BinderHub(m.url, **self._hub_options()) for m in todo}
        pool = ThreadPoolExecutor(max_workers=max(1, len(todo)), thread_name_prefix="prime")
        futures = {
            pool.submit(_prime_one, hubs[m.name], m.name, resolved, on_event, cancelled): m.name
            for m in todo
        }
        try:
            while futures.keys() - {f for f in futures if f.done()}:
                wait(futures, timeout=0.1, return_when=FIRST_EXCEPTION)
        except BaseException:
            # Ctrl-C: stop every build, let each worker shut down what it launched
            cancelled.set()
            for hub in hubs.values():
                hub.close()
            wait(futures, timeout=self.timeout + 5)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for hub in hubs.values():
                hub.close()
        for future, name in futures.items():
            results[name] = future.result()
        return [results[m.name] for m in targets]


def _probe_call(
    client: httpx.Client, url: str, what: str, timeout: float
) -> tuple[Versions | Health | BinderFedError, float]:
    """One probe request (httpx's sync client is safe to share between threads)."""
    started = time.monotonic()
    probe = BinderHub(url, client=client, timeout=timeout, retry=NO_RETRY)
    try:
        answer: Versions | Health = probe.versions() if what == "versions" else probe.health()
    except BinderFedError as error:
        return error, time.monotonic() - started
    return answer, time.monotonic() - started


def _collect(
    versions: Future[Any], health: Future[Any], timeout: float
) -> tuple[Versions | BinderFedError, Health | BinderFedError, float | None]:
    def answer(future: Future[Any], what: str) -> tuple[Any, float | None]:
        if not future.done():
            return StreamTimeout(f"{what}: no answer within {timeout:g} s (timed out)"), None
        value, seconds = future.result()
        return value, seconds

    versions_answer, versions_latency = answer(versions, "versions")
    health_answer, health_latency = answer(health, "health")
    latencies = [s for s in (versions_latency, health_latency) if s is not None]
    return versions_answer, health_answer, max(latencies) if latencies else None


def _tagged(
    on_event: Callable[[str, BuildEvent], object] | None, member: str
) -> Callable[[BuildEvent], object] | None:
    if on_event is None:
        return None
    return lambda event: on_event(member, event)


def _prime_one(
    hub: BinderHub,
    member: str,
    spec: Spec,
    on_event: Callable[[str, BuildEvent], object] | None,
    cancelled: threading.Event,
) -> PrimeResult:
    result = _PrimeClock(member)
    callback = _tagged(on_event, member)

    method = "build-only"
    try:
        try:
            for event in hub.build(spec, build_only=True):
                if callback is not None:
                    callback(event)
                if cancelled.is_set():
                    return result(PrimeOutcome.FAILED, method, "cancelled")
            return result(PrimeOutcome.OK, method)
        except BinderFedError as error:
            if not _build_only_refused(error):
                raise
        method = "launch"
        session = hub.launch(spec, on_event=callback)
        with session:  # shut down at once, whatever happens
            pass
        return result(PrimeOutcome.OK, method)
    except BinderFedError as error:
        reason = "cancelled" if cancelled.is_set() else str(error)
        return result(PrimeOutcome.FAILED, method, reason)
    except RuntimeError as error:  # the client was closed under us by a Ctrl-C
        if cancelled.is_set():
            return result(PrimeOutcome.FAILED, method, "cancelled")
        raise BinderFedError(str(error)) from error


class AsyncFederation(_FederationBase[AsyncBinderHub, httpx.AsyncClient]):
    """The async twin of `Federation`."""

    def _probe_client(self) -> httpx.AsyncClient:
        if self._probes is None:
            self._probes = httpx.AsyncClient(
                headers=self.headers, limits=_PROBE_LIMITS, follow_redirects=False
            )
        return self._probes

    def hub(self, name: str) -> AsyncBinderHub:
        if name not in self._hubs:
            member = self.config.member(name)
            self._hubs[name] = AsyncBinderHub(member.url, **self._hub_options())
        return self._hubs[name]

    async def aclose(self) -> None:
        hubs, self._hubs = list(self._hubs.values()), {}
        probes, self._probes = self._probes, None
        await asyncio.gather(*(hub.aclose() for hub in hubs))
        if probes is not None:
            await probes.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def health(
        self, *, timeout: float | None = None, members: Iterable[str] | None = None
    ) -> FederationHealth:
        timeout = timeout if timeout is not None else self.config.check.timeout
        targets = self._probe_targets(members)
        if self.config.prime not in targets:
            targets = [self.config.prime, *targets]
        results = await asyncio.gather(*(self._probe(m, timeout) for m in targets))
        answers = {m.name: r for m, r in zip(targets, results, strict=True)}
        self.last_health = judge_federation(self.config, answers)
        return self.last_health

    async def _probe(
        self, member: Member, timeout: float
    ) -> tuple[Versions | BinderFedError, Health | BinderFedError, float | None]:
        probe = AsyncBinderHub(
            member.url, client=self._probe_client(), timeout=timeout, retry=NO_RETRY
        )
        versions, health = await asyncio.gather(
            _atimed(probe.versions(), "versions", timeout),
            _atimed(probe.health(), "health", timeout),
        )
        latencies = [s for _, s in (versions, health) if s is not None]
        return versions[0], health[0], max(latencies) if latencies else None

    async def route(
        self, spec: Spec | str, *, policy: str | RoutingPolicy | None = None
    ) -> list[Member]:
        if not self._health_fresh():
            await self.health()
        return self._rank(as_spec(spec), policy)

    async def resolve(self, spec: Spec | str) -> Resolution:
        url = self._resolve_url(spec)
        async with (
            httpx.AsyncClient(timeout=self.timeout, headers=self.headers) as client,
            client.stream("GET", url, headers=_STREAM, follow_redirects=False) as response,
        ):
            return self._resolution(response)

    async def refresh(self) -> FederationConfig:
        redirector = self.redirector
        async with AsyncBinderHub(redirector, timeout=self.timeout, headers=self.headers) as hub:
            answer = await hub.get_json("active_hosts")
        await self.aclose()
        self.config = config_from_active_hosts(self.config, answer, redirector)
        self.last_health = None
        return self.config

    async def launch(
        self,
        spec: Spec | str,
        *,
        policy: str | RoutingPolicy | None = None,
        urlpath: str | None = None,
        on_event: Callable[[str, BuildEvent], object] | None = None,
        max_attempts: int | None = None,
        via_redirector: bool = False,
    ) -> AsyncSession:
        resolved = as_spec(spec)
        ranking = await self.route(resolved, policy=policy)
        if via_redirector:
            ranking = first_then((await self.resolve(resolved)).member, ranking)
        plan = FailoverPlan(ranking, max_attempts or self.max_attempts, self.limits.total_timeout)
        for member in plan:
            callback = _tagged(on_event, member.name)
            try:
                session = await self.hub(member.name).launch(
                    resolved, urlpath=urlpath, on_event=callback
                )
            except BinderFedError as error:
                plan.failed(member, error)
                continue
            session.member = member.name
            return session
        raise plan.exhausted()

    async def prime(
        self,
        spec: Spec | str,
        *,
        members: Iterable[str] | None = None,
        on_event: Callable[[str, BuildEvent], object] | None = None,
        include_unhealthy: bool = False,
    ) -> list[PrimeResult]:
        resolved = as_spec(spec)
        targets = self._probe_targets(members)
        health = await self.health(members=[m.name for m in targets])
        results, todo = skip_unhealthy(targets, health, include_unhealthy=include_unhealthy)

        async def one(member: Member) -> PrimeResult:
            async with AsyncBinderHub(member.url, **self._hub_options()) as hub:
                return await _aprime_one(hub, member.name, resolved, on_event)

        # a cancelled gather cancels every task; each one's `async with session` shuts down
        done = await asyncio.gather(*(one(m) for m in todo))
        results.update((r.member, r) for r in done)
        return [results[m.name] for m in targets]


async def _atimed(call: Any, what: str, timeout: float) -> tuple[Any, float | None]:
    started = time.monotonic()
    try:
        return await asyncio.wait_for(call, timeout), time.monotonic() - started
    except TimeoutError:
        return StreamTimeout(f"{what}: no answer within {timeout:g} s (timed out)"), None
    except BinderFedError as error:
        return error, time.monotonic() - started


async def _aprime_one(
    hub: AsyncBinderHub,
    member: str,
    spec: Spec,
    on_event: Callable[[str, BuildEvent], object] | None,
) -> PrimeResult:
    result = _PrimeClock(member)
    callback = _tagged(on_event, member)

    method = "build-only"
    try:
        try:
            async for event in hub.build(spec, build_only=True):
                if callback is not None:
                    callback(event)
            return result(PrimeOutcome.OK, method)
        except BinderFedError as error:
            if not _build_only_refused(error):
                raise
        method = "launch"
        async with await hub.launch(spec, on_event=callback):
            pass  # shut down at once
        return result(PrimeOutcome.OK, method)
    except BinderFedError as error:
        return result(PrimeOutcome.FAILED, method, str(error))
