"""BinderHub's HTTP surface, server side: one implementation for every server that speaks it.

`Surface(backend).application()` is a tornado application answering as BinderHub does:

- `GET /build/<provider>/<spec>`: the event stream. The spec is taken raw from the path (never
  unquoted). Admission, in BinderHub's order: `Accept: text/event-stream` (else a 400 `failed`
  event), the `build_token` query argument (a bad one: 403), the per-IP rate limit (429, with
  `x-ratelimit-*` headers on allowed answers), `build_only=true` (400 unless the backend runs in
  API-only mode), a known provider. Refusals are HTTP 200 with one `failed` event, as an event
  stream cannot carry an error status. Then `:keepalive` comments come every
  `keepalive_interval` seconds while the backend's build writes its events; the response ends
  when the build returns. When the client leaves or the server stops, the build is cancelled.
- `GET`/`HEAD /health` (503 when not ok), `GET /versions` (CORS `*`), `GET /api/repoproviders`,
  `GET /metrics` (Prometheus text), `GET /v2/<provider>/<spec>` (the launch page, whose page
  config carries a build token), and a 404 page for anything else.

What a server builds, and how it misbehaves on purpose (a test server), is its `Backend`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass, field
from http.client import responses
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn, TypeVar

import jwt
import tornado.httpserver
import tornado.httputil
import tornado.web
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from binderfed_sdk._redact import redact

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Mapping

__all__ = [
    "KEEPALIVE",
    "Answer",
    "Backend",
    "BuildRequest",
    "BuildStream",
    "ClientGone",
    "Counters",
    "RateLimit",
    "RateLimiter",
    "Surface",
    "check_build_token",
    "encode_event",
    "log_request",
    "loopback_hosts",
    "make_build_token",
]

_T = TypeVar("_T")
_access_log = logging.getLogger("tornado.access")

KEEPALIVE = b":keepalive\n\n"
#: BinderHub's default is 300 s; the sandbox's pages are left open longer
BUILD_TOKEN_EXPIRES = 3600.0
_HTML = "text/html; charset=UTF-8"

Endpoint = Literal["build", "health", "versions", "repoproviders", "metrics", "launch", "other"]


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, with `token=` / `build_token=` values masked."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    request = handler.request
    millis = 1000.0 * request.request_time()
    uri = redact(request.uri or "")
    _access_log.log(level, f"{status} {request.method} {uri} ({request.remote_ip}) {millis:.1f}ms")


def encode_event(data: dict[str, Any] | bytes) -> bytes:
    """One server-sent event as BinderHub writes it: `data: <json>` and a blank line
    (`bytes` are a JSON payload encoded already)."""
    payload = data if isinstance(data, bytes) else json.dumps(data).encode()
    return b"data: " + payload + b"\n\n"


# build tokens ---------------------------------------------------------------------------------


def make_build_token(
    secret: bytes, provider_spec: str, *, origin: str, expires_in: float = BUILD_TOKEN_EXPIRES
) -> str:
    """A build token as BinderHub's launch page issues it: an HS256 JWT whose audience is
    `"<provider>/<spec>"`, with the host the page was asked from as `origin`."""
    claims = {"exp": int(time.time() + expires_in), "aud": provider_spec, "origin": origin}
    return jwt.encode(claims, secret, algorithm="HS256")


def check_build_token(token: str, secret: bytes, provider_spec: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token for `provider_spec`, else None."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=provider_spec,
            options={"require": ["exp", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    return claims


def token_origin(request: tornado.httputil.HTTPServerRequest) -> str:
    """The origin build tokens name: the `Origin` header's host, else the `Host` header."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return urllib.parse.urlsplit(origin).netloc
    return request.headers.get("Host", "")


# the backend ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """A `/build` request that was admitted."""

    provider: str
    #: raw from the path (BinderHub never unquotes it), trailing `/` stripped
    spec: str
    #: the request path, without the query
    path: str
    client_ip: str
    build_only: bool
    #: it came with a valid build token (so the rate limit was not applied)
    with_token: bool


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A client's rate limit after counting one more request."""

    limit: int
    #: below 0: the request is refused
    remaining: int
    #: epoch seconds
    reset: int
    #: the window's length: BinderHub's refusal names it ("Try again in <period> seconds"),
    #: not the time left in the window
    period: int = 3600


@dataclass(frozen=True, slots=True)
class Counters:
    builds: int = 0
    launches: int = 0
    builds_in_progress: int = 0


@dataclass(frozen=True, slots=True)
class Answer:
    """A plain HTTP answer in place of what an endpoint would say (a misbehaving hub)."""

    status: int = 200
    body: str = ""
    content_type: str = _HTML
    headers: Mapping[str, str] = field(default_factory=dict)


class ClientGone(Exception):
    """The client left, or the server is stopping: the build ends here."""


class RateLimiter:
    """BinderHub's limit: `limit` `/build` requests per client per period, each client's
    window opening at its first request; requests past the limit still count."""

    CLEAN_EVERY = 60

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = int(period)
        self._windows: dict[str, list[int]] = {}  # key: [remaining, reset]
        self._cleaned = 0

    def take(self, key: str) -> RateLimit:
        now = int(time.time())
        if now - self._cleaned > self.CLEAN_EVERY:  # memory stays bounded by active clients
            self._windows = {k: w for k, w in self._windows.items() if w[1] >= now}
            self._cleaned = now
        window = self._windows.get(key)
        if window is None or window[1] < now:
            window = self._windows[key] = [self.limit, now + self.period]
        window[0] -= 1
        return RateLimit(self.limit, window[0], window[1], self.period)


class Backend:
    """What a BinderHub-speaking server supplies. Defaults are BinderHub's."""

    #: signs and checks build tokens
    secret: bytes
    keepalive_interval: float = 25.0
    #: `build_only=true` is allowed
    api_only: bool = False
    #: refuse tokens issued for another origin (BinderHub's `build_token_check_origin`)
    check_token_origin: bool = True
    #: a refused request gets `x-ratelimit-*` headers too (BinderHub sets them only once a
    #: request is allowed, so its refusal has none)
    rate_headers_on_refusal: bool = False

    async def build(self, request: BuildRequest, stream: BuildStream) -> None:
        """Write the build's events to `stream`, from `waiting` to `ready` or `failed`."""
        raise NotImplementedError

    async def health(self) -> dict[str, Any]:
        """`{"ok": bool, "checks": [...]}`."""
        raise NotImplementedError

    def versions(self) -> dict[str, Any]:
        raise NotImplementedError

    def repo_providers(self) -> list[dict[str, Any]]:
        """The providers' display configs (`/api/repoproviders`, and the launch page's)."""
        raise NotImplementedError

    def counters(self) -> Counters:
        return Counters()

    def take_rate(self, client_ip: str) -> RateLimit | None:  # noqa: ARG002
        """Count one `/build` request of a client without a build token (None: no limit)."""
        return None

    async def intercept(
        self,
        endpoint: Endpoint,  # noqa: ARG002
        request: tornado.httputil.HTTPServerRequest,  # noqa: ARG002
    ) -> Answer | None:
        """Called first for every request (cancelled if the client leaves): an answer to send
        instead of the endpoint's own."""
        return None


# the stream -----------------------------------------------------------------------------------


class BuildStream:
    """Where a backend writes a build's events. Each write is flushed; a write raises
    `ClientGone` once the client has left or the server is stopping."""

    def __init__(self, handler: _BuildHandler) -> None:
        self._handler = handler
        self.muted = False

    async def emit(
        self, event: dict[str, Any] | bytes, *, flushed_at: list[float] | None = None
    ) -> None:
        """One `data:` event (`bytes`: its JSON, encoded already). With `flushed_at`, append
        `time.perf_counter()` as soon as the bytes were handed to the socket."""
        await self._handler.send(encode_event(event), flushed_at)

    async def fail(self, message: str, status_code: int | None = None) -> None:
        """A `failed` event; its message ends with a newline, as all of BinderHub's do."""
        await self.emit(_failed(message, status_code))

    async def write_raw(self, data: bytes) -> None:
        """Bytes as they are. Keepalives may come between two writes: write whole frames
        (or `mute()` first)."""
        await self._handler.send(data, None)

    async def flush(self) -> None:
        """Send the headers (and anything written) now."""
        await self._handler.send(b"", None)

    def mute(self) -> None:
        """No more keepalive comments on this stream."""
        self.muted = True

    def drop(self) -> None:
        """Close the connection without ending the response (an unexpected end)."""
        self._handler.close_connection()
        raise ClientGone

    def answer(self, answer: Answer) -> None:
        """Answer plain HTTP instead of the event stream (before anything was written)."""
        self._handler.answer(answer)


def _failed(message: str, status_code: int | None) -> dict[str, Any]:
    event: dict[str, Any] = {"phase": "failed"}
    if status_code is not None:
        event["status_code"] = status_code
    event["message"] = message if message.endswith("\n") else message + "\n"
    return event


# the handlers ---------------------------------------------------------------------------------


class _Handler(tornado.web.RequestHandler):
    endpoint: ClassVar[Endpoint] = "other"

    def initialize(self, surface: Surface) -> None:
        self.surface = surface
        self.backend = surface.backend
        self._gone = False
        self._task: asyncio.Future[Any] | None = None

    async def prepare(self) -> None:
        allowed = self.surface.allowed_hosts
        if allowed is not None and (self.request.host or "").lower() not in allowed:
            self.answer(Answer(403, "Host not allowed\n", "text/plain; charset=UTF-8"))
            return
        self.surface.active.add(self)
        substitute = await self.guarded(self.backend.intercept(self.endpoint, self.request))
        if substitute is not None:
            self.answer(substitute)

    # lifecycle: the client leaving, or the server stopping, cancels the work in progress
    def on_connection_close(self) -> None:
        self._leave()

    def on_finish(self) -> None:
        self.surface.active.discard(self)

    def abort(self) -> None:
        """The server stops: cancel the work and drop the connection."""
        self._leave()
        self.close_connection()

    def _leave(self) -> None:
        self._gone = True
        self.surface.active.discard(self)
        if self._task is not None:
            self._task.cancel()

    def close_connection(self) -> None:
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.close()

    async def guarded(self, work: Awaitable[_T]) -> _T:
        """`await work`, cancelled as soon as the client leaves or the server stops; then
        (or when the work finds the client gone) the connection is dropped, the request ends."""
        if self._gone or self.surface.closing:
            self._end_here()
        task = asyncio.ensure_future(work)
        self._task = task
        try:
            await asyncio.wait([task])
        finally:
            self._task = None
        if task.cancelled():
            self._end_here()
        try:
            return task.result()
        except (ClientGone, StreamClosedError):
            self._end_here()

    def _end_here(self) -> NoReturn:
        self.close_connection()
        raise tornado.web.Finish from None

    # answers
    def answer(self, answer: Answer) -> None:
        self.clear()
        self.set_status(answer.status, reason=responses.get(answer.status, "Unknown"))
        self.set_header("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            self.set_header(name, value)
        self.finish(answer.body)

    def write_json(self, data: Any, status: int = 200) -> None:
        self.answer(Answer(status, json.dumps(data), "application/json"))

    def raw_spec(self, prefix: str) -> str:
        """The spec as it stands in the path: BinderHub takes it raw, never unquoted."""
        path = self.request.path
        return path[path.index(prefix) + len(prefix) :]


class _NotFoundHandler(_Handler):
    async def prepare(self) -> None:
        await super().prepare()
        if not self._finished:
            body = "<!DOCTYPE html><html><body><h1>404: Not Found</h1></body></html>"
            self.answer(Answer(404, body))


class _VersionsHandler(_Handler):
    endpoint = "versions"

    def set_default_headers(self) -> None:
        self.set_header("Access-Control-Allow-Origin", "*")

    def get(self) -> None:
        self.write_json(self.backend.versions())


class _HealthHandler(_Handler):
    endpoint = "health"

    async def get(self) -> None:
        health = await self.guarded(self.backend.health())
        self.write_json(health, 200 if health["ok"] else 503)

    async def head(self) -> None:
        health = await self.guarded(self.backend.health())
        self.answer(Answer(200 if health["ok"] else 503, content_type="application/json"))


class _RepoProvidersHandler(_Handler):
    endpoint = "repoproviders"

    def get(self) -> None:
        self.write_json(self.backend.repo_providers())


class _MetricsHandler(_Handler):
    endpoint = "metrics"

    def get(self) -> None:
        counters = self.backend.counters()
        lines = []
        for name, kind, text, value in (
            ("binderhub_build_count_total", "counter", "Counter of builds", counters.builds),
            ("binderhub_launch_count_total", "counter", "Counter of launches", counters.launches),
            ("binderhub_inprogress_builds", "gauge", "Builds currently in progress",
             counters.builds_in_progress),
        ):  # fmt: skip
            labels = '{status="success"}' if kind == "counter" else ""
            lines += [
                f"# HELP {name} {text}",
                f"# TYPE {name} {kind}",
                f"{name}{labels} {value:.1f}",
            ]
        content_type = "text/plain; version=0.0.4; charset=utf-8"
        self.answer(Answer(200, "\n".join(lines) + "\n", content_type))


class _LaunchPageHandler(_Handler):
    endpoint = "launch"

    def get(self, provider: str, _spec: str) -> None:
        spec = self.raw_spec(f"/v2/{provider}/")
        backend = self.backend
        token = make_build_token(
            backend.secret, f"{provider}/{spec}", origin=token_origin(self.request)
        )
        page_config = {
            "baseUrl": "/",
            "badgeBaseUrl": f"{self.request.protocol}://{self.request.host}/",
            "logoUrl": "/static/logo.svg",
            "logoWidth": "320px",
            "repoProviders": backend.repo_providers(),
            "aboutMessage": "",
            "bannerHtml": "",
            "binderVersion": str(backend.versions().get("binderhub", "")),
            "buildToken": token,
        }
        # as Jinja's `tojson`: nothing in it can close the script element
        config = json.dumps(page_config)
        for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            config = config.replace(char, escaped)
        self.answer(
            Answer(
                200,
                "<!DOCTYPE html>\n<html>\n<head>\n<title>Binder</title>\n"
                f"<script>window.pageConfig = {config};</script>\n</head>\n"
                '<body>\n<div id="root"></div>\n</body>\n</html>\n',
            )
        )


class _BuildHandler(_Handler):
    endpoint = "build"
    _counted = False

    def _leave(self) -> None:
        self._uncount()
        super()._leave()

    def on_finish(self) -> None:
        self._uncount()
        super().on_finish()

    def _uncount(self) -> None:
        if self._counted:
            self._counted = False
            self.surface.open_streams -= 1

    # writing: one flush at a time (tornado resolves only the latest of overlapping flushes)
    _writing: asyncio.Lock

    async def send(self, data: bytes, flushed_at: list[float] | None) -> None:
        async with self._writing:
            if self._gone or self.surface.closing or self._finished:
                raise ClientGone
            if data:
                self.write(data)
            future = self.flush()
            if flushed_at is not None:
                flushed_at.append(time.perf_counter())
            await future

    def refuse(self, status_code: int, message: str) -> None:
        """As BinderHub's `send_error` on the stream: one `failed` event, HTTP 200, the end."""
        self.finish(encode_event(_failed(message, status_code)))

    async def _keepalive(self, stream: BuildStream) -> None:
        with contextlib.suppress(StreamClosedError, RuntimeError):
            while True:
                interval = self.backend.keepalive_interval
                await asyncio.sleep(min(max(interval, 0.01), 3600.0))
                if stream.muted:
                    continue
                async with self._writing:
                    if self._finished or self._gone:
                        return
                    self.write(KEEPALIVE)
                    await self.flush()

    def _rate_headers(self, rate: RateLimit) -> None:
        self.set_header("x-ratelimit-limit", str(rate.limit))
        self.set_header("x-ratelimit-remaining", str(max(rate.remaining, 0)))
        self.set_header("x-ratelimit-reset", str(rate.reset))

    def _token_ok(self, token: str, provider_spec: str) -> bool:
        claims = check_build_token(token, self.backend.secret, provider_spec)
        if claims is None:
            return False
        return not self.backend.check_token_origin or claims.get("origin") == token_origin(
            self.request
        )

    async def get(self, provider: str, _spec: str) -> None:
        self.surface.open_streams += 1
        self._counted = True
        backend = self.backend
        spec = self.raw_spec(f"/build/{provider}/")
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            self.refuse(400, "Missing Accept header: text/event-stream")
            return
        token = self.get_query_argument("build_token", None)
        with_token = bool(token)
        if token and not self._token_ok(token, f"{provider}/{spec}"):
            self.refuse(403, "Invalid build token")
            return
        client_ip = self.request.remote_ip or "127.0.0.1"
        rate = None if with_token else backend.take_rate(client_ip)
        if rate is not None:
            if rate.remaining >= 0 or backend.rate_headers_on_refusal:
                self._rate_headers(rate)
            if rate.remaining < 0:  # BinderHub's text: the window's length, not the time left
                self.refuse(429, f"Rate limit exceeded. Try again in {rate.period} seconds.")
                return
        build_only = self.get_query_argument("build_only", "").lower() == "true"
        if build_only and not backend.api_only:
            self.refuse(400, "Build only mode is not enabled")
            return
        if provider not in {p.get("id") for p in backend.repo_providers()}:
            self.finish(encode_event(_failed(f"No provider found for prefix {provider}", None)))
            return
        request = BuildRequest(
            provider=provider,
            spec=spec.rstrip("/"),
            path=self.request.path,
            client_ip=client_ip,
            build_only=build_only,
            with_token=with_token,
        )
        stream = BuildStream(self)
        self._writing = asyncio.Lock()
        keepalive = asyncio.ensure_future(self._keepalive(stream))
        try:
            await self.guarded(backend.build(request, stream))
        finally:
            keepalive.cancel()
        # the end: BinderHub closes its streams after ready or failed (the backend may have
        # held it open a while first, as BinderHub does after a launch)


# the application ------------------------------------------------------------------------------


def loopback_hosts(port: int) -> frozenset[str]:
    """The `Host` values of a server on 127.0.0.1:`port` (`localhost` too)."""
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})


class Surface:
    """BinderHub's endpoints over one backend, with the streams and requests in progress.

    `allowed_hosts`: when given, a request whose `Host` header is not one of them (lower
    case, with the port) gets a 403 and nothing else (against DNS rebinding: a hostile
    page's own name, resolving to 127.0.0.1, comes as its Host).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        log_function: Callable[[tornado.web.RequestHandler], None] | None = log_request,
        allowed_hosts: Collection[str] | None = None,
    ) -> None:
        self.backend = backend
        self.allowed_hosts = (
            frozenset(h.lower() for h in allowed_hosts) if allowed_hosts is not None else None
        )
        self.log_function = log_function
        #: `/build` requests being answered
        self.open_streams = 0
        self.closing = False
        #: requests being answered, to cancel when the server stops
        self.active: set[_Handler] = set()

    def application(self) -> tornado.web.Application:
        kwargs = {"surface": self}
        return tornado.web.Application(
            [
                (r"/build/([^/]+)/(.+)", _BuildHandler, kwargs),
                (r"/health", _HealthHandler, kwargs),
                (r"/versions", _VersionsHandler, kwargs),
                (r"/api/repoproviders", _RepoProvidersHandler, kwargs),
                (r"/v2/([^/]+)/(.+)", _LaunchPageHandler, kwargs),
                (r"/metrics", _MetricsHandler, kwargs),
            ],
            default_handler_class=_NotFoundHandler,
            default_handler_args=kwargs,
            log_function=self.log_function or (lambda _handler: None),
        )

    async def shutdown(self, server: tornado.httpserver.HTTPServer, timeout: float = 3.0) -> None:
        """Stop listening, cancel every request in progress and close every connection,
        within about `timeout` seconds."""
        self.closing = True
        server.stop()
        for handler in list(self.active):
            handler.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), timeout=timeout * 2 / 3)
        deadline = time.monotonic() + timeout / 3
        while self.active and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)

    def reopen(self) -> None:
        """Serve again after a shutdown."""
        self.closing = False
