"""The client of one BinderHub and its build stream, over the sans-I/O core (`_core.py`)."""

# async source: `_client.py` (BinderHub, BuildStream) is generated from this file by
# async source: `python .ci/unasync.py`; edit this one, then run the script.

from __future__ import annotations

import time
import types
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Self

import httpx
from httpx_sse import EventSource

from binderfed_sdk import _redact
from binderfed_sdk._concurrency._asyncio import async_checkpoint, async_sleep
from binderfed_sdk._errors import BinderFedError, ConfigError, ProtocolError, StreamClosed
from binderfed_sdk._lazy import publish
from binderfed_sdk._urls import endpoint, hub_root
from binderfed_sdk.hub._async_session import AsyncSession, aread_json_body
from binderfed_sdk.hub._core import (
    DEFAULT_TIMEOUT,
    IDENTITY,
    JSON_DEADLINE,
    USER_AGENT,
    BuildStreamCore,
    JsonBody,
    RetryPolicy,
    StreamLimits,
    as_error,
    parse_json_answer,
    probe_budget,
    redirect_not_a_url,
    retry_delay,
    session_origins,
    timeout_within,
    validate,
)
from binderfed_sdk.hub._events import BuildEvent
from binderfed_sdk.hub._models import Health, RateLimit, Versions
from binderfed_sdk.hub._timeline import Timeline, TimelineBuilder
from binderfed_sdk.spec._providers import PROVIDERS, ProviderRegistry, RepoProvider
from binderfed_sdk.spec._spec import Spec, parse

_redact.install()

__all__ = ["AsyncBinderHub", "AsyncBuildStream", "as_spec"]

EventCallback = Callable[[BuildEvent], object]

_HEALTH_STATUSES = frozenset({200, 503})


def as_spec(spec: Spec | str, providers: ProviderRegistry | None = None) -> Spec:
    """A `Spec` from a Spec, a spec string, a repository URL or a Binder link.

    A string's provider is looked up in `providers` (default: built in and installed).
    """
    return spec if isinstance(spec, Spec) else parse(spec, providers=providers)


class _AsyncGuardedStream(httpx.AsyncByteStream):
    """Hands every raw chunk to the core (deadline, line length) before httpx-sse sees it."""

    def __init__(self, inner: httpx.AsyncByteStream, core: BuildStreamCore) -> None:
        self._inner = inner
        self._core = core

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._core.on_bytes(chunk)
            await async_checkpoint()  # a stopped job leaves here, keepalives included
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class AsyncBuildStream:
    """The live events of one build, `ready` included; ends by raising on failure.

    Iterate it once. A `failed` event is not yielded: it is raised as `BuildFailed` (or
    `RateLimited` for a 429), carrying the event and the last log lines. The connection is
    closed as soon as `ready` or `failed` arrives (the hub may hold it open for a minute), when
    the loop is left early, or on `aclose()`.
    """

    def __init__(self, hub: AsyncBinderHub, core: BuildStreamCore) -> None:
        self._hub = hub
        self.core = core
        self._events: AsyncIterator[BuildEvent] | None = None
        #: stamps each event's arrival for the timeline (a test may set a scripted one)
        self.clock: Callable[[], float] = hub.clock
        self._timeline = TimelineBuilder()

    def __aiter__(self) -> AsyncIterator[BuildEvent]:
        if self._events is None:
            builder, clock = self._timeline, self.clock
            builder.origin = clock()

            def record(event: BuildEvent) -> None:
                builder.add(event, clock())

            self._events = _arun_stream(self._hub, self.core, record)
        return self._events

    async def aclose(self) -> None:
        if isinstance(self._events, types.AsyncGeneratorType):
            await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def log(self) -> list[str]:
        """The last log lines received, oldest first."""
        return self.core.log_lines

    @property
    def served_by(self) -> str:
        """The URL of the hub serving the build: the member, when the hub is a front door
        that redirects `/build` (as mybinder.org does); else the hub itself."""
        return self.core.served_by

    @property
    def timeline(self) -> Timeline:
        """Where the time went so far: the steps, each with its start and duration."""
        return self._timeline.timeline(member=self.core.served_by)


async def _arun_stream(
    hub: AsyncBinderHub, core: BuildStreamCore, record: EventCallback
) -> AsyncIterator[BuildEvent]:
    # a function, not a method: a generator holding its stream would make a reference cycle,
    # and a loop left early would then keep the connection open until the next gc
    attempt = 0
    while True:
        attempt += 1
        core.restart()
        try:
            async with _BuildConnection(hub, core) as response:
                core.check_response(response.status_code, response.headers)
                hub.rate_limit = core.rate_limit
                _set_body_read_timeout(response, core.body_read_timeout())
                assert isinstance(response.stream, httpx.AsyncByteStream)  # noqa: S101
                response.stream = _AsyncGuardedStream(response.stream, core)
                async for sse in EventSource(response).aiter_sse():
                    event = core.on_event(sse.data)
                    if event is not None:
                        record(event)
                        yield event
                        if core.finished:
                            return
                core.on_eof()
        except (httpx.HTTPError, BinderFedError) as exc:
            hub.rate_limit = core.rate_limit
            error = as_error(core.served_by, "build", exc, streaming=True, responded=core.responded)
            delay = core.retry_delay(hub.retry, attempt, error)
            if delay is None:
                failed = getattr(error, "event", None)
                if isinstance(failed, BuildEvent):  # the timeline ends with the failure
                    record(failed)
                # not chained: an httpx error's request is the URL, `build_token` included
                raise error from None
            await async_sleep(delay)


class _BuildConnection:
    """The `/build` request, sent, with a front door's one redirect followed (the core decides
    whether it may be: `BuildStreamCore.follow`); the answer is closed on exit.

    To another origin (a member on its own host), only the protocol's own headers go: the
    caller's headers, cookies and client auth were for the front door. The build token goes
    where the front door's Location takes it: it is a capability for this one build (its
    audience is the spec), which the federation's members verify, not a front-door credential.
    """

    def __init__(self, hub: AsyncBinderHub, core: BuildStreamCore) -> None:
        self._hub = hub
        self._core = core
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        core = self._core
        self._response = await self._send()
        if core.follows(self._response.status_code):
            location = self._response.headers.get("location")
            await self._response.aclose()
            core.follow(self._response.status_code, location)  # raises if it may not be
            self._response = await self._send()
        return self._response

    async def __aexit__(self, *exc_info: object) -> None:
        if self._response is not None:
            await self._response.aclose()

    async def _send(self) -> httpx.Response:
        hub, core = self._hub, self._core
        request = hub.client.build_request(
            "GET",
            core.url,
            params=core.params,
            headers=core.headers,
            timeout=core.timeout(hub.timeout),
        )
        for name in core.drop_headers(request.headers):
            del request.headers[name]
        cross_origin = core.redirect is not None and core.redirect.cross_origin
        try:
            return await hub.client.send(
                request,
                stream=True,
                follow_redirects=False,  # even on a client of the caller's that follows them
                auth=None if cross_origin else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.InvalidURL:
            raise redirect_not_a_url(core.served_by, "build") from None


def _set_body_read_timeout(response: httpx.Response, seconds: float) -> None:
    """The answer came within the request's read timeout; the body's reads get `seconds`.
    httpcore takes the read timeout from the request's `timeout` extension when the body is
    first read, so it is changed there, before that (test_gone_and_stuck.py checks both)."""
    timeouts = dict(response.request.extensions.get("timeout") or {})
    timeouts["read"] = seconds
    response.request.extensions["timeout"] = timeouts


class AsyncBinderHub:
    """A client of one BinderHub (default: mybinder.org).

    >>> async with AsyncBinderHub() as hub:
    ...     async for event in hub.build("gh/binder-examples/requirements/HEAD"):
    ...         print(event.phase, event.log_line)

    Pass `client=` to bring your own httpx client (proxies, certificates, a transport); it is
    then yours to close.

    A front door such as mybinder.org answers `/build` with a 307 to one of its members: that
    one redirect is followed (same scheme or an upgrade to https, never a downgrade, and to
    another origin without the caller's headers, cookies or auth); events and the session
    name the member in `hub`. Every other redirect is an error.

    The session token of a `ready` event goes only to a session URL on the host of the hub
    that served the build (after a front door's redirect, the member), on any port, or on a
    subdomain of it (mybinder.org's member 2i2c.mybinder.org launches on
    hub.2i2c.mybinder.org), and never over http from an https hub. `allow_session_origins`
    allows more: True for any origin, or origins (`https://hub.example.org`) and hosts
    (`hub.example.org`, `127.0.0.1:8001`). Another URL raises `SessionOriginRefused`.
    """

    def __init__(
        self,
        url: str = "https://mybinder.org",
        *,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        limits: StreamLimits | None = None,
        retry: RetryPolicy | None = None,
        allow_session_origins: bool | Iterable[str] = False,
    ) -> None:
        self.url = hub_root(url)
        #: where a `ready` event's session URL may be, besides the default (see above)
        self.allow_session_origins = session_origins(allow_session_origins)
        self.headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.limits = limits or StreamLimits()
        self.retry = retry or RetryPolicy()
        #: the `x-ratelimit-*` headers of the last `/build` answer that had them (BinderHub
        #: sends none with its refusal: they are kept until the next allowed answer)
        self.rate_limit: RateLimit | None = None
        #: the providers this hub's specs may name: built in and installed, and once
        #: `providers()` has read them, the ones the hub lists
        self.repo_providers: ProviderRegistry = PROVIDERS
        #: the clock the build streams' timelines are stamped with (seconds, monotonic)
        self.clock: Callable[[], float] = time.monotonic
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(
            headers=self.headers, timeout=self.timeout, follow_redirects=False
        )
        if client is not None:
            self.client.headers.update(self.headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_redact.redact(self.url)!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _get_json(
        self,
        path: str,
        what: str,
        ok_statuses: frozenset[int] = frozenset({200}),
        *,
        budget: float = JSON_DEADLINE,
    ) -> tuple[int, Any]:
        """GET JSON, retried by the policy; all attempts together take at most `budget` s."""
        attempt, deadline = 0, time.monotonic() + budget
        while True:
            attempt += 1
            try:
                async with self.client.stream(
                    "GET",
                    endpoint(self.url, path),
                    headers=IDENTITY,
                    timeout=timeout_within(self.timeout, deadline),
                    follow_redirects=False,  # a redirect here is an error, whatever the client
                ) as response:
                    body = await aread_json_body(
                        response, JsonBody(self.url, what, self.limits.max_json_bytes)
                    )
                data = parse_json_answer(
                    self.url,
                    what,
                    response.status_code,
                    response.headers,
                    body,
                    ok_statuses=ok_statuses,
                )
            except httpx.InvalidURL:
                raise redirect_not_a_url(self.url, what) from None
            except (httpx.HTTPError, BinderFedError) as exc:
                error = as_error(self.url, what, exc)
                delay = retry_delay(self.retry, attempt, error, deadline)
                if delay is None:
                    raise error from None
                await async_sleep(delay)
            else:
                return response.status_code, data

    async def get_json(self, path: str) -> Any:
        """GET any JSON endpoint under the hub (a redirector's `active_hosts`, say)."""
        _, data = await self._get_json(path, path)
        return data

    async def health(self) -> Health:
        """`/health`, typed; a 503 with a health body is an answer (ok=False), not an error.

        A probe: it gives up within one timeout, retries included (a hub that accepts the
        connection and never answers is unhealthy, not worth waiting for)."""
        status, data = await self._get_json(
            "health", "health", _HEALTH_STATUSES, budget=probe_budget(self.timeout)
        )
        return validate(self.url, "health", Health, data, status_code=status)

    async def versions(self) -> Versions:
        _, data = await self._get_json("versions", "versions")
        return validate(self.url, "versions", Versions, data)

    async def providers(self) -> list[RepoProvider]:
        """The hub's repository providers, as it lists them in `/api/repoproviders`.

        Each comes with the most precise rules known (built in, an installed plug-in's, else
        what the listing says) under the hub's name for it. From then on `repo_providers`
        knows them all, so `build("<its prefix>/...")` takes a provider only this hub has.
        """
        _, data = await self._get_json("api/repoproviders", "providers")
        try:
            self.repo_providers, listed = ProviderRegistry.from_listing(data, hub=self.url)
        except ConfigError as exc:
            raise ProtocolError(f"providers: {exc}", hub=self.url) from None
        return listed

    def build(
        self, spec: Spec | str, *, build_only: bool = False, build_token: str | None = None
    ) -> AsyncBuildStream:
        """Stream the build of `spec` (a Spec, spec string, repository URL or Binder link)."""
        core = BuildStreamCore(
            hub=self.url,
            build_path=as_spec(spec, self.repo_providers).build_path,
            limits=self.limits,
            build_only=build_only,
            build_token=build_token,
            rate_limit=self.rate_limit,
        )
        return AsyncBuildStream(self, core)

    async def launch(
        self,
        spec: Spec | str,
        *,
        urlpath: str | None = None,
        build_token: str | None = None,
        on_event: EventCallback | None = None,
    ) -> AsyncSession:
        """Build and launch `spec`; returns the running session. Raises on failure."""
        resolved = as_spec(spec, self.repo_providers)
        session: AsyncSession | None = None
        try:
            async with self.build(resolved, build_token=build_token) as stream:
                async for event in stream:
                    if on_event is not None:
                        on_event(event)
                    if event.is_ready:
                        session = AsyncSession.from_ready(
                            stream.served_by,
                            event,
                            spec=resolved,
                            urlpath=urlpath,
                            timeout=self.timeout,
                            allow_session_origins=self.allow_session_origins,
                        )
                        session.max_json_bytes = self.limits.max_json_bytes
                        session.timeline = stream.timeline
                        if stream.served_by != self.url:
                            session.front_door = self.url
                        break
        except BaseException:
            if session is not None:  # interrupted while closing the stream after `ready`
                await session.shutdown()
            raise
        if session is None:  # unreachable in practice: a stream without `ready` raises
            msg = "launch: the build ended without a `ready` event"
            raise StreamClosed(msg, hub=self.url)
        return session


publish(__name__)  # public classes show as binderfed_sdk.X
