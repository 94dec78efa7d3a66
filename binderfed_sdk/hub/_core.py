"""The sans-I/O core shared by the sync and async clients.

Everything here decides; nothing here sends, reads or sleeps. `hub.py` and `session.py` are
thin shells that do the I/O (httpx, httpx-sse) and hand each thing they receive to this core,
so a rule (what a status code means, when a stream is over, whether to retry) is written once.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError

from binderfed_sdk import _json
from binderfed_sdk._errors import (
    BinderFedError,
    BuildFailed,
    HubError,
    HubUnavailable,
    ProtocolError,
    RateLimited,
    SessionOriginRefused,
    StreamClosed,
    StreamTimeout,
)
from binderfed_sdk._lazy import publish
from binderfed_sdk._redact import redact
from binderfed_sdk._urls import endpoint, hub_root
from binderfed_sdk.hub._events import TERMINAL_PHASES, BuildEvent, Phase
from binderfed_sdk.hub._failures import explain
from binderfed_sdk.hub._models import RateLimit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

ModelT = TypeVar("ModelT", bound=BaseModel)

logger = logging.getLogger("binderfed")

DEFAULT_TIMEOUT = 10.0
#: how long the retries of one plain JSON request may go on, all attempts together
JSON_DEADLINE = 60.0
USER_AGENT = "binderfed-sdk"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failed request is tried again.

    Only failures that may pass on a second try are retried: connection errors, timeouts
    before the first byte, 5xx answers and `failed` events with a 5xx status. Never a spec
    error, a 4xx, a rate limit or a build that failed on its own.

    `failed_attempts` bounds the tries of a build whose stream ended in a `failed` event with
    a 5xx (default: one more): by then the hub has retried the launch itself, for half a
    minute or more when its JupyterHub is down, and each try rebuilds.
    """

    attempts: int = 3
    backoff: float = 1.0
    max_backoff: float = 10.0
    failed_attempts: int = 2

    def delay(self, attempt: int, error: BinderFedError) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up with `error`."""
        if attempt >= self.attempts or not is_retryable(error):
            return None
        if isinstance(error, BuildFailed) and attempt >= self.failed_attempts:
            return None
        return min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))


NO_RETRY = RetryPolicy(attempts=1)


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    error: BinderFedError,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> float | None:
    """The policy's delay before the next attempt, or None to give up (also past `deadline`)."""
    delay = policy.delay(attempt, error)
    if delay is None or clock() + delay >= deadline:
        return None
    logger.warning("%s; retrying in %.1f s (attempt %d)", error, delay, attempt + 1)
    return delay


def probe_budget(base: httpx.Timeout) -> float:
    """All the time a probe (`health()`) may take, its retries included: one timeout."""
    parts = [part for part in (base.connect, base.read) if part is not None]
    return max(parts) if parts else DEFAULT_TIMEOUT


def timeout_within(
    base: httpx.Timeout, deadline: float, clock: Callable[[], float] = time.monotonic
) -> httpx.Timeout:
    """`base`, each part cut to the time left before `deadline`."""
    left = max(0.001, deadline - clock())
    return httpx.Timeout(
        connect=left if base.connect is None else min(base.connect, left),
        read=left if base.read is None else min(base.read, left),
        write=left if base.write is None else min(base.write, left),
        pool=left if base.pool is None else min(base.pool, left),
    )


def is_retryable(error: BinderFedError) -> bool:
    if isinstance(error, RateLimited):
        return False
    if isinstance(error, BuildFailed):
        return error.retryable
    if isinstance(error, ProtocolError | StreamClosed | StreamTimeout):
        return False
    return isinstance(error, HubUnavailable)


#: a plain JSON answer larger than this is hostile (real ones are a few KB)
MAX_JSON_BYTES = _json.MAX_JSON_BYTES


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Bounds on one build stream.

    `idle_timeout`: seconds with no byte at all (BinderHub's keepalive comes every 25 s).
    `total_timeout`: seconds for the whole build and launch, keepalives or not.
    `max_line_bytes`: a longer line is hostile (real messages are a few KB) and ends the stream.
    `max_event_bytes`: the same for one event, all its lines together (a huge event may come
    as many short `data:` lines).
    `max_json_bytes`: the same for a plain JSON answer (`/health`, `/versions`, providers,
    a session's `api/status`, a redirector's `active_hosts`; real ones are a few KB).
    Every size counts the bytes as decoded: only uncompressed answers are accepted.
    """

    idle_timeout: float = 90.0
    total_timeout: float = 3600.0
    max_line_bytes: int = 1 << 20
    max_event_bytes: int = 2 << 20
    max_json_bytes: int = MAX_JSON_BYTES
    log_lines: int = 20


# --- answers to plain JSON requests -------------------------------------------------------


#: asked of every server: the size limits count the bytes as they come (see `check_encoding`)
IDENTITY = {"Accept-Encoding": "identity"}


def check_encoding(hub: str, what: str, headers: Mapping[str, str]) -> None:
    """Refuse a compressed answer: identity was asked for, and a few KB of gzip can expand to
    gigabytes, past any limit counted on the bytes received."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in {"", "identity"}:
        msg = f"{what}: the server sent Content-Encoding {encoding[:40]!r}, not the identity asked"
        raise ProtocolError(msg, hub=hub)


@dataclass(slots=True)
class JsonBody:
    """A JSON answer's body, gathered chunk by chunk up to `limit` bytes (then `ProtocolError`:
    the caller closes the connection, not reading the rest)."""

    hub: str
    what: str
    limit: int
    size: int = 0
    chunks: list[bytes] = field(default_factory=list)

    def start(self, headers: Mapping[str, str]) -> None:
        """Check the headers: the encoding, and a declared length already past the limit."""
        check_encoding(self.hub, self.what, headers)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            self._too_big()

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self._too_big()
        self.chunks.append(chunk)

    @property
    def content(self) -> bytes:
        return b"".join(self.chunks)

    def _too_big(self) -> None:
        msg = f"{self.what}: the answer is larger than the limit of {self.limit} bytes"
        raise ProtocolError(msg, hub=self.hub)


def loads_json(hub: str, what: str, data: str | bytes) -> Any:
    """JSON a hub sent; what a hostile server can send (invalid or too deeply nested JSON) is
    a `ProtocolError`."""
    try:
        return _json.loads(data)
    except ValueError as exc:
        msg = f"{what}: the answer is {exc}"
        raise ProtocolError(msg, hub=hub) from None


def parse_json_answer(
    hub: str,
    what: str,
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    ok_statuses: frozenset[int] = frozenset({200}),
) -> Any:
    """Decode a JSON answer or raise the precise error for what came back instead."""
    if status_code == 429:
        raise rate_limited(hub, headers)
    if status_code >= 500 and status_code not in ok_statuses:
        msg = f"{what}: hub answered HTTP {status_code}"
        raise HubUnavailable(msg, hub=hub, status_code=status_code)
    if status_code not in ok_statuses:
        msg = f"{what}: hub answered HTTP {status_code}"
        raise HubError(msg, hub=hub, status_code=status_code)
    content_type = headers.get("content-type", "")
    if "html" in content_type or body.lstrip()[:1] == b"<":
        msg = f"{what}: hub answered an HTML page where JSON was expected"
        raise HubUnavailable(msg, hub=hub, status_code=status_code)
    try:
        return loads_json(hub, what, body)
    except ProtocolError as exc:
        raise ProtocolError(exc.message, hub=hub, status_code=status_code) from None


def validate(hub: str, what: str, model: type[ModelT], data: Any, **context: Any) -> ModelT:
    try:
        return model.model_validate({**data, **context} if isinstance(data, dict) else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "answer"
        msg = f"{what}: unexpected answer shape at {where}: {first['msg']}"
        raise ProtocolError(msg, hub=hub) from None


def validate_object_list(hub: str, what: str, data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        msg = f"{what}: expected a JSON list of objects"
        raise ProtocolError(msg, hub=hub)
    return data


def as_error(
    hub: str,
    what: str,
    exc: httpx.HTTPError | BinderFedError,
    *,
    streaming: bool = False,
    responded: bool = True,
) -> BinderFedError:
    """Our errors pass through; httpx's are translated."""
    if isinstance(exc, BinderFedError):
        return exc
    return transport_error(hub, what, exc, streaming=streaming, responded=responded)


def transport_error(
    hub: str, what: str, exc: httpx.HTTPError, *, streaming: bool = False, responded: bool = True
) -> HubError:
    """Translate an httpx error; the text names the hub, never the request URL or its query.

    `responded`: a stream's headers had come (a read timeout is then the stream's silence,
    before them a hub that accepted the connection and never answered)."""
    if isinstance(exc, httpx.RemoteProtocolError) and str(exc).startswith(_BAD_LOCATION):
        return redirect_not_a_url(hub, what)
    if isinstance(exc, httpx.TimeoutException):
        if streaming and isinstance(exc, httpx.ReadTimeout):
            if not responded:
                msg = f"{what}: the hub accepted the connection but did not answer in time"
                return HubUnavailable(msg, hub=hub)
            return StreamTimeout(f"{what}: no data from the hub in time", hub=hub)
        return HubUnavailable(f"{what}: timed out ({type(exc).__name__})", hub=hub)
    if streaming and isinstance(exc, httpx.RemoteProtocolError):
        return StreamClosed(f"{what}: the hub closed the connection unexpectedly", hub=hub)
    reason = redact(str(exc).split("\n", 1)[0]) or type(exc).__name__
    return HubUnavailable(f"{what}: cannot reach the hub ({reason})", hub=hub)


def parse_rate_limit(headers: Mapping[str, str], hub: str | None = None) -> RateLimit | None:
    def number(name: str) -> int | None:
        value = headers.get(name)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    limit, remaining, reset = (
        number("x-ratelimit-limit"),
        number("x-ratelimit-remaining"),
        number("x-ratelimit-reset"),
    )
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimit(
        limit=limit,
        remaining=remaining,
        reset=datetime.fromtimestamp(reset, UTC) if reset is not None else None,
        hub=hub,
    )


# BinderHub's refusal: "Rate limit exceeded. Try again in 3600 seconds."
_TRY_AGAIN = re.compile(r"try again in (\d{1,9}) ?s(?:ec(?:ond)?s?)?\b", re.IGNORECASE)


def rate_limit_reset(
    message: str, known: RateLimit | None, now: datetime | None = None
) -> datetime | None:
    """When a client that BinderHub refused may build again.

    BinderHub refuses with a `failed` event and no `x-ratelimit-*` headers, and its message
    names its whole window ("Try again in <period> seconds"), not the time left in it. The
    window opened at the client's first request, so the `x-ratelimit-reset` of an earlier,
    allowed answer of the same hub (`known`) is the window's true end when it falls within
    that bound; otherwise the bound itself is the best answer.
    """
    now = now or datetime.now(UTC)
    match = _TRY_AGAIN.search(message)
    bound = now + timedelta(seconds=int(match.group(1))) if match else None
    reset = known.reset if known is not None else None
    # one second of slack: the hub's reset is whole epoch seconds
    if reset is not None and (bound is None or now <= reset <= bound + timedelta(seconds=1)):
        return reset
    return bound


def rate_limited(hub: str, headers: Mapping[str, str], message: str | None = None) -> RateLimited:
    info = parse_rate_limit(headers, hub)
    return RateLimited(
        message or "the hub's rate limit for this client is used up",
        hub=hub,
        limit=info.limit if info else None,
        reset=info.reset if info else None,
    )


# --- a front door's redirect ----------------------------------------------------------------

#: the redirects a front door answers `/build` with (mybinder.org's redirector sends 307);
#: both keep the method. Any other redirect, anywhere, stays an error.
REDIRECT_STATUSES = frozenset({307, 308})
#: the only request headers that go on to another origin: the protocol's own and httpx's
#: basics. The caller's others (Authorization, Cookie, API keys) were given for the front door.
_CROSS_ORIGIN_HEADERS = frozenset(
    {"host", "accept", "accept-encoding", "cache-control", "connection", "user-agent"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: how httpx's RemoteProtocolError begins for a Location it cannot parse (httpx 0.28)
_BAD_LOCATION = "Invalid URL in location header"


@dataclass(frozen=True, slots=True)
class Redirect:
    """Where a front door sent a build: the URL to follow and the member it names."""

    #: the Location, resolved; its query is the one the front door wrote (mybinder.org's
    #: redirector copies the request's, `build_token` included)
    url: str
    #: the member's hub root URL
    member: str
    #: the member is another origin (scheme, host, port) than the front door
    cross_origin: bool

    def __repr__(self) -> str:  # the query may hold the build token
        url, member = redact(self.url), redact(self.member)
        return f"Redirect(url={url!r}, member={member!r}, cross_origin={self.cross_origin!r})"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


#: which session origins a client accepts besides its default (see `check_session_url`):
#: True for any, else origins (`https://hub.example.org`) or hosts (`hub.example.org:8000`)
SessionOrigins = bool | tuple[str, ...]


def session_origins(allow: bool | Iterable[str]) -> SessionOrigins:  # noqa: FBT001 - a setting
    """The caller's `allow_session_origins`, checked: `bool`, or an iterable of origins/hosts."""
    if isinstance(allow, bool):
        return allow
    if isinstance(allow, str):  # one origin given alone, not its characters
        allow = (allow,)
    return tuple(allow)


def _host_port(netloc_url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an origin or a bare `host[:port]`; scheme "" when not given."""
    has_scheme = "://" in netloc_url
    parts = urlsplit(netloc_url if has_scheme else f"//{netloc_url}")
    host = (parts.hostname or "").rstrip(".")
    return (parts.scheme.lower() if has_scheme else ""), host, parts.port


def check_session_url(served_by: str, url: str, *, allow: SessionOrigins = False) -> str:
    """The session URL of a `ready` event, if the token may be sent there, without its query,
    fragment and userinfo (only the event's `token` field is a token); else
    `SessionOriginRefused`.

    Accepted: the host of the hub that served the build (any port) or a subdomain of it (on
    mybinder.org the member 2i2c.mybinder.org launches on hub.2i2c.mybinder.org); else what
    `allow` lists (an origin, or a host with any scheme), or any origin if it is True. Never
    http when the hub that served the build is https.
    """
    hub = urlsplit(served_by)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        msg = "launch: the `ready` event's session url is not an http(s) URL"
        raise ProtocolError(msg, hub=served_by)
    scheme, host = parts.scheme.lower(), parts.hostname.rstrip(".")
    shown = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
    if hub.scheme == "https" and scheme != "https":
        msg = f"launch: refused the session url {shown}: plain http from an https hub"
        raise SessionOriginRefused(msg, hub=served_by)
    hub_host = (hub.hostname or "").rstrip(".")
    allowed = allow is True or host == hub_host or host.endswith("." + hub_host)
    if not allowed and not isinstance(allow, bool):
        default_port = _DEFAULT_PORTS.get(scheme)
        for entry in allow:
            want_scheme, want_host, want_port = _host_port(entry.strip().lower())
            if want_host != host or want_scheme not in {"", scheme}:
                continue
            want = want_port or (_DEFAULT_PORTS.get(want_scheme) if want_scheme else None)
            if want is None or want == (port or default_port):
                allowed = True
                break
    if not allowed:
        msg = (
            f"launch: refused the session url {shown}: another origin than the hub that "
            "served the build (allow it with `allow_session_origins`)"
        )
        raise SessionOriginRefused(msg, hub=served_by)
    return session_root(url)


def session_root(url: str) -> str:
    """A session URL as kept and shown: no userinfo, query or fragment; one trailing `/`."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = host + (f":{port}" if port is not None else "")
    return hub_root(urlunsplit((parts.scheme.lower(), netloc, parts.path, "", "")))


def build_redirect(
    hub: str, request_url: str, build_path: str, status_code: int, location: str | None
) -> Redirect:
    """Check a front door's answer to `/build` and say where it leads, or raise.

    Followed: an http(s) URL on the same scheme or an upgrade to https, to a `/build/...`
    path. Refused: a downgrade (`HubError`), and anything that is not such a URL
    (`ProtocolError`). Error texts name hosts only: a Location's query may hold a token.
    """
    what = f"build: the hub redirected (HTTP {status_code})"
    if not location or not location.strip():
        msg = f"{what} without a Location"
        raise ProtocolError(msg, hub=hub, status_code=status_code)
    try:
        current = httpx.URL(request_url)
        target = current.join(location.strip()).copy_with(fragment=None)
        path = target.raw_path.partition(b"?")[0].decode("ascii")
        netloc = target.netloc.decode("ascii")
    except (httpx.InvalidURL, ValueError, TypeError):
        msg = f"{what} to a Location that is not a URL"
        raise ProtocolError(msg, hub=hub, status_code=status_code) from None
    if target.scheme not in _DEFAULT_PORTS:
        msg = f"{what} to a {target.scheme[:20]!r} URL; only http and https are followed"
        raise ProtocolError(msg, hub=hub, status_code=status_code)
    if not target.host or target.userinfo:
        msg = f"{what} to a URL without a host or with credentials in it; not followed"
        raise ProtocolError(msg, hub=hub, status_code=status_code)
    if current.scheme == "https" and target.scheme == "http":
        msg = f"{what} from https to http ({target.host}); a downgrade is never followed"
        raise HubError(msg, hub=hub, status_code=status_code)
    suffix = "/" + build_path.lstrip("/")
    if path.endswith(suffix):  # the real redirector's: <member url> + the request's path
        base = path[: -len(suffix)]
    elif "/build/" in path:
        base = path[: path.index("/build/")]
    else:
        msg = f"{what} away from a build stream ({target.host}); not followed"
        raise ProtocolError(msg, hub=hub, status_code=status_code)
    member = hub_root(f"{target.scheme}://{netloc}{base}")
    return Redirect(str(target), member, _origin(target) != _origin(current))


def redirect_not_a_url(hub: str, what: str) -> ProtocolError:
    """httpx parses a redirect's Location even when it does not follow it, and raises when it
    cannot: `httpx.InvalidURL` (not an `httpx.HTTPError`: callers catch it themselves) or a
    `RemoteProtocolError` saying so (`transport_error` turns it into this). This is that, typed."""
    return ProtocolError(f"{what}: the hub redirected to a Location that is not a URL", hub=hub)


# --- the build stream ------------------------------------------------------------------------


@dataclass(slots=True)
class BuildStreamCore:
    """State of one build stream: feeds in, events and decisions out.

    A shell calls `check_response` once the headers are in, `on_bytes` for every raw chunk,
    `on_event` for every SSE message (httpx-sse does the framing), and `on_eof` when the body
    ends. Whatever ends the stream comes out as an exception from one of them.
    """

    hub: str
    build_path: str
    limits: StreamLimits = field(default_factory=StreamLimits)
    build_only: bool = False
    build_token: str | None = field(default=None, repr=False)  # a credential: never shown
    clock: Callable[[], float] = time.monotonic
    started: float = 0.0
    deadline: float = 0.0
    finished: bool = False
    #: the current connection's answer (status line and headers) has come
    responded: bool = False
    #: the last `x-ratelimit-*` headers known (the client passes its hub's in)
    rate_limit: RateLimit | None = None
    #: the hub serving the build: the member a front door redirected to, else `hub`
    served_by: str = ""
    #: the front door's redirect on this attempt, if it answered one
    redirect: Redirect | None = None
    log: deque[str] = field(default_factory=deque)
    _line_bytes: int = 0
    _event_bytes: int = 0
    _last_byte: bytes = b""

    def __post_init__(self) -> None:
        self.log = deque(maxlen=self.limits.log_lines)
        # the event model's validator is built on first use, not at import (defer_build):
        # build it here, before the request goes out, not when the first event arrives
        if not BuildEvent.__pydantic_complete__:
            BuildEvent.model_rebuild()
        self.restart()

    def restart(self) -> None:
        """Reset per-connection state; the total deadline is kept across retries."""
        now = self.clock()
        if not self.started:
            self.started = now
            self.deadline = now + self.limits.total_timeout
        self.finished = False
        self.responded = False
        self._line_bytes = 0
        self._event_bytes = 0
        self._last_byte = b""
        # every attempt asks the front door again: it routes around a member that failed
        # (and its sticky cookie, if the client keeps it, names the same member while healthy)
        self.redirect = None
        self.served_by = self.hub

    # request ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.redirect.url if self.redirect else endpoint(self.hub, self.build_path)

    @property
    def params(self) -> dict[str, str] | None:
        """The query; None after a redirect, whose Location carries the query the front door
        passes on (httpx would replace a Location's query by any params given, even none)."""
        if self.redirect:
            return None
        params: dict[str, str] = {}
        if self.build_only:
            params["build_only"] = "true"
        if self.build_token:
            params["build_token"] = self.build_token
        return params

    headers: Mapping[str, str] = field(
        default_factory=lambda: {
            "Accept": "text/event-stream",
            "Cache-Control": "no-store",
            # the size guards count raw bytes: keep them uncompressed (others are refused)
            **IDENTITY,
        }
    )

    def timeout(self, base: httpx.Timeout) -> httpx.Timeout:
        """The request's timeouts: the answer (status line and headers) must come within the
        read timeout, as for any request (a hub that accepts and never answers is given no
        more); never past the total deadline. Once it has come, `body_read_timeout` applies."""
        remaining = max(0.001, self.deadline - self.clock())
        first_byte = self.limits.idle_timeout if base.read is None else base.read
        return httpx.Timeout(
            connect=min(base.connect or DEFAULT_TIMEOUT, remaining),
            read=min(first_byte, self.limits.idle_timeout, remaining),
            write=base.write,
            pool=base.pool,
        )

    def body_read_timeout(self) -> float:
        """The read timeout of the body: the idle limit (keepalives come every 25 s), but
        never past the total deadline."""
        return max(0.001, min(self.limits.idle_timeout, self.deadline - self.clock()))

    def drop_headers(self, headers: Mapping[str, str]) -> list[str]:
        """The request headers to remove before sending: on another origin than the front
        door's, all but the protocol's own (credentials stay with the origin they were for)."""
        if self.redirect is None or not self.redirect.cross_origin:
            return []
        return [name for name in headers if name.lower() not in _CROSS_ORIGIN_HEADERS]

    def follows(self, status_code: int) -> bool:
        """True if this answer is a front door's redirect to follow (once per attempt)."""
        return status_code in REDIRECT_STATUSES and self.redirect is None

    def follow(self, status_code: int, location: str | None) -> None:
        """Take the front door's redirect; raises if it may not be followed."""
        self.redirect = build_redirect(self.hub, self.url, self.build_path, status_code, location)
        self.served_by = self.redirect.member
        logger.debug("build: %s sent the build to %s", self.hub, self.served_by)

    # response --------------------------------------------------------------------------------
    def check_response(self, status_code: int, headers: Mapping[str, str]) -> None:
        self.responded = True
        hub = self.served_by
        self.rate_limit = parse_rate_limit(headers, hub) or self.rate_limit
        what = "build"
        if status_code == 429:
            raise rate_limited(hub, headers)
        if status_code >= 500:
            msg = f"{what}: hub answered HTTP {status_code}"
            raise HubUnavailable(msg, hub=hub, status_code=status_code)
        if 300 <= status_code < 400:
            why = "after the front door's, no more" if self.redirect else "only a front door's"
            msg = f"{what}: hub answered a redirect (HTTP {status_code}), not followed ({why})"
            raise HubError(msg, hub=hub, status_code=status_code)
        if status_code != 200:
            msg = f"{what}: hub answered HTTP {status_code}"
            raise HubError(msg, hub=hub, status_code=status_code)
        content_type = headers.get("content-type", "").partition(";")[0].strip()
        if content_type == "text/html":
            msg = f"{what}: hub answered an HTML page where an event stream was expected"
            raise HubUnavailable(msg, hub=hub, status_code=status_code)
        if content_type != "text/event-stream":
            msg = f"{what}: expected an event stream, got content type {content_type!r}"
            raise ProtocolError(msg, hub=hub, status_code=status_code)
        check_encoding(hub, what, headers)

    def on_bytes(self, chunk: bytes) -> None:
        """Called for every raw chunk: enforces the total deadline and the line-length bound."""
        if self.clock() > self.deadline:
            msg = f"build: no result within the total limit of {self.limits.total_timeout:g} s"
            raise StreamTimeout(msg, hub=self.served_by)
        # a line ends at LF, CR or CRLF (SSE allows each); the bytes are as decoded, since
        # `check_response` refuses a Content-Encoding
        newline = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        self._line_bytes = (
            self._line_bytes + len(chunk) if newline < 0 else len(chunk) - newline - 1
        )
        if self._line_bytes > self.limits.max_line_bytes:
            msg = (
                f"build: the stream sent a line longer than {self.limits.max_line_bytes} bytes;"
                " this is not BinderHub's wire format"
            )
            raise ProtocolError(msg, hub=self.served_by)
        # an event ends at a blank line: whatever the line endings, two in a row contain one
        # of LF LF, LF CR or CR CR (CRLF CRLF has LF CR); the byte before the chunk counts
        joined = self._last_byte + chunk
        end = max(joined.rfind(b"\n\n"), joined.rfind(b"\n\r"), joined.rfind(b"\r\r"))
        self._event_bytes = self._event_bytes + len(chunk) if end < 0 else len(joined) - end - 2
        self._last_byte = chunk[-1:] or self._last_byte
        if self._event_bytes > self.limits.max_event_bytes:
            msg = (
                f"build: the stream sent an event larger than {self.limits.max_event_bytes}"
                " bytes; this is not BinderHub's wire format"
            )
            raise ProtocolError(msg, hub=self.served_by)

    def on_event(self, data: str) -> BuildEvent | None:
        """Parse one SSE message's data; returns the event or raises what ends the stream.

        A message with no data is not dispatched, as in browsers' EventSource.
        This runs once per event, so it is kept lean: the validator is called directly,
        raw messages go to the log, and the phase is tested once.
        """
        if not data:
            return None
        try:
            event: BuildEvent = BuildEvent.__pydantic_validator__.validate_json(data)
        except ValidationError:
            event = parse_event_leniently(self.served_by, data)
        # the one field the wire does not decide, set before anyone sees the event (cheaper
        # than model_copy, which would double the cost of an event)
        object.__setattr__(event, "hub", self.served_by)
        if event.message:
            self.log.append(event.message)
        if event.phase in TERMINAL_PHASES:
            self.finished = True
            if event.phase != Phase.READY:
                raise self.failure(event)
        return event

    def failure(self, event: BuildEvent) -> BuildFailed | RateLimited:
        message = event.log_line or "build failed"
        if event.status_code == 429:
            # BinderHub sends no headers with it; the last known ones count if they are this
            # hub's (behind a front door each member keeps its own count)
            known = self.rate_limit
            if known is not None and known.hub not in {None, self.served_by}:
                known = None
            return RateLimited(
                message,
                hub=self.served_by,
                limit=known.limit if known else None,
                reset=rate_limit_reset(message, known),
            )
        log = self.log_lines
        why = explain(log)
        return BuildFailed(
            message,
            hub=self.served_by,
            status_code=event.status_code,
            log=log,
            event=event,
            hint=why.hint if why else None,
            fix_files=why.fix_files if why else (),
        )

    @property
    def log_lines(self) -> list[str]:
        """The last messages, oldest first, without their line endings."""
        return [line.rstrip("\r\n") for line in self.log]

    def retry_delay(self, policy: RetryPolicy, attempt: int, error: BinderFedError) -> float | None:
        return retry_delay(policy, attempt, error, self.deadline, self.clock)

    def on_eof(self) -> None:
        if not self.finished:
            msg = "build: the event stream closed before `ready` or `failed`"
            raise StreamClosed(msg, hub=self.served_by)


def parse_event(hub: str, data: str) -> BuildEvent:
    """One event from an SSE message's data; `ProtocolError` if it cannot be one."""
    try:
        # the validator itself, not model_validate_json: one call less per event; looked up
        # per call because BuildEvent builds it on first use (defer_build)
        event: BuildEvent = BuildEvent.__pydantic_validator__.validate_json(data)
    except ValidationError:
        return parse_event_leniently(hub, data)
    return event


def parse_event_leniently(hub: str, data: str) -> BuildEvent:
    """The slow path: only hostile or unusual messages get here."""
    # error texts give sizes and positions, never the data: it may hold a token
    try:
        raw = _json.loads(data)
    except ValueError as exc:
        msg = f"build: an event's data is {exc}"
        raise ProtocolError(msg, hub=hub) from None
    if not isinstance(raw, dict):
        msg = f"build: an event's data is JSON but not an object ({type(raw).__name__})"
        raise ProtocolError(msg, hub=hub)
    if raw.get("message") is None:
        raw["message"] = ""
    try:
        return BuildEvent.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        msg = f"build: an event's field {where!r} is invalid: {first['msg']}"
        raise ProtocolError(msg, hub=hub) from None


publish(__name__)  # public classes show as binderfed_sdk.X
