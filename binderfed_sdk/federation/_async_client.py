"""The client of a federation of BinderHubs: health, routing, resolve, launch with failover,
priming. The rules are pure (`_health.py`, `_routing.py`, `_failover.py`, `_prime.py`); what
runs at once runs on `binderfed_sdk._concurrency` (asyncio here, threads in the sync twin)."""

# async source: `_client.py` (Federation) is generated from this file by
# async source: `python .ci/unasync.py`; edit this one, then run the script.

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urljoin

import httpx

from binderfed_sdk._concurrency._asyncio import async_interruptible, async_run_all
from binderfed_sdk._errors import BinderFedError, FederationError, ProtocolError, StreamTimeout
from binderfed_sdk._lazy import publish
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
from binderfed_sdk.hub._async_client import AsyncBinderHub, as_spec
from binderfed_sdk.hub._core import NO_RETRY, StreamLimits, session_origins, transport_error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

    from binderfed_sdk.hub._async_session import AsyncSession
    from binderfed_sdk.hub._events import BuildEvent
    from binderfed_sdk.hub._models import Health, Versions
    from binderfed_sdk.spec._spec import Spec

__all__ = ["AsyncFederation"]

logger = logging.getLogger("binderfed")
_STREAM = {"Accept": "text/event-stream"}
_PROBE_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


class AsyncFederation:
    """A federation of BinderHubs (default: mybinder.org's members).

    >>> async with AsyncFederation() as fed:
    ...     health = await fed.health()
    ...     print(health.healthy)
    ...     session = await fed.launch("gh/binder-examples/requirements/HEAD")

    A launch's session token goes only where `AsyncBinderHub` sends it by default, or to the
    member's JupyterHub host as the member list gives it (`hub`); `allow_session_origins`
    allows more, as for `AsyncBinderHub`.
    """

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
        allow_session_origins: bool | Iterable[str] = False,
    ) -> None:
        self.config = load_federation(federation)
        self.allow_session_origins = session_origins(allow_session_origins)
        self.policy = get_policy(policy)
        self.timeout = timeout
        self.limits = limits or StreamLimits()
        self.headers = dict(headers or {})
        self.health_ttl = health_ttl
        self.max_attempts = max_attempts
        self.last_health: FederationHealth | None = None
        self._hubs: dict[str, AsyncBinderHub] = {}
        self._probes: httpx.AsyncClient | None = None
        # the sync twin shares it between threads; nothing waits while holding it
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

    def _probe_client(self) -> httpx.AsyncClient:
        # one pool for every probe: making a client (and its TLS context) costs tens of ms
        with self._lock:
            if self._probes is None:
                self._probes = httpx.AsyncClient(
                    headers=self.headers, limits=_PROBE_LIMITS, follow_redirects=False
                )
            return self._probes

    def _hub_options(self) -> dict[str, Any]:
        return {
            "timeout": self.timeout,
            "limits": self.limits,
            "headers": self.headers,
            # failover is the retry: one attempt per member
            "retry": NO_RETRY,
        }

    def _member_options(self, member: Member) -> dict[str, Any]:
        """`_hub_options`, and the member's JupyterHub as a session origin it may launch on."""
        allow = self.allow_session_origins
        if not isinstance(allow, bool) and member.hub:
            allow = (*allow, member.hub)
        elif allow is False and member.hub:
            allow = (member.hub,)
        return {**self._hub_options(), "allow_session_origins": allow}

    def hub(self, name: str) -> AsyncBinderHub:
        """The client of one member (made once, closed with the federation)."""
        with self._lock:
            if name not in self._hubs:
                member = self.config.member(name)
                self._hubs[name] = AsyncBinderHub(member.url, **self._member_options(member))
            return self._hubs[name]

    async def aclose(self) -> None:
        with self._lock:
            hubs, self._hubs = list(self._hubs.values()), {}
            probes, self._probes = self._probes, None
        for hub in hubs:
            await hub.aclose()
        if probes is not None:
            await probes.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # health ------------------------------------------------------------------------------------
    async def health(
        self, *, timeout: float | None = None, members: Iterable[str] | None = None
    ) -> FederationHealth:
        """Probe every member at once; a member that has not answered by `timeout` is
        unhealthy (`timeout`) and never delays the answer past it."""
        timeout = timeout if timeout is not None else self.config.check.timeout
        targets = self._probe_targets(members)
        if self.config.prime not in targets:
            targets = [self.config.prime, *targets]  # its versions are the reference
        client = self._probe_client()
        jobs = [
            partial(_probe, client, member.url, what, timeout, self.limits)
            for member in targets
            for what in ("versions", "health")
        ]
        answers = await async_run_all(jobs, timeout=timeout + 0.05)
        pairs = zip(answers[::2], answers[1::2], strict=True)
        judged = {
            member.name: _member_answers(versions, health, timeout)
            for member, (versions, health) in zip(targets, pairs, strict=True)
        }
        self.last_health = judge_federation(self.config, judged)
        return self.last_health

    def _probe_targets(self, names: Iterable[str] | None) -> list[Member]:
        if names is None:
            return self.config.members
        return [self.config.member(name) for name in names]

    def _health_fresh(self) -> bool:
        if self.last_health is None:
            return False
        age = (datetime.now(UTC) - self.last_health.checked_at).total_seconds()
        return age < self.health_ttl

    # routing -----------------------------------------------------------------------------------
    async def route(
        self, spec: Spec | str, *, policy: str | RoutingPolicy | None = None
    ) -> list[Member]:
        """Members in the order a launch would try them (health probed if stale)."""
        if not self._health_fresh():
            await self.health()
        chosen = get_policy(policy) if policy is not None else self.policy
        resolved = as_spec(spec)
        key = routing_key(resolved.build_path)  # the redirector's own key
        names = chosen.rank(candidates(self.config, self.last_health), key)
        return [self.config.member(name) for name in names]

    async def resolve(self, spec: Spec | str) -> Resolution:
        """Ask the redirector where this launch would land, without launching: the `/build`
        request is sent with redirects off and only the 307 and its `host` cookie are read."""
        redirector = self.redirector
        url = urljoin(redirector, as_spec(spec).build_path)  # a spec error comes before any I/O
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout, headers=self.headers) as client,
                client.stream("GET", url, headers=_STREAM, follow_redirects=False) as response,
            ):
                return resolution_from_redirect(
                    self.config,
                    redirector,
                    response.status_code,
                    response.headers.get("location"),
                    response.cookies.get("host"),
                )
        except httpx.HTTPError as exc:
            raise transport_error(redirector, "resolve", exc) from None

    async def refresh(self) -> FederationConfig:
        """Replace the member list with the redirector's `/active_hosts` (healthy members)."""
        redirector = self.redirector
        async with AsyncBinderHub(
            redirector, timeout=self.timeout, headers=self.headers, limits=self.limits
        ) as hub:
            answer = await hub.get_json("active_hosts")
        await self.aclose()
        self.config = config_from_active_hosts(self.config, answer, redirector)
        self.last_health = None
        return self.config

    # launching ---------------------------------------------------------------------------------
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
        """Launch on the routed member, failing over to the next one (by the policy) on a
        connection error, a 5xx or a full member; bounded by `max_attempts` and the stream
        limits' total deadline. Spec errors and other 4xx are raised at once.

        `via_redirector=True` lets the federation's redirector choose the first member, as a
        launch on mybinder.org does; failover then follows the policy."""
        resolved = as_spec(spec)
        ranking = await self.route(resolved, policy=policy)
        if via_redirector:
            resolution = await self.resolve(resolved)
            ranking = first_then(resolution.member, ranking)
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
            if session.timeline is not None:  # the member by its name, not its URL
                session.timeline = session.timeline.with_member(member.name)
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
        """Build `spec` on every (or each chosen) member at once, to warm their caches.

        Uses `build_only` where a hub allows it, else launches and shuts the session down
        at once. No session is left running, on success, failure, cancellation or Ctrl-C:
        an interruption stops every build, shuts down each session launched, then propagates.
        """
        resolved = as_spec(spec)
        targets = self._probe_targets(members)
        async with async_interruptible():
            health = await self.health(members=[m.name for m in targets])
            results, todo = skip_unhealthy(targets, health, include_unhealthy=include_unhealthy)
            jobs = [partial(self._prime_member, member, resolved, on_event) for member in todo]
            done = await async_run_all(jobs, grace=self.timeout + 5)
        results.update((result.member, result) for result in done)
        return [results[m.name] for m in targets]

    async def _prime_member(
        self,
        member: Member,
        spec: Spec,
        on_event: Callable[[str, BuildEvent], object] | None,
    ) -> PrimeResult:
        async with AsyncBinderHub(member.url, **self._member_options(member)) as hub:
            return await _prime_one(hub, member.name, spec, _tagged(on_event, member.name))


async def _probe(
    client: httpx.AsyncClient, url: str, what: str, timeout: float, limits: StreamLimits
) -> tuple[Versions | Health | BinderFedError, float]:
    """One probe request, timed; an error is an answer too.

    Isolated: whatever one member sends, it is that member's answer (unhealthy, with the
    reason), never an exception that would take every member's probes down with it."""
    started = time.monotonic()
    probe = AsyncBinderHub(url, client=client, timeout=timeout, limits=limits, retry=NO_RETRY)
    try:
        answer: Versions | Health = (
            await probe.versions() if what == "versions" else await probe.health()
        )
    except BinderFedError as error:
        return error, time.monotonic() - started
    except Exception as exc:  # noqa: BLE001 - a case the client does not type yet: still this member's
        msg = f"{what}: the answer could not be handled ({type(exc).__name__})"
        return ProtocolError(msg, hub=url), time.monotonic() - started
    return answer, time.monotonic() - started


def _member_answers(
    versions: tuple[Any, float] | None, health: tuple[Any, float] | None, timeout: float
) -> tuple[Versions | BinderFedError, Health | BinderFedError, float | None]:
    """A member's two probes as the health rules take them; None is a probe without answer."""

    def answer(probe: tuple[Any, float] | None, what: str) -> tuple[Any, float | None]:
        if probe is None:
            return StreamTimeout(f"{what}: no answer within {timeout:g} s (timed out)"), None
        return probe

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


async def _prime_one(
    hub: AsyncBinderHub, member: str, spec: Spec, callback: Callable[[BuildEvent], object] | None
) -> PrimeResult:
    result = _PrimeClock(member)
    method = "build-only"
    try:
        try:
            async with hub.build(spec, build_only=True) as stream:
                async for event in stream:
                    if callback is not None:
                        callback(event)
            return result(PrimeOutcome.OK, method, timeline=stream.timeline)
        except BinderFedError as error:
            if not _build_only_refused(error):
                raise
        method = "launch"
        async with await hub.launch(spec, on_event=callback) as session:
            pass  # shut down at once, whatever happens
        return result(PrimeOutcome.OK, method, timeline=session.timeline)
    except BinderFedError as error:
        return result(PrimeOutcome.FAILED, method, str(error))


publish(__name__)  # public classes show as binderfed_sdk.X
