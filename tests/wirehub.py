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

BinderHub's protocol itself (admission, build tokens, rate-limit headers, keepalives, the JSON
endpoints) is ``binderfed_sdk.sandbox.wire``'s, shared with the sandbox's build service: this
module holds only the scenarios and the knobs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import secrets
import threading
import time
import zlib
from http.client import responses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.httputil

from binderfed_sdk.sandbox._thread import ServerThread
from binderfed_sdk.sandbox.wire import (
    Answer,
    Backend,
    BuildRequest,
    BuildStream,
    Counters,
    RateLimit,
    Surface,
    check_build_token,
    encode_event,
    make_build_token,
)

if TYPE_CHECKING:
    import socket
    import ssl
    from collections.abc import Awaitable, Callable

    from binderfed_sdk.sandbox.wire import Endpoint

__all__ = [
    "FIXTURE_BYTES",
    "FIXTURE_NAME",
    "NO_ENVIRONMENT_LINE",
    "SCENARIOS",
    "WireHub",
    "fixture_events",
    "flood_event",
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
    "no-environment",
    "slow-<ms>",
    "late-<ms>",
    "flood-<n>",
    "tick-<n>-<ms>",
)

_FAILED_RE = re.compile(r"failed-(\d{3})")
_HTTP_RE = re.compile(r"http-(\d{3})")
_SLOW_RE = re.compile(r"slow-(\d+)")
_LATE_RE = re.compile(r"late-(\d+)")
_FLOOD_RE = re.compile(r"flood-(\d+)")
_TICK_RE = re.compile(r"tick-(\d+)-(\d+)")

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

# repo2docker's error when no buildpack detects a repository and the default one is off
NO_ENVIRONMENT_LINE = (
    "No environment specification found. See "
    "https://repo2docker.readthedocs.io/en/latest/configuration/ for supported files.\n"
)

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


# --------------------------------------------------------------------- pre-encoded payloads


_FLOOD_CACHE: dict[int, list[bytes]] = {}
_HUGE_CACHE: list[bytes] = []
_CACHE_LOCK = threading.Lock()

_FLOOD_STEPS = (
    "RUN pip install --no-cache-dir -r requirements.txt",
    "Collecting numpy==2.1.3 (from -r requirements.txt (line 1))",
    "Downloading numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.whl (16.3 MB)",
    "Installing collected packages: numpy, pandas, matplotlib",
)


def _flood_message(i: int, n: int) -> dict[str, Any]:
    return {"phase": "building", "message": f"Step {i}/{n} : {_FLOOD_STEPS[(i - 1) % 4]}\n"}


def flood_event(i: int, n: int) -> bytes:
    """The ``i``-th (1-based) of the ``n`` building events of ``flood-<n>``, encoded."""
    return encode_event(_flood_message(i, n))


def _flood_chunks(n: int) -> list[bytes]:
    """``n`` building events, pre-encoded in chunks of about 64 KiB of whole events (so a
    keepalive never lands inside one), cached per ``n``.

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
        chunks: list[bytes] = []
        start = 0
        while start < len(body):
            end = body.rfind(b"\n\n", start, start + FLOOD_CHUNK_BYTES) + 2
            end = end if end > start + 1 else len(body)
            chunks.append(body[start:end])
            start = end
        if len(_FLOOD_CACHE) > 8:
            _FLOOD_CACHE.clear()
        _FLOOD_CACHE[n] = chunks
        return chunks


def _huge_event() -> bytes:
    with _CACHE_LOCK:
        if not _HUGE_CACHE:
            message = "x" * (HUGE_MESSAGE_BYTES - 1) + "\n"
            _HUGE_CACHE.append(encode_event({"phase": "building", "message": message}))
        return _HUGE_CACHE[0]


# hostile answers: each is made once and kept (they are large)
#: the decoded size of the gzip bomb (the wire carries about a thousandth of it)
GZIP_BOMB_BYTES = 256 * 1024 * 1024
#: the size of the event the `many-line-event` scenario sends, as 1 KiB `data:` lines
MANY_LINE_EVENT_BYTES = 64 * 1024 * 1024
#: how deep the `deep-json` scenario and `hostile_json: "deep"` nest their JSON
DEEP_JSON_LEVELS = 20_000
_HOSTILE_CACHE: dict[str, bytes] = {}


def _hostile_bytes(kind: str) -> bytes:
    with _CACHE_LOCK:
        if kind not in _HOSTILE_CACHE:
            _HOSTILE_CACHE[kind] = _make_hostile(kind)
        return _HOSTILE_CACHE[kind]


def _make_hostile(kind: str) -> bytes:
    if kind == "gzip-bomb":  # one endless line, gzip-encoded, streamed in 64 KiB pieces
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
        block = b"x" * (1 << 20)
        parts = [compressor.compress(b"data: ")]
        parts += [compressor.compress(block) for _ in range(GZIP_BOMB_BYTES >> 20)]
        return b"".join([*parts, compressor.flush()])
    if kind == "many-line-event":  # never a blank line: one event, line after line
        line = b"data: " + b"x" * 1017 + b"\n"
        return line * (MANY_LINE_EVENT_BYTES // len(line))
    if kind == "deep":
        return b'{"phase": "building", "message": "", "x": ' + (
            b"[" * DEEP_JSON_LEVELS + b"]" * DEEP_JSON_LEVELS + b"}"
        )
    msg = f"no hostile answer {kind!r}"
    raise ValueError(msg)


def _hostile_answer(kind: str, size: int) -> Answer:
    """A JSON endpoint's hostile answer (`WireHub.hostile_json`)."""
    if kind == "deep":
        return Answer(200, "[" * DEEP_JSON_LEVELS + "]" * DEEP_JSON_LEVELS, "application/json")
    if kind == "huge":  # valid JSON, just far too large
        return Answer(200, '{"x": "' + "x" * size + '"}', "application/json")
    if kind == "gzip":  # what a server sends when it compresses though identity was asked for
        return Answer(200, '{"ok": true}', "application/json", {"Content-Encoding": "gzip"})
    msg = f"no hostile JSON answer {kind!r}"
    raise ValueError(msg)


# ------------------------------------------------------------------------------ scenarios


class _Scenarios(Backend):
    """The WireHub's backend: the scenario the spec names, the knobs the hub's attributes set.
    (BinderHub's protocol itself is binderfed_sdk.sandbox.wire's.)"""

    def __init__(self, hub: WireHub) -> None:
        self.hub = hub

    # knobs the protocol reads
    @property
    def secret(self) -> bytes:  # type: ignore[override]
        return self.hub.secret

    @property
    def keepalive_interval(self) -> float:  # type: ignore[override]
        return self.hub.keepalive_interval

    @property
    def api_only(self) -> bool:  # type: ignore[override]
        return self.hub.api_only

    @property
    def check_token_origin(self) -> bool:  # type: ignore[override]
        return self.hub.check_token_origin

    @property
    def rate_headers_on_refusal(self) -> bool:  # type: ignore[override]
        return self.hub.rate_headers_on_refusal

    # endpoints
    async def intercept(
        self, endpoint: Endpoint, request: tornado.httputil.HTTPServerRequest
    ) -> Answer | None:
        hub = self.hub
        hub.requests.append((request.method or "GET", request.uri or "/", dict(request.headers)))
        if hub.delay > 0:  # before the status line: nothing at all is sent meanwhile
            await _pause(hub.delay)
        if hub.html_mode and endpoint in {"build", "health", "versions", "repoproviders"}:
            return Answer(200, HTML_PAGE)
        hostile = hub.hostile_json.get(endpoint) or hub.hostile_json.get(request.path)
        if hostile is not None:
            return _hostile_answer(hostile, hub.hostile_json_bytes)
        if endpoint in hub.redirects:  # a front door (or a hub that should not redirect)
            location = hub.redirects[endpoint]
            return Answer(307, "", headers={"Location": location} if location is not None else {})
        return None

    def versions(self) -> dict[str, Any]:
        return self.hub.versions if self.hub.versions is not None else DEFAULT_VERSIONS

    async def health(self) -> dict[str, Any]:
        hub = self.hub
        checks = [dict(check) for check in hub.health_checks]
        checks_ok = all(c.get("ok", False) for c in checks if not c.get("_ignore_failure"))
        if hub.health_status >= 400 and checks_ok:
            # keep the body consistent with the status: one required check failed
            for check in checks:
                if not check.get("_ignore_failure"):
                    check["ok"] = False
                    break
        return {"ok": hub.health_status < 400 and checks_ok, "checks": checks}

    def repo_providers(self) -> list[dict[str, Any]]:
        return REPO_PROVIDERS + self.hub.extra_providers

    def counters(self) -> Counters:
        hub = self.hub
        return Counters(hub.build_count, hub.launch_count, hub.open_streams)

    def take_rate(self, client_ip: str) -> RateLimit | None:  # noqa: ARG002 - one client
        hub = self.hub
        if hub.rate_remaining > 0:
            hub.rate_remaining -= 1
            return RateLimit(hub.rate_limit, hub.rate_remaining, hub.rate_reset, hub.rate_period)
        return RateLimit(hub.rate_limit, -1, hub.rate_reset, hub.rate_period)

    # the build stream
    async def build(self, request: BuildRequest, stream: BuildStream) -> None:
        hub = self.hub
        hub.hits[request.path] = hits = hub.hits.get(request.path, 0) + 1
        if request.build_only:
            await self._build_only(request, stream)
            return
        if hub.jupyterhub_down:
            await _jupyterhub_down(self, request, stream)
            return
        segments = request.spec.split("/")
        scenario = segments[1] if len(segments) > 1 else segments[0]
        if match := _FAILED_RE.fullmatch(scenario):
            code = int(match.group(1))
            await stream.emit(_FIXTURE_DATA[0])
            await stream.emit({"phase": "failed", "status_code": code, "message": _message(code)})
            await _pause(hub.hold_open)
        elif match := _HTTP_RE.fullmatch(scenario):
            stream.answer(self._http_error(int(match.group(1))))
        elif match := _SLOW_RE.fullmatch(scenario):
            await self._fixture(stream, gap=int(match.group(1)) / 1000.0)
        elif match := _LATE_RE.fullmatch(scenario):  # one event at once, `ready` a while later
            await stream.emit(_FIXTURE_DATA[0])
            await asyncio.sleep(int(match.group(1)) / 1000.0)
            await stream.emit(self._ready(request))
            hub.build_count += 1
        elif match := _FLOOD_RE.fullmatch(scenario):
            for chunk in _flood_chunks(int(match.group(1))):
                await stream.write_raw(chunk)
            await stream.emit(self._ready(request))
            hub.build_count += 1
        elif match := _TICK_RE.fullmatch(scenario):
            n, gap = int(match.group(1)), int(match.group(2)) / 1000.0
            for i in range(1, n + 1):  # each flush time recorded
                await asyncio.sleep(gap)
                await stream.emit(_flood_message(i, n), flushed_at=hub.flush_times)
            await stream.emit(self._ready(request))
            hub.build_count += 1
        elif scenario == "retry-then-ok" and hits <= 1:
            await stream.fail("Internal Server Error", 500)
        elif scenario in hub.scripts:  # a test's own events, then `ready`
            for event in hub.scripts[scenario]:
                await stream.emit(event)
            await stream.emit(self._ready(request))
            hub.build_count += 1
        elif scenario in _SCRIPTED:
            await _SCRIPTED[scenario](self, request, stream)
        else:  # "fixture", "retry-then-ok" after the first hit, and any unknown name
            await self._fixture(stream)

    async def _fixture(self, stream: BuildStream, gap: float = 0) -> None:
        hub = self.hub
        flushed_at = hub.flush_times if gap > 0 else None
        last = len(_FIXTURE_DATA) - 1
        for i, raw in enumerate(_FIXTURE_DATA):
            if gap > 0 and i:
                await asyncio.sleep(gap)
            await stream.emit(raw if i < last else self._fixture_ready(), flushed_at=flushed_at)
        hub.build_count += 1
        await _pause(hub.hold_open)

    def _fixture_ready(self) -> dict[str, Any]:
        hub = self.hub
        url = hub.jupyter_url or f"{hub.url}user/x/"
        ready = dict(_FIXTURE_READY)
        ready["message"] = str(ready["message"]).replace(str(_FIXTURE_READY["url"]), url)
        ready["token"] = hub._new_token()
        ready["binder_launch_host"] = hub.url
        ready["url"] = url
        hub.launch_count += 1
        return ready

    def _ready(self, request: BuildRequest) -> dict[str, Any]:
        hub = self.hub
        url = hub.jupyter_url or f"{hub.url}user/x/"
        repo_url, ref_url, image, resolved_spec = _describe(request.provider, request.spec)
        hub.launch_count += 1
        return {
            "phase": "ready",
            "message": f"server running at {url}\n",
            "image": image,
            "repo_url": repo_url,
            "token": hub._new_token(),
            "binder_ref_url": ref_url,
            "binder_launch_host": hub.url,
            "binder_request": f"v2/{request.provider}/{request.spec}",
            "binder_persistent_request": f"v2/{request.provider}/{resolved_spec}",
            "binder_client_ip": request.client_ip,
            "url": url,
        }

    async def _build_only(self, request: BuildRequest, stream: BuildStream) -> None:
        _, _, image, _ = _describe(request.provider, request.spec)
        await stream.emit(_FIXTURE_DATA[0])
        await stream.emit({"phase": "building", "message": "Step 1/2 : FROM buildpack-deps\n"})
        await stream.emit({"phase": "building", "message": "Step 2/2 : RUN pip install\n"})
        await stream.emit({"phase": "built", "message": "Built image\n", "imageName": image})
        await stream.emit({"phase": "ready", "message": "Done! Image built\n", "imageName": image})
        self.hub.build_count += 1

    def _http_error(self, code: int) -> Answer:
        """What an ingress or the hub answers when it will not stream at all."""
        hub = self.hub
        reason = responses.get(code, "Unknown")
        headers = {
            "x-ratelimit-limit": str(hub.rate_limit),
            "x-ratelimit-remaining": "0" if code == 429 else str(max(hub.rate_remaining, 0)),
            "x-ratelimit-reset": str(hub.rate_reset),
        }
        if code == 429:
            headers["Retry-After"] = str(max(1, hub.rate_reset - int(time.time())))
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
        return Answer(code, body, "text/html", headers)


async def _pause(seconds: float) -> None:
    """Sleep (forever with ``math.inf``); the protocol cancels it when the client leaves."""
    if math.isinf(seconds):
        await asyncio.get_running_loop().create_future()
    await asyncio.sleep(seconds)


async def _instant(backend: _Scenarios, request: BuildRequest, stream: BuildStream) -> None:
    await stream.emit(_FIXTURE_DATA[0])
    await stream.emit(backend._ready(request))


async def _keepalive_only(_b: _Scenarios, _r: BuildRequest, _stream: BuildStream) -> None:
    await _pause(math.inf)  # the protocol's keepalives, nothing else


async def _silent(_b: _Scenarios, _r: BuildRequest, stream: BuildStream) -> None:
    stream.mute()
    await stream.flush()  # the headers, nothing else
    await _pause(math.inf)


async def _drop(_b: _Scenarios, _r: BuildRequest, stream: BuildStream) -> None:
    for raw in _FIXTURE_DATA[:5]:
        await stream.emit(raw)
    stream.drop()


async def _truncated(_b: _Scenarios, _r: BuildRequest, stream: BuildStream) -> None:
    stream.mute()
    line = encode_event(_FIXTURE_DATA[0])
    await stream.write_raw(line[: len(line) // 2])
    stream.drop()


async def _html(_b: _Scenarios, _r: BuildRequest, stream: BuildStream) -> None:
    stream.answer(Answer(200, HTML_PAGE))


async def _huge_line(backend: _Scenarios, request: BuildRequest, stream: BuildStream) -> None:
    await stream.emit(_FIXTURE_DATA[0])
    await stream.write_raw(_huge_event())
    await stream.emit(backend._ready(request))


async def _gzip_bomb(_b: _Scenarios, _r: BuildRequest, stream: BuildStream) -> None:
    """gzip though the client asked for identity: a few hundred KB that decode to 256 MiB."""
    stream.mute()
    # BuildStream has no header setter: a hostile hub is the only one that needs it
    stream._handler.set_header("Content-Encoding", "gzip")
    bomb = _hostile_bytes("gzip-bomb")
    for start in range(0, len(bomb), 64 * 1024):
        await stream.write_raw(bomb[start : start + 64 * 1024])
    await _pause(math.inf)


async def _many_line_event(_b: _Scenarios, _r: BuildRequest, stream: BuildStream) -> None:
    """One event of 64 MiB in short `data:` lines: each line is fine, the event is not."""
    stream.mute()
    await stream.emit(_FIXTURE_DATA[0])
    body = _hostile_bytes("many-line-event")
    for start in range(0, len(body), 256 * 1024):
        await stream.write_raw(body[start : start + 256 * 1024])
    await _pause(math.inf)


async def _deep_json(backend: _Scenarios, request: BuildRequest, stream: BuildStream) -> None:
    await stream.emit(_FIXTURE_DATA[0])
    await stream.emit(_hostile_bytes("deep"))
    await stream.emit(backend._ready(request))


async def _bad_json(backend: _Scenarios, request: BuildRequest, stream: BuildStream) -> None:
    await stream.emit(_FIXTURE_DATA[0])
    await stream.write_raw(b"data: {not json\n\n")
    await stream.emit(backend._ready(request))


async def _failed_build(_b: _Scenarios, _r: BuildRequest, stream: BuildStream) -> None:
    await stream.emit(_FIXTURE_DATA[0])
    await stream.emit({"phase": "fetching", "message": "Fetching repository...\n"})
    for line in (
        "Step 1/3 : FROM buildpack-deps:jammy\n",
        "Step 2/3 : RUN pip install -r requirements.txt\n",
        "ERROR: Could not find a version that satisfies the requirement nonexistent\n",
    ):
        await stream.emit({"phase": "building", "message": line})
    await stream.fail("Build failed")


async def _too_many_users(_b: _Scenarios, request: BuildRequest, stream: BuildStream) -> None:
    repo_url, _, image, _ = _describe(request.provider, request.spec)
    message = "Found built image, launching...\n"
    await stream.emit({"phase": "built", "imageName": image, "message": message})
    await stream.emit({"phase": "launching", "message": "Launching server...\n"})
    await stream.fail(f"Too many users running {repo_url}! Try again later.")


async def _jupyterhub_down(backend: _Scenarios, request: BuildRequest, stream: BuildStream) -> None:
    """As BinderHub when its JupyterHub does not answer: the build goes through, then each
    launch attempt fails (BinderHub tries `launcher.retries` times, with growing pauses), and
    the handler's error ends the stream with a `failed` event carrying status_code 500."""
    hub = backend.hub
    _, _, image, _ = _describe(request.provider, request.spec)
    await stream.emit(_FIXTURE_DATA[0])
    await stream.emit({"phase": "building", "message": "Step 1/1 : FROM buildpack-deps\n"})
    await stream.emit(
        {"phase": "built", "imageName": image, "message": "Built image, launching...\n"}
    )
    hub.build_count += 1
    await stream.emit({"phase": "launching", "message": "Launching server...\n"})
    for attempt in range(1, hub.launch_retries):
        await asyncio.sleep(hub.launch_retry_delay)
        message = f"Launch attempt {attempt} failed, retrying...\n"
        await stream.emit({"phase": "launching", "message": message})
    await asyncio.sleep(hub.launch_retry_delay)
    await stream.fail(f"Failed to create temporary user for {image}", 500)


async def _no_phase(backend: _Scenarios, request: BuildRequest, stream: BuildStream) -> None:
    await stream.emit({"message": "Picked Git content provider.\n"})
    await stream.emit({"phase": "Pending", "message": "Pending...\n"})
    await stream.emit({"phase": "Building", "message": "Building...\n"})
    await stream.emit({"message": "Step 1/3 : FROM buildpack-deps:jammy\n"})
    await stream.emit({"phase": "Built", "message": "Built image, launching...\n"})
    await stream.emit({"phase": "LAUNCHING", "message": "Launching server...\n"})
    await stream.emit(backend._ready(request))


async def _no_environment(_b: _Scenarios, _r: BuildRequest, stream: BuildStream) -> None:
    """A repository without an environment file on a hub whose repo2docker has no default
    buildpack (mybinder.org since 2026-03): repo2docker logs its error as a JSON line without
    a phase (repo2docker app.py) and exits 1; BinderHub passes the line on as it is, then its
    build pod's Failed phase becomes a `failed` event with no message (binderhub builder.py,
    BuildStatus.FAILED; build.py, the pod watch)."""
    await stream.emit(_FIXTURE_DATA[0])
    await stream.emit({"phase": "fetching", "message": "Picked Git content provider.\n"})
    await stream.emit({"phase": "fetching", "message": "Cloning into '/tmp/repo2docker0'...\n"})
    await stream.emit({"phase": "fetching", "message": "HEAD is now at 1a2b3c4 Add notebook\n"})
    await stream.emit({"message": NO_ENVIRONMENT_LINE})
    await stream.emit({"phase": "failed"})
    await _pause(math.inf)  # BinderHub keeps the stream open; the client leaves


_SCRIPTED: dict[str, Callable[[_Scenarios, BuildRequest, BuildStream], Awaitable[None]]] = {
    "instant": _instant,
    "keepalive-only": _keepalive_only,
    "silent": _silent,
    "drop": _drop,
    "truncated": _truncated,
    "failed-build": _failed_build,
    "too-many-users": _too_many_users,
    "html": _html,
    "huge-line": _huge_line,
    "bad-json": _bad_json,
    "gzip-bomb": _gzip_bomb,
    "many-line-event": _many_line_event,
    "deep-json": _deep_json,
    "no-phase": _no_phase,
    "no-environment": _no_environment,
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

    * ``health_status`` (200): 503 (any status >= 400) makes ``/health`` answer ``ok: false``
      (so HTTP 503).
    * ``health_checks``: the ``checks`` list of ``/health``.
    * ``html_mode`` (False): JSON endpoints and ``/build`` answer a 200 ``text/html`` page.
    * ``redirects`` ({}): endpoint name (``"build"``, ``"versions"``, ...) to a Location:
      that endpoint answers 307 with exactly that Location (None: a 307 without one). The
      sandbox's ``Redirector`` is the front door with mybinder.org's rules; this is for the
      Locations a real one never sends.
    * ``tls`` (None, a constructor argument): an ``ssl.SSLContext`` to serve https with
      (``url`` then starts ``https://``).
    * ``delay`` (0.0): seconds to wait before answering any request; nothing, not even the
      status line, is sent meanwhile. ``math.inf``: a hung hub that accepts connections and
      never answers.
    * ``jupyterhub_down`` (False): every launch fails as BinderHub's does when its JupyterHub
      does not answer: the build goes through, ``launch_retries`` (3) launch attempts each
      take ``launch_retry_delay`` (0.05) seconds, then a ``failed`` event with
      ``status_code: 500``. ``/health`` is left as set (BinderHub caches its checks, so a
      launch can meet a JupyterHub that is down before the health shows it).
    * ``rate_limit`` (10), ``rate_remaining``, ``rate_reset`` (epoch seconds): the
      ``x-ratelimit-*`` headers of ``/build`` answers; ``rate_remaining`` drops by one per
      ``/build`` request, and a request that finds it at 0 gets a 429 ``failed`` event
      saying "Try again in ``rate_period`` (3600) seconds", as BinderHub's does (it names the
      window, not the time left in it).
    * ``rate_headers_on_refusal`` (False): the 429 ``failed`` event's answer carries
      ``x-ratelimit-*`` headers too. BinderHub's carries none (it sets them only once a
      request is allowed); some proxies in front of a hub might.
    * ``keepalive_interval`` (25.0): seconds between ``:keepalive`` comments.
    * ``hold_open`` (60.0): seconds a stream stays open after ``ready`` (or a ``failed-<code>``).
    * ``jupyter_url`` (None): the ``url`` of ``ready`` events (default ``<url>user/x/``).
    * ``jupyter_token`` (None): the ``token`` of ``ready`` events (default: a fresh random
      one per launch); set both to point launches at a real Jupyter server.
    * ``api_only`` (False): whether ``build_only=true`` is allowed.
    * ``extra_providers`` ([]): display configs listed in ``/api/repoproviders`` after the
      built-in ones (a hub's own providers); ``/build`` takes their prefixes.
    * ``check_token_origin`` (False): refuse build tokens made for another origin (BinderHub's
      default; off so that tokens made here can be used through other URLs).

    * ``scripts`` ({}): a scenario name to the events its stream sends before ``ready``
      (``/build/gh/someone/<name>/HEAD``): a test's own stream.
    * ``hostile_json`` ({}): an endpoint name (``"health"``, ``"versions"``,
      ``"repoproviders"``) or a request path (``"/user/x/api/status"``) to a hostile answer:
      ``"deep"`` (JSON nested ``DEEP_JSON_LEVELS`` deep), ``"huge"`` (a valid JSON object of
      ``hostile_json_bytes``, default 64 MiB) or ``"gzip"`` (``Content-Encoding: gzip``
      though identity was asked for). The build stream's own are scenarios: ``gzip-bomb``,
      ``many-line-event``, ``deep-json``.

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
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(name=name)
        self.tls = tls
        self.versions = versions
        self.api_only = api_only
        self.secret: bytes = secret if secret is not None else secrets.token_bytes(32)

        self.health_status = 200
        self.health_checks: list[dict[str, Any]] = _default_health_checks()
        self.html_mode = False
        self.redirects: dict[str, str | None] = {}
        self.delay = 0.0
        self.jupyterhub_down = False
        self.launch_retries = 3
        self.launch_retry_delay = 0.05
        self.rate_limit = rate_limit
        self.rate_remaining = rate_limit
        self.rate_period = 3600
        self.rate_reset = int(time.time()) + self.rate_period
        self.rate_headers_on_refusal = False
        self.keepalive_interval = keepalive_interval
        self.hold_open = hold_open
        self.jupyter_url: str | None = None
        self.jupyter_token: str | None = None
        self.check_token_origin = False
        self.extra_providers: list[dict[str, Any]] = []
        self.hostile_json: dict[str, str] = {}
        self.hostile_json_bytes = 64 * 1024 * 1024
        self.scripts: dict[str, list[dict[str, Any]]] = {}

        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.tokens: list[str] = []
        self.hits: dict[str, int] = {}
        self.flush_times: list[float] = []
        self.build_count = 0
        self.launch_count = 0

        self._surface = Surface(_Scenarios(self), log_function=None)

    @property
    def open_streams(self) -> int:
        """``/build`` requests being answered."""
        return self._surface.open_streams

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
        return make_build_token(
            self.secret if secret is None else secret,
            provider_spec,
            origin=origin if origin is not None else f"127.0.0.1:{self.port}",
            expires_in=expires_in,
        )

    def verify_build_token(self, token: str, provider_spec: str) -> bool:
        return check_build_token(token, self.secret, provider_spec) is not None

    @staticmethod
    def prebuild_flood(n: int) -> None:
        """Encode the ``flood-<n>`` stream now, so that no timed request pays for it."""
        _flood_chunks(n)

    def _new_token(self) -> str:
        token = self.jupyter_token or secrets.token_urlsafe(16)
        self.tokens.append(token)
        return token

    def start(self) -> None:
        self._surface.reopen()
        super().start()

    def bind(self) -> list[socket.socket]:
        sockets = super().bind()
        if self.tls is not None:
            self.url = self.url.replace("http://", "https://", 1)
        return sockets

    async def serve(self, sockets: list[socket.socket], stop: asyncio.Event) -> None:
        """Serve until stopped; then end every open stream and close every connection."""
        server = tornado.httpserver.HTTPServer(self._surface.application(), ssl_options=self.tls)
        server.add_sockets(sockets)
        self.ready()
        try:
            await stop.wait()
        finally:
            await self._surface.shutdown(server)
