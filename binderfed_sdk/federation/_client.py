"""A federation of BinderHubs: members as data, their health, routing, failover, priming.

The rules are mybinder.org's redirector's (see `judge_member`), written once and used by the
sync `Federation`, the async `AsyncFederation` and the sandbox's own redirector.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar
from urllib.parse import urljoin

import httpx

from binderfed_sdk._errors import (
    BinderFedError,
    FederationError,
    StreamTimeout,
)
from binderfed_sdk._urls import hub_root
from binderfed_sdk.federation._config import (
    FederationConfig,
    Member,
    config_from_active_hosts,
    load_federation,
)
from binderfed_sdk.federation._failover import (
    FailoverPlan,
    Resolution,
    first_then,
    resolution_from_redirect,
)
from binderfed_sdk.federation._health import FederationHealth, candidates, judge_federation
from binderfed_sdk.federation._prime import (
    PrimeOutcome,
    PrimeResult,
    _build_only_refused,
    _PrimeClock,
    skip_unhealthy,
)
from binderfed_sdk.federation._routing import RoutingPolicy, get_policy, routing_key
from binderfed_sdk.hub._client import AsyncBinderHub, BinderHub, as_spec
from binderfed_sdk.hub._core import NO_RETRY, StreamLimits

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

    from binderfed_sdk.hub._events import BuildEvent
    from binderfed_sdk.hub._models import Health, Versions
    from binderfed_sdk.hub._session import AsyncSession, Session
    from binderfed_sdk.spec._spec import Spec


logger = logging.getLogger("binderfed")
_STREAM = {"Accept": "text/event-stream"}
_PROBE_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)
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
