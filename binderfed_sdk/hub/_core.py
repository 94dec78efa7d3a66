"""The sans-I/O core shared by the sync and async clients.

Everything here decides; nothing here sends, reads or sleeps. `hub.py` and `session.py` are
thin shells that do the I/O (httpx, httpx-sse) and hand each thing they receive to this core,
so a rule (what a status code means, when a stream is over, whether to retry) is written once.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from binderfed_sdk._errors import (
    BinderFedError,
    BuildFailed,
    HubError,
    HubUnavailable,
    ProtocolError,
    RateLimited,
    StreamClosed,
    StreamTimeout,
)
from binderfed_sdk._lazy import publish
from binderfed_sdk._urls import endpoint
from binderfed_sdk.hub._events import TERMINAL_PHASES, BuildEvent, Phase
from binderfed_sdk.hub._models import RateLimit

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

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
    """

    attempts: int = 3
    backoff: float = 1.0
    max_backoff: float = 10.0

    def delay(self, attempt: int, error: BinderFedError) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up with `error`."""
        if attempt >= self.attempts or not is_retryable(error):
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


def is_retryable(error: BinderFedError) -> bool:
    if isinstance(error, RateLimited):
        return False
    if isinstance(error, BuildFailed):
        return error.retryable
    if isinstance(error, ProtocolError | StreamClosed | StreamTimeout):
        return False
    return isinstance(error, HubUnavailable)


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Bounds on one build stream.

    `idle_timeout`: seconds with no byte at all (BinderHub's keepalive comes every 25 s).
    `total_timeout`: seconds for the whole build and launch, keepalives or not.
    `max_line_bytes`: a longer line is hostile (real messages are a few KB) and ends the stream.
    """

    idle_timeout: float = 90.0
    total_timeout: float = 3600.0
    max_line_bytes: int = 1 << 20
    log_lines: int = 20


# --- answers to plain JSON requests -------------------------------------------------------


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
        return json.loads(body)
    except ValueError:
        msg = f"{what}: hub answered invalid JSON ({len(body)} bytes)"
        raise ProtocolError(msg, hub=hub, status_code=status_code) from None


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
    hub: str, what: str, exc: httpx.HTTPError | BinderFedError, *, streaming: bool = False
) -> BinderFedError:
    """Our errors pass through; httpx's are translated."""
    if isinstance(exc, BinderFedError):
        return exc
    return transport_error(hub, what, exc, streaming=streaming)


def transport_error(
    hub: str, what: str, exc: httpx.HTTPError, *, streaming: bool = False
) -> HubError:
    """Translate an httpx error; the text names the hub, never the request URL or its query."""
    if isinstance(exc, httpx.TimeoutException):
        if streaming and isinstance(exc, httpx.ReadTimeout):
            return StreamTimeout(f"{what}: no data from the hub in time", hub=hub)
        return HubUnavailable(f"{what}: timed out ({type(exc).__name__})", hub=hub)
    if streaming and isinstance(exc, httpx.RemoteProtocolError):
        return StreamClosed(f"{what}: the hub closed the connection unexpectedly", hub=hub)
    reason = str(exc).split("\n", 1)[0] or type(exc).__name__
    return HubUnavailable(f"{what}: cannot reach the hub ({reason})", hub=hub)


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
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
    )


def rate_limited(hub: str, headers: Mapping[str, str], message: str | None = None) -> RateLimited:
    info = parse_rate_limit(headers)
    return RateLimited(
        message or "the hub's rate limit for this client is used up",
        hub=hub,
        limit=info.limit if info else None,
        reset=info.reset if info else None,
    )


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
    build_token: str | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = 0.0
    deadline: float = 0.0
    finished: bool = False
    rate_limit: RateLimit | None = None
    log: deque[str] = field(default_factory=deque)
    _line_bytes: int = 0

    def __post_init__(self) -> None:
        self.log = deque(maxlen=self.limits.log_lines)
        self.restart()

    def restart(self) -> None:
        """Reset per-connection state; the total deadline is kept across retries."""
        now = self.clock()
        if not self.started:
            self.started = now
            self.deadline = now + self.limits.total_timeout
        self.finished = False
        self._line_bytes = 0

    # request ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return endpoint(self.hub, self.build_path)

    @property
    def params(self) -> dict[str, str]:
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
            # the line-length guard counts raw bytes: keep them uncompressed
            "Accept-Encoding": "identity",
        }
    )

    def timeout(self, base: httpx.Timeout) -> httpx.Timeout:
        """The read timeout is the idle limit, but never past the total deadline."""
        remaining = max(0.001, self.deadline - self.clock())
        return httpx.Timeout(
            connect=min(base.connect or DEFAULT_TIMEOUT, remaining),
            read=min(self.limits.idle_timeout, remaining),
            write=base.write,
            pool=base.pool,
        )

    # response --------------------------------------------------------------------------------
    def check_response(self, status_code: int, headers: Mapping[str, str]) -> None:
        self.rate_limit = parse_rate_limit(headers) or self.rate_limit
        what = "build"
        if status_code == 429:
            raise rate_limited(self.hub, headers)
        if status_code >= 500:
            msg = f"{what}: hub answered HTTP {status_code}"
            raise HubUnavailable(msg, hub=self.hub, status_code=status_code)
        if status_code != 200:
            msg = f"{what}: hub answered HTTP {status_code}"
            raise HubError(msg, hub=self.hub, status_code=status_code)
        content_type = headers.get("content-type", "").partition(";")[0].strip()
        if content_type == "text/html":
            msg = f"{what}: hub answered an HTML page where an event stream was expected"
            raise HubUnavailable(msg, hub=self.hub, status_code=status_code)
        if content_type != "text/event-stream":
            msg = f"{what}: expected an event stream, got content type {content_type!r}"
            raise ProtocolError(msg, hub=self.hub, status_code=status_code)

    def on_bytes(self, chunk: bytes) -> None:
        """Called for every raw chunk: enforces the total deadline and the line-length bound."""
        if self.clock() > self.deadline:
            msg = f"build: no result within the total limit of {self.limits.total_timeout:g} s"
            raise StreamTimeout(msg, hub=self.hub)
        newline = chunk.rfind(b"\n")
        self._line_bytes = (
            self._line_bytes + len(chunk) if newline < 0 else len(chunk) - newline - 1
        )
        if self._line_bytes > self.limits.max_line_bytes:
            msg = (
                f"build: the stream sent a line longer than {self.limits.max_line_bytes} bytes;"
                " this is not BinderHub's wire format"
            )
            raise ProtocolError(msg, hub=self.hub)

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
            event = parse_event_leniently(self.hub, data)
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
            info = self.rate_limit
            return RateLimited(
                message,
                hub=self.hub,
                limit=info.limit if info else None,
                reset=info.reset if info else None,
            )
        return BuildFailed(
            message, hub=self.hub, status_code=event.status_code, log=self.log_lines, event=event
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
            raise StreamClosed(msg, hub=self.hub)


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
        raw = json.loads(data)
    except json.JSONDecodeError as exc:
        msg = f"build: an event's data is not JSON ({exc.msg} at char {exc.pos} of {len(data)})"
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
