"""WireHub: a real HTTP server speaking BinderHub's wire format, for tests and benchmarks.

The server is a tornado application bound to ``127.0.0.1`` on a random free port. It runs
its own IOLoop in a daemon thread and is started and stopped by the :class:`WireHub`
context manager::

    with WireHub() as hub:
        httpx.get(hub.url + "versions")

The build stream ``GET /build/<provider>/<spec>`` picks a *scenario* from the second
segment of the spec (for ``gh`` that is the repository name), so a single server serves
every case: ``/build/gh/someone/fixture/HEAD`` replays the real BinderHub capture,
``/build/gh/someone/failed-500/HEAD`` ends in a ``failed`` event with ``status_code: 500``,
and so on (see :data:`SCENARIOS`). Unknown names behave like ``fixture``.

The knobs documented on :class:`WireHub` are plain attributes, read on every request, so a
test can change them while the server runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import re
import secrets
import threading
import time
from http.client import responses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from binderfed_sdk.sandbox._thread import ServerThread
from binderfed_sdk.sandbox.wire import make_jwt, verify_jwt

if TYPE_CHECKING:
    import socket

__all__ = [
    "FIXTURE_BYTES",
    "FIXTURE_NAME",
    "SCENARIOS",
    "WireHub",
    "fixture_events",
    "flood_event",
    "make_jwt",
    "verify_jwt",
]

FIXTURE_NAME = "binderhub-fakebuild-launch.sse"

# A copy of /work/shared/fixtures/binderhub-fakebuild-launch.sse, used when the shared file
# cannot be found (e.g. the tests run from another checkout). test_wirehub.py checks that
# the two are byte-for-byte identical whenever the shared file exists.
_EMBEDDED_FIXTURE = (
    b'data: {"phase": "waiting", "message": "Waiting for build to start...\\n"}\n\n'
    b'data: {"phase": "Pending", "message": "Pending...\\n"}\n\n'
    b'data: {"phase": "Running", "message": "Running...\\n"}\n\n'
    b'data: {"phase": "Succeed", "message": "Succeed...\\n"}\n\n'
    + b'data: {"phase": "Building", "message": "Building...\\n"}\n\n'
    * 6
    + b'data: {"phase": "built", "message": "Built image, launching...\\n", "imageName": '
    b'"binder-2dexamples-2drequirements-55ab5c:889df439043caafa1093559b5fa8a31e417f41fc"}\n\n'
    b'data: {"phase": "launching", "message": "Launching server...\\n"}\n\n'
    b'data: {"phase": "launching", "message": "Server ready at '
    b'/user/binder-examples-requirements-jizsmkt1/\\n"}\n\n'
    b'data: {"phase": "ready", "message": "server running at '
    b'http://127.0.0.1:8000/user/binder-examples-requirements-jizsmkt1/\\n", "image": '
    b'"binder-2dexamples-2drequirements-55ab5c:889df439043caafa1093559b5fa8a31e417f41fc", '
    b'"repo_url": "https://github.com/binder-examples/requirements", "token": '
    b'"sCpEZz2YSJq6iRYjC_L7TA", "binder_ref_url": '
    b'"https://github.com/binder-examples/requirements/tree/'
    b'889df439043caafa1093559b5fa8a31e417f41fc", "binder_launch_host": '
    b'"http://127.0.0.1:8585/", "binder_request": "v2/gh/binder-examples/requirements/HEAD", '
    b'"binder_persistent_request": '
    b'"v2/gh/binder-examples/requirements/889df439043caafa1093559b5fa8a31e417f41fc", '
    b'"binder_client_ip": "127.0.0.1", "url": '
    b'"http://127.0.0.1:8000/user/binder-examples-requirements-jizsmkt1/"}\n\n'
    b":keepalive\n\n"
    b":keepalive\n\n"
)


def _find_fixture() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "fixtures" / FIXTURE_NAME
        if candidate.is_file():
            return candidate
    return None


_FIXTURE_PATH = _find_fixture()
FIXTURE_PATH: Path | None = _FIXTURE_PATH
FIXTURE_BYTES: bytes = _FIXTURE_PATH.read_bytes() if _FIXTURE_PATH else _EMBEDDED_FIXTURE


def fixture_events(raw: bytes = FIXTURE_BYTES) -> list[bytes]:
    """The JSON payloads (raw bytes, exactly as captured) of the ``data:`` lines of a stream."""
    return [
        line[len(b"data: ") :]
        for line in raw.replace(b"\r\n", b"\n").split(b"\n")
        if line.startswith(b"data: ")
    ]


_FIXTURE_DATA: list[bytes] = fixture_events()
_FIXTURE_READY: dict[str, Any] = json.loads(_FIXTURE_DATA[-1])

SCENARIOS: tuple[str, ...] = (
    "fixture",
    "instant",
    "keepalive-only",
    "silent",
    "drop",
    "truncated",
    "failed-<code>",
    "failed-build",
    "too-many-users",
    "retry-then-ok",
    "http-<code>",
    "html",
    "huge-line",
    "bad-json",
    "no-phase",
    "slow-<ms>",
    "flood-<n>",
    "tick-<n>-<ms>",
)

_FAILED_RE = re.compile(r"failed-(\d{3})")
_HTTP_RE = re.compile(r"http-(\d{3})")
_SLOW_RE = re.compile(r"slow-(\d+)")
_FLOOD_RE = re.compile(r"flood-(\d+)")
_TICK_RE = re.compile(r"tick-(\d+)-(\d+)")

KEEPALIVE = b":keepalive\n\n"
HUGE_MESSAGE_BYTES = 10 * 1024 * 1024
FLOOD_CHUNK_BYTES = 64 * 1024

HTML_PAGE = (
    "<!DOCTYPE html>\n<html>\n<head><title>Sign in</title></head>\n<body>\n"
    '<form method="post" action="/login"><input name="username"><input name="password" '
    'type="password"><button type="submit">Sign in</button></form>\n</body>\n</html>\n'
)

DEFAULT_VERSIONS: dict[str, Any] = {
    "builder_info": {"build_image": "quay.io/jupyterhub/repo2docker:2025.08.0"},
    "binderhub": "1.0.0",
}

REPO_PROVIDERS: list[dict[str, Any]] = [
    {
        "displayName": "GitHub",
        "id": "gh",
        "spec": {"validateRegex": ".+/.+/.+"},
        "repo": {
            "label": "GitHub repository name or URL",
            "placeholder": "example: binder-examples/requirements or "
            "https://github.com/binder-examples/requirements",
        },
        "ref": {"enabled": True, "default": "HEAD"},
    },
    {
        "displayName": "GitHub Gist",
        "id": "gist",
        "spec": {"validateRegex": ".+/.+"},
        "repo": {"label": "Gist ID (username/gistId) or URL", "placeholder": ""},
        "ref": {"enabled": True, "default": "HEAD"},
    },
    {
        "displayName": "GitLab.com",
        "id": "gl",
        "spec": {"validateRegex": ".+/.+"},
        "repo": {
            "label": "GitLab.com repository or URL",
            "placeholder": "https://gitlab.com/mosaik/examples/mosaik-tutorials-on-binder",
            "urlEncode": True,
        },
        "ref": {"enabled": True, "default": "HEAD"},
    },
    {
        "displayName": "Git repository",
        "id": "git",
        "spec": {"validateRegex": ".+/.+"},
        "repo": {
            "label": "Arbitrary git repository URL (http://git.example.com/repo)",
            "placeholder": "",
            "urlEncode": True,
        },
        "ref": {"enabled": True, "default": "HEAD"},
    },
    {
        "displayName": "Zenodo DOI",
        "id": "zenodo",
        "spec": {"validateRegex": "10\\.\\d+/.+"},
        "repo": {"label": "Zenodo DOI", "placeholder": "example: 10.5281/zenodo.3242074"},
        "ref": {"enabled": False},
    },
]


def _default_health_checks() -> list[dict[str, Any]]:
    return [
        {"service": "Docker registry", "ok": True},
        {"service": "JupyterHub API", "ok": True},
        {
            "service": "Pod quota",
            "ok": True,
            "total_pods": 3,
            "build_pods": 0,
            "user_pods": 3,
            "quota": 100,
            "_ignore_failure": True,
        },
    ]


# ---------------------------------------------------------------------------- JWT (HS256)


# --------------------------------------------------------------------- pre-encoded payloads


def _sse(data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return b"data: " + data + b"\n\n"


def _event(data: dict[str, Any]) -> bytes:
    return _sse(json.dumps(data))


_FLOOD_CACHE: dict[int, list[bytes]] = {}
_HUGE_CACHE: list[bytes] = []
_CACHE_LOCK = threading.Lock()

_FLOOD_STEPS = (
    "RUN pip install --no-cache-dir -r requirements.txt",
    "Collecting numpy==2.1.3 (from -r requirements.txt (line 1))",
    "Downloading numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.whl (16.3 MB)",
    "Installing collected packages: numpy, pandas, matplotlib",
)


def flood_event(i: int, n: int) -> bytes:
    """The ``i``-th (1-based) of the ``n`` building events of ``flood-<n>``, encoded."""
    message = f"Step {i}/{n} : {_FLOOD_STEPS[(i - 1) % len(_FLOOD_STEPS)]}\n"
    return _event({"phase": "building", "message": message})


def _flood_chunks(n: int) -> list[bytes]:
    """``n`` building events, pre-encoded in chunks of about 64 KiB (cached per ``n``).

    Call it (or :meth:`WireHub.prebuild_flood`) before timing a benchmark: building 100,000
    events takes a fraction of a second, once.
    """
    with _CACHE_LOCK:
        cached = _FLOOD_CACHE.get(n)
        if cached is not None:
            return cached
        # the same bytes as flood_event(i, n), without a json.dumps per event (the steps are
        # plain ASCII with nothing to escape but the final newline)
        templates = [
            f'data: {{"phase": "building", "message": "Step %d/{n} : {step}\\n"}}\n\n'.encode()
            for step in _FLOOD_STEPS
        ]
        steps = len(templates)
        body = b"".join(templates[(i - 1) % steps] % i for i in range(1, n + 1))
        chunks = [body[i : i + FLOOD_CHUNK_BYTES] for i in range(0, len(body), FLOOD_CHUNK_BYTES)]
        if len(_FLOOD_CACHE) > 8:
            _FLOOD_CACHE.clear()
        _FLOOD_CACHE[n] = chunks
        return chunks


def _huge_event() -> bytes:
    with _CACHE_LOCK:
        if not _HUGE_CACHE:
            message = "x" * (HUGE_MESSAGE_BYTES - 1) + "\n"
            _HUGE_CACHE.append(_event({"phase": "building", "message": message}))
        return _HUGE_CACHE[0]


class _GoneError(Exception):
    """The client went away or the server is stopping: end the handler."""


# ----------------------------------------------------------------------------- handlers


class _BaseHandler(tornado.web.RequestHandler):
    hub: WireHub

    def initialize(self, hub: WireHub) -> None:
        self.hub = hub
        # resolved when the client leaves or the server stops; awaited next to every sleep
        # and every flush (a flush future may never resolve once tornado dropped the stream)
        self._gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def prepare(self) -> None:
        hub = self.hub
        hub._active.add(self)
        request = self.request
        hub.requests.append((request.method or "GET", request.uri or "/", dict(request.headers)))
        if hub.delay > 0:
            try:
                await self.pause(hub.delay)
            except _GoneError:
                self._close_connection()
                raise tornado.web.Finish from None

    # -- lifecycle -------------------------------------------------------------------

    def on_connection_close(self) -> None:
        self._mark_gone()
        self.hub._active.discard(self)

    def _mark_gone(self) -> None:
        if not self._gone.done():
            self._gone.set_result(None)

    def _check_gone(self) -> None:
        if self._gone.done() or self.hub._stopping:
            raise _GoneError

    def on_finish(self) -> None:
        self.hub._active.discard(self)

    def abort(self) -> None:
        """Called on the loop by ``WireHub.stop()``: wake the handler and drop its connection."""
        self._mark_gone()
        self._close_connection()

    def _close_connection(self) -> None:
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.close()

    async def pause(self, seconds: float) -> None:
        """Sleep, or raise :class:`_GoneError` as soon as the client leaves or the server stops."""
        self._check_gone()
        if seconds <= 0:
            await asyncio.sleep(0)
        else:
            await asyncio.wait([self._gone], timeout=None if math.isinf(seconds) else seconds)
        self._check_gone()

    async def flush_or_gone(self, flush_times: list[float] | None = None) -> None:
        """``await self.flush()``, but raise :class:`_GoneError` if the client leaves first.

        With ``flush_times``, append ``time.perf_counter()`` taken as soon as ``flush()`` has
        handed the bytes to the socket (tornado writes synchronously when the socket buffer
        has room), before awaiting the flush future, whose callback runs one loop turn later.
        """
        future = self.flush()
        if flush_times is not None:
            flush_times.append(time.perf_counter())
        if not future.done():
            await asyncio.wait([future, self._gone], return_when=asyncio.FIRST_COMPLETED)
        if not future.done():
            raise _GoneError
        future.result()  # StreamClosedError if the write failed

    # -- shared answers -------------------------------------------------------------

    def write_html(self, status: int = 200, body: str = HTML_PAGE) -> None:
        self.set_status(status, reason=responses.get(status, "Unknown"))
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(body)

    def write_json(self, data: Any, status: int = 200) -> None:
        if self.hub.html_mode:
            self.write_html()
            return
        self.set_status(status, reason=responses.get(status, "Unknown"))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))


class _NotFoundHandler(_BaseHandler):
    async def prepare(self) -> None:
        await super().prepare()
        self.write_html(404, "<!DOCTYPE html><html><body><h1>404: Not Found</h1></body></html>")


class _VersionsHandler(_BaseHandler):
    def get(self) -> None:
        self.set_header("Access-Control-Allow-Origin", "*")
        versions = self.hub.versions if self.hub.versions is not None else DEFAULT_VERSIONS
        self.write_json(versions)


class _HealthHandler(_BaseHandler):
    def _answer(self) -> tuple[int, dict[str, Any]]:
        hub = self.hub
        checks = [dict(check) for check in hub.health_checks]
        checks_ok = all(c.get("ok", False) for c in checks if not c.get("_ignore_failure"))
        if hub.health_status >= 400 and checks_ok:
            # keep the body consistent with the status: one required check failed
            for check in checks:
                if not check.get("_ignore_failure"):
                    check["ok"] = False
                    break
        ok = hub.health_status < 400 and checks_ok
        status = hub.health_status if hub.health_status >= 400 or ok else 503
        return status, {"ok": ok, "checks": checks}

    def get(self) -> None:
        status, body = self._answer()
        self.write_json(body, status)

    def head(self) -> None:
        status, _ = self._answer()
        html = self.hub.html_mode
        if html:
            status = 200
        self.set_status(status, reason=responses.get(status, "Unknown"))
        self.set_header("Content-Type", "text/html; charset=UTF-8" if html else "application/json")
        self.finish()


class _RepoProvidersHandler(_BaseHandler):
    def get(self) -> None:
        self.write_json(REPO_PROVIDERS)


class _MetricsHandler(_BaseHandler):
    def get(self) -> None:
        hub = self.hub
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(
            "# HELP binderhub_build_count_total Counter of builds by repo\n"
            "# TYPE binderhub_build_count_total counter\n"
            'binderhub_build_count_total{provider="GitHub",'
            'repo="https://github.com/binder-examples/requirements",status="success"} '
            f"{float(hub.build_count)}\n"
            "# HELP binderhub_launch_count_total Counter of launches by repo\n"
            "# TYPE binderhub_launch_count_total counter\n"
            'binderhub_launch_count_total{provider="GitHub",'
            'repo="https://github.com/binder-examples/requirements",status="success"} '
            f"{float(hub.launch_count)}\n"
            "# HELP binderhub_inprogress_builds Builds currently in progress\n"
            "# TYPE binderhub_inprogress_builds gauge\n"
            f"binderhub_inprogress_builds {float(hub.open_streams)}\n"
        )


class _LaunchPageHandler(_BaseHandler):
    def get(self, provider: str, _spec: str) -> None:
        prefix = f"/v2/{provider}/"
        path = self.request.path
        spec = path[path.index(prefix) + len(prefix) :]
        token = self.hub.make_build_token(f"{provider}/{spec}", origin=self.request.host)
        page_config = {
            "baseUrl": "/",
            "badgeBaseUrl": self.hub.url,
            "logoUrl": "/static/logo.svg",
            "logoWidth": "320px",
            "repoProviders": REPO_PROVIDERS,
            "aboutMessage": "",
            "bannerHtml": "",
            "buildToken": token,
        }
        body = (
            "<!DOCTYPE html>\n<html>\n<head>\n<title>Binder</title>\n"
            "<script>\nwindow.pageConfig = "
            + json.dumps(page_config).replace("</", "<\\/")
            + ';\n</script>\n</head>\n<body>\n<div id="root"></div>\n</body>\n</html>\n'
        )
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(body)


class _BuildHandler(_BaseHandler):
    _counted = False

    def on_connection_close(self) -> None:
        self._uncount()
        super().on_connection_close()

    def _uncount(self) -> None:
        if self._counted:
            self._counted = False
            self.hub.open_streams -= 1

    # -- writing ---------------------------------------------------------------------

    async def send(self, raw: bytes) -> None:
        self._check_gone()
        self.write(raw)
        await self.flush_or_gone()

    async def emit(
        self, data: dict[str, Any] | bytes, *, flush_times: list[float] | None = None
    ) -> None:
        """Write one ``data:`` event and flush it (see :meth:`flush_or_gone`)."""
        self._check_gone()
        self.write(_sse(data) if isinstance(data, bytes) else _event(data))
        await self.flush_or_gone(flush_times)

    def fail_now(self, status_code: int, message: str) -> None:
        """Like BinderHub's ``send_error``: one ``failed`` event, HTTP 200, response finished."""
        self.write(
            _event({"phase": "failed", "status_code": status_code, "message": message + "\n"})
        )
        self.finish()

    async def hold_open(self, seconds: float) -> None:
        """Keep the connection open, with ``:keepalive`` comments, like BinderHub after ready."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            interval = self.hub.keepalive_interval
            if interval >= remaining:
                await self.pause(remaining)
                return
            await self.pause(interval)
            await self.send(KEEPALIVE)

    # -- the request -------------------------------------------------------------------

    async def get(self, provider: str, _spec: str) -> None:
        hub = self.hub
        prefix = f"/build/{provider}/"
        path = self.request.path
        spec = path[path.index(prefix) + len(prefix) :]  # raw, not unquoted (as BinderHub)
        self._counted = True
        hub.open_streams += 1
        try:
            await self._serve(provider, spec)
        except (_GoneError, StreamClosedError):
            self._close_connection()
        finally:
            self._uncount()

    def _rate_limit_headers(self) -> None:
        hub = self.hub
        self.set_header("x-ratelimit-limit", str(hub.rate_limit))
        self.set_header("x-ratelimit-remaining", str(max(hub.rate_remaining, 0)))
        self.set_header("x-ratelimit-reset", str(hub.rate_reset))

    def _retry_after(self) -> int:
        return max(0, self.hub.rate_reset - int(time.time()))

    async def _serve(self, provider: str, spec: str) -> None:
        hub = self.hub
        if hub.html_mode:
            self.write_html()
            return
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")

        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            self.fail_now(400, "Requests to /build/ must send 'Accept: text/event-stream'")
            return

        build_only = self.get_query_argument("build_only", "").lower() == "true"
        if build_only and not hub.api_only:
            self.fail_now(400, "Build only mode is not enabled")
            return

        token = self.get_query_argument("build_token", None)
        have_token = False
        if token is not None:
            if not verify_jwt(token, hub.secret, audience=f"{provider}/{spec}"):
                self.fail_now(403, "Invalid build token")
                return
            have_token = True

        if not have_token:
            if hub.rate_remaining <= 0:
                self._rate_limit_headers()
                self.fail_now(
                    429, f"Rate limit exceeded. Try again in {self._retry_after()} seconds."
                )
                return
            hub.rate_remaining -= 1
        self._rate_limit_headers()

        hit_key = self.request.path
        hub.hits[hit_key] = hub.hits.get(hit_key, 0) + 1
        segments = spec.split("/")
        scenario = segments[1] if len(segments) > 1 else segments[0]

        if build_only:
            await self._build_only(provider, spec)
        else:
            await self._scenario(scenario, provider, spec, hub.hits[hit_key])

    async def _scenario(self, scenario: str, provider: str, spec: str, hit: int) -> None:
        hub = self.hub
        if match := _FAILED_RE.fullmatch(scenario):
            code = int(match.group(1))
            await self.emit(_FIXTURE_DATA[0])
            await self.emit({"phase": "failed", "status_code": code, "message": _message(code)})
            await self.hold_open(hub.hold_open)
        elif match := _HTTP_RE.fullmatch(scenario):
            self._http_error(int(match.group(1)))
        elif match := _SLOW_RE.fullmatch(scenario):
            await self._fixture(gap=int(match.group(1)) / 1000.0)
        elif match := _FLOOD_RE.fullmatch(scenario):
            await self._flood(int(match.group(1)), provider, spec)
        elif match := _TICK_RE.fullmatch(scenario):
            await self._tick(int(match.group(1)), int(match.group(2)) / 1000.0, provider, spec)
        elif scenario == "retry-then-ok" and hit <= 1:
            self.fail_now(500, "Internal Server Error")
        elif scenario in _SIMPLE_SCENARIOS:
            await getattr(self, _SIMPLE_SCENARIOS[scenario])(provider, spec)
        else:  # "fixture", "retry-then-ok" after the first hit, and any unknown name
            await self._fixture()

    # -- scenarios -------------------------------------------------------------------

    async def _instant(self, provider: str, spec: str) -> None:
        await self.emit(_FIXTURE_DATA[0])
        await self.emit(self._ready(provider, spec))

    async def _keepalive_only(self, _provider: str, _spec: str) -> None:
        while True:  # ends with _GoneError when the client leaves or the server stops
            await self.pause(self.hub.keepalive_interval)
            await self.send(KEEPALIVE)

    async def _silent(self, _provider: str, _spec: str) -> None:
        await self.flush_or_gone()  # the headers, nothing else
        await self.pause(math.inf)

    async def _drop(self, _provider: str, _spec: str) -> None:
        for raw in _FIXTURE_DATA[:5]:
            await self.emit(raw)
        self._close_connection()
        raise _GoneError

    async def _truncated(self, _provider: str, _spec: str) -> None:
        line = _sse(_FIXTURE_DATA[0])
        await self.send(line[: len(line) // 2])
        self._close_connection()
        raise _GoneError

    async def _html(self, _provider: str, _spec: str) -> None:
        self.clear()
        self.write_html()

    async def _huge_line(self, provider: str, spec: str) -> None:
        await self.emit(_FIXTURE_DATA[0])
        await self.send(_huge_event())
        await self.emit(self._ready(provider, spec))

    async def _bad_json(self, provider: str, spec: str) -> None:
        await self.emit(_FIXTURE_DATA[0])
        await self.send(b"data: {not json\n\n")
        await self.emit(self._ready(provider, spec))

    async def _fixture(self, gap: float = 0.0) -> None:
        hub = self.hub
        flush_times = hub.flush_times if gap > 0 else None
        last = len(_FIXTURE_DATA) - 1
        for i, raw in enumerate(_FIXTURE_DATA):
            if gap > 0 and i:
                await self.pause(gap)
            await self.emit(raw if i < last else self._fixture_ready(), flush_times=flush_times)
        hub.build_count += 1
        await self.hold_open(hub.hold_open)

    def _fixture_ready(self) -> dict[str, Any]:
        hub = self.hub
        url = hub.jupyter_url or f"{hub.url}user/x/"
        token = hub._new_token()
        ready = dict(_FIXTURE_READY)
        ready["message"] = str(ready["message"]).replace(str(_FIXTURE_READY["url"]), url)
        ready["token"] = token
        ready["binder_launch_host"] = hub.url
        ready["url"] = url
        hub.launch_count += 1
        return ready

    def _ready(self, provider: str, spec: str) -> dict[str, Any]:
        hub = self.hub
        url = hub.jupyter_url or f"{hub.url}user/x/"
        repo_url, ref_url, image, resolved_spec = _describe(provider, spec)
        hub.launch_count += 1
        return {
            "phase": "ready",
            "message": f"server running at {url}\n",
            "image": image,
            "repo_url": repo_url,
            "token": hub._new_token(),
            "binder_ref_url": ref_url,
            "binder_launch_host": hub.url,
            "binder_request": f"v2/{provider}/{spec}",
            "binder_persistent_request": f"v2/{provider}/{resolved_spec}",
            "binder_client_ip": self.request.remote_ip,
            "url": url,
        }

    async def _build_only(self, provider: str, spec: str) -> None:
        _, _, image, _ = _describe(provider, spec)
        await self.emit(_FIXTURE_DATA[0])
        await self.emit({"phase": "building", "message": "Step 1/2 : FROM buildpack-deps\n"})
        await self.emit({"phase": "building", "message": "Step 2/2 : RUN pip install\n"})
        await self.emit({"phase": "built", "message": "Built image\n", "imageName": image})
        await self.emit({"phase": "ready", "message": "Done! Image built\n", "imageName": image})
        self.hub.build_count += 1

    async def _flood(self, n: int, provider: str, spec: str) -> None:
        for chunk in _flood_chunks(n):
            await self.send(chunk)
        await self.emit(self._ready(provider, spec))
        self.hub.build_count += 1

    async def _tick(self, n: int, gap: float, provider: str, spec: str) -> None:
        """n `building` events `gap` seconds apart, each flush time recorded, then `ready`."""
        for i in range(1, n + 1):
            await self.pause(gap)
            message = f"Step {i}/{n} : {_FLOOD_STEPS[(i - 1) % len(_FLOOD_STEPS)]}\n"
            event = {"phase": "building", "message": message}
            await self.emit(event, flush_times=self.hub.flush_times)
        await self.emit(self._ready(provider, spec))
        self.hub.build_count += 1

    async def _failed_build(self, _provider: str, _spec: str) -> None:
        await self.emit(_FIXTURE_DATA[0])
        await self.emit({"phase": "fetching", "message": "Fetching repository...\n"})
        for line in (
            "Step 1/3 : FROM buildpack-deps:jammy\n",
            "Step 2/3 : RUN pip install -r requirements.txt\n",
            "ERROR: Could not find a version that satisfies the requirement nonexistent\n",
        ):
            await self.emit({"phase": "building", "message": line})
        await self.emit({"phase": "failed", "message": "Build failed\n"})

    async def _too_many_users(self, provider: str, spec: str) -> None:
        repo_url, _, image, _ = _describe(provider, spec)
        await self.emit(
            {"phase": "built", "imageName": image, "message": "Found built image, launching...\n"}
        )
        await self.emit({"phase": "launching", "message": "Launching server...\n"})
        await self.emit(
            {
                "phase": "failed",
                "message": f"Too many users running {repo_url}! Try again later.\n",
            }
        )

    async def _no_phase(self, provider: str, spec: str) -> None:
        await self.emit({"message": "Picked Git content provider.\n"})
        await self.emit({"phase": "Pending", "message": "Pending...\n"})
        await self.emit({"phase": "Building", "message": "Building...\n"})
        await self.emit({"message": "Step 1/3 : FROM buildpack-deps:jammy\n"})
        await self.emit({"phase": "Built", "message": "Built image, launching...\n"})
        await self.emit({"phase": "LAUNCHING", "message": "Launching server...\n"})
        await self.emit(self._ready(provider, spec))

    def _http_error(self, code: int) -> None:
        reason = responses.get(code, "Unknown")
        self.clear()  # drops the event-stream content type
        self.set_status(code, reason=reason)
        self._rate_limit_headers()
        if code == 429:
            self.set_header("x-ratelimit-remaining", "0")
            self.set_header("Retry-After", str(max(1, self._retry_after())))
        if code in (429, 502, 503, 504):  # what an ingress / reverse proxy answers
            body = (
                f"<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
                f"<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                "</body>\r\n</html>\r\n"
            )
        else:
            body = (
                f"<!DOCTYPE html>\n<html>\n<head><title>Binder</title></head>\n<body>\n"
                f'<div id="error"><h1>{code}</h1><h2>{reason}</h2></div>\n</body>\n</html>\n'
            )
        self.set_header("Content-Type", "text/html")
        self.finish(body)


_SIMPLE_SCENARIOS: dict[str, str] = {
    "instant": "_instant",
    "keepalive-only": "_keepalive_only",
    "silent": "_silent",
    "drop": "_drop",
    "truncated": "_truncated",
    "failed-build": "_failed_build",
    "too-many-users": "_too_many_users",
    "html": "_html",
    "huge-line": "_huge_line",
    "bad-json": "_bad_json",
    "no-phase": "_no_phase",
}


def _message(code: int) -> str:
    if code == 403:
        return "Invalid build token\n"
    if code == 429:
        return "Rate limit exceeded. Try again in 3600 seconds.\n"
    return responses.get(code, "Unknown HTTP Error") + "\n"


def _describe(provider: str, spec: str) -> tuple[str, str, str, str]:
    """(repo_url, binder_ref_url, image, resolved spec) made up for a provider/spec."""
    parts = spec.split("/")
    sha = hashlib.sha256(f"{provider}/{spec}".encode()).hexdigest()[:40]
    if provider == "gh" and len(parts) >= 2:
        repo_url = f"https://github.com/{parts[0]}/{parts[1]}"
        ref_url = f"{repo_url}/tree/{sha}"
        resolved = f"{parts[0]}/{parts[1]}/{sha}"
        slug = f"{parts[0]}-{parts[1]}"
    else:
        repo_url = f"https://example.org/{provider}/{parts[0]}"
        ref_url = f"{repo_url}/tree/{sha}"
        resolved = "/".join([*parts[:-1], sha]) if len(parts) > 1 else spec
        slug = f"{provider}-{parts[0]}"
    safe = re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")[:40]
    image = f"binder-{safe}-{sha[:6]}:{sha}"
    return repo_url, ref_url, image, resolved


# ------------------------------------------------------------------------------- server


class WireHub(ServerThread):
    """A real BinderHub-speaking HTTP server on 127.0.0.1, in a daemon thread.

    Knobs (plain attributes, read on every request):

    * ``health_status`` (200): 503 (any status >= 400) makes ``/health`` answer ``ok: false``.
    * ``health_checks``: the ``checks`` list of ``/health``.
    * ``html_mode`` (False): JSON endpoints and ``/build`` answer a 200 ``text/html`` page.
    * ``delay`` (0.0): seconds to wait before answering any request.
    * ``rate_limit`` (10), ``rate_remaining``, ``rate_reset`` (epoch seconds): the
      ``x-ratelimit-*`` headers of ``/build`` answers; ``rate_remaining`` drops by one per
      ``/build`` request, and a request that finds it at 0 gets a 429 ``failed`` event.
    * ``keepalive_interval`` (25.0): seconds between ``:keepalive`` comments.
    * ``hold_open`` (60.0): seconds a stream stays open after ``ready`` (or a ``failed-<code>``).
    * ``jupyter_url`` (None): the ``url`` of ``ready`` events (default ``<url>user/x/``).
    * ``jupyter_token`` (None): the ``token`` of ``ready`` events (default: a fresh random
      one per launch); set both to point launches at a real Jupyter server.
    * ``api_only`` (False): whether ``build_only=true`` is allowed.

    Records: ``requests`` ((method, path+query, headers) per request, tornado-normalised
    header names such as ``Accept``), ``open_streams``, ``tokens`` (the token of every
    ``ready``), ``hits`` (``/build`` requests per path, query excluded), ``flush_times``
    (``time.perf_counter()`` after each event of a ``slow-<ms>`` stream), ``build_count``,
    ``launch_count``.
    """

    def __init__(
        self,
        *,
        versions: dict[str, Any] | None = None,
        name: str = "wirehub",
        api_only: bool = False,
        rate_limit: int = 10,
        keepalive_interval: float = 25.0,
        hold_open: float = 60.0,
        secret: bytes | None = None,
    ) -> None:
        super().__init__(name=name)
        self.versions = versions
        self.api_only = api_only
        self.secret: bytes = secret if secret is not None else secrets.token_bytes(32)

        self.health_status = 200
        self.health_checks: list[dict[str, Any]] = _default_health_checks()
        self.html_mode = False
        self.delay = 0.0
        self.rate_limit = rate_limit
        self.rate_remaining = rate_limit
        self.rate_reset = int(time.time()) + 3600
        self.keepalive_interval = keepalive_interval
        self.hold_open = hold_open
        self.jupyter_url: str | None = None
        self.jupyter_token: str | None = None

        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.open_streams = 0
        self.tokens: list[str] = []
        self.hits: dict[str, int] = {}
        self.flush_times: list[float] = []
        self.build_count = 0
        self.launch_count = 0

        self._active: set[_BaseHandler] = set()
        self._stopping = False

    def __repr__(self) -> str:
        return f"<WireHub {self.name} {self.url or '(stopped)'}>"

    # -- public helpers --------------------------------------------------------------

    def build_url(self, spec: str, provider: str = "gh") -> str:
        """``<url>build/<provider>/<spec>``."""
        return f"{self.url}build/{provider}/{spec}"

    def make_build_token(
        self,
        provider_spec: str,
        *,
        expires_in: float = 3600.0,
        origin: str | None = None,
        secret: bytes | None = None,
    ) -> str:
        """A build token (HS256 JWT) for ``"<provider>/<spec>"`` as this hub would issue it."""
        claims = {
            "exp": int(time.time() + expires_in),
            "aud": provider_spec,
            "origin": origin if origin is not None else f"127.0.0.1:{self.port}",
        }
        return make_jwt(claims, self.secret if secret is None else secret)

    def verify_build_token(self, token: str, provider_spec: str) -> bool:
        return verify_jwt(token, self.secret, audience=provider_spec)

    @staticmethod
    def prebuild_flood(n: int) -> None:
        """Encode the ``flood-<n>`` stream now, so that no timed request pays for it."""
        _flood_chunks(n)

    def _new_token(self) -> str:
        token = self.jupyter_token or secrets.token_urlsafe(16)
        self.tokens.append(token)
        return token

    def _application(self) -> tornado.web.Application:
        kwargs = {"hub": self}
        return tornado.web.Application(
            [
                (r"/versions", _VersionsHandler, kwargs),
                (r"/health", _HealthHandler, kwargs),
                (r"/api/repoproviders", _RepoProvidersHandler, kwargs),
                (r"/metrics", _MetricsHandler, kwargs),
                (r"/v2/([^/]+)/(.+)", _LaunchPageHandler, kwargs),
                (r"/build/([^/]+)/(.+)", _BuildHandler, kwargs),
            ],
            default_handler_class=_NotFoundHandler,
            default_handler_args=kwargs,
            log_function=lambda _handler: None,
        )

    def start(self) -> None:
        self._stopping = False
        super().start()

    async def serve(self, sockets: list[socket.socket], stop: asyncio.Event) -> None:
        """Serve until stopped; then end every open stream and close every connection."""
        server = tornado.httpserver.HTTPServer(self._application())
        server.add_sockets(sockets)
        self.ready()
        try:
            await stop.wait()
        finally:
            self._stopping = True
            server.stop()
            for handler in list(self._active):
                handler.abort()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.close_all_connections(), timeout=2.0)
            deadline = time.monotonic() + 1.0
            while self._active and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await asyncio.sleep(0)
