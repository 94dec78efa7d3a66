"""The sans-I/O core and the event model: pure, no servers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from binderfed_sdk import (
    BuildEvent,
    BuildFailed,
    HubUnavailable,
    ProtocolError,
    RateLimited,
    RetryPolicy,
    SpecError,
    StreamClosed,
    StreamLimits,
    StreamTimeout,
)
from binderfed_sdk._redact import install, redact
from binderfed_sdk.hub._core import BuildStreamCore, parse_rate_limit, retry_delay


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def core(clock: Clock | None = None, **limits: float) -> BuildStreamCore:
    return BuildStreamCore(
        hub="http://hub.test/",
        build_path="build/gh/u/r/HEAD",
        limits=StreamLimits(**limits),  # type: ignore[arg-type]
        clock=clock or Clock(),
    )


def test_event_normalises_and_keeps_everything() -> None:
    event = BuildEvent.model_validate_json(
        '{"phase": "Building", "message": "step\\r", "imageName": "img:1", "extra": [1]}'
    )
    assert event.phase == "building"
    assert event.image_name == "img:1"
    assert event.log_line == "step"
    assert event.model_extra == {"extra": [1]}
    assert BuildEvent.model_validate_json('{"message": "no phase\\n"}').phase is None
    assert BuildEvent.model_validate_json('{"phase": "Succeed"}').phase == "succeed"


def test_ready_token_is_secret() -> None:
    event = BuildEvent.model_validate({"phase": "ready", "token": "s3cr3t", "url": "http://x/"})
    assert event.is_ready
    assert event.is_terminal
    assert "s3cr3t" not in repr(event)
    assert "s3cr3t" not in str(event)
    assert "s3cr3t" not in event.model_dump_json()
    assert event.token is not None
    assert event.token.get_secret_value() == "s3cr3t"


def test_core_request_shape() -> None:
    stream = core()
    stream.build_only, stream.build_token = True, "jwt"
    assert stream.url == "http://hub.test/build/gh/u/r/HEAD"
    assert stream.params == {"build_only": "true", "build_token": "jwt"}
    assert stream.headers["Accept"] == "text/event-stream"


@pytest.mark.parametrize("phase", ["failed", "Failed", "failure"])
def test_failed_phases_raise_with_log(phase: str) -> None:
    stream = core()
    stream.on_event('{"phase": "building", "message": "one\\n"}')
    with pytest.raises(BuildFailed) as failed:
        stream.on_event(f'{{"phase": "{phase}", "message": "bad\\n", "status_code": 500}}')
    assert failed.value.log == ("one", "bad")
    assert failed.value.retryable
    assert stream.finished


def test_failed_429_is_rate_limited_with_header_reset() -> None:
    stream = core()
    stream.check_response(
        200,
        {
            "content-type": "text/event-stream",
            "x-ratelimit-limit": "10",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": "1800000000",
        },
    )
    with pytest.raises(RateLimited) as limited:
        stream.on_event('{"phase": "failed", "status_code": 429, "message": "Too many\\n"}')
    assert limited.value.reset == datetime.fromtimestamp(1800000000, UTC)
    assert limited.value.limit == 10


def test_eof_before_ready_is_stream_closed() -> None:
    stream = core()
    stream.on_event('{"phase": "waiting"}')
    with pytest.raises(StreamClosed):
        stream.on_eof()
    stream.on_event('{"phase": "ready", "url": "http://x/", "token": "t"}')
    stream.on_eof()  # finished: no error


def test_empty_data_is_not_dispatched() -> None:
    assert core().on_event("") is None


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ('{"phase": "ready", "token": "abc', "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"phase": 3}', "'phase'"),
        ('{"status_code": "many"}', "'status_code'"),
    ],
)
def test_hostile_event_data(data: str, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment) as raised:
        core().on_event(data)
    assert "abc" not in str(raised.value)


def test_null_message_is_tolerated() -> None:
    event = core().on_event('{"phase": "building", "message": null}')
    assert event is not None
    assert event.message == ""


def test_line_bound_and_total_deadline() -> None:
    clock = Clock()
    stream = core(clock, max_line_bytes=10, total_timeout=5)
    stream.on_bytes(b"data: 1234\n")
    stream.on_bytes(b"12345")
    stream.on_bytes(b"6789\n12345")  # the newline resets the count
    with pytest.raises(ProtocolError, match="longer than 10"):
        stream.on_bytes(b"678901")
    clock.now += 6
    with pytest.raises(StreamTimeout, match="total"):
        stream.on_bytes(b"x")
    late = core(clock, total_timeout=5)  # a new stream has its own deadline
    late.on_bytes(b"x")
    clock.now += 5.1
    with pytest.raises(StreamTimeout):
        late.on_bytes(b":keepalive\n\n")


def test_read_timeout_never_runs_past_the_deadline() -> None:
    clock = Clock()
    stream = core(clock, idle_timeout=60, total_timeout=100)
    # the answer (headers) within the read timeout; the body's reads within the idle limit
    assert stream.timeout(httpx.Timeout(10)).read == 10
    assert stream.timeout(httpx.Timeout(None)).read == 60
    assert stream.body_read_timeout() == 60
    clock.now += 95
    assert stream.timeout(httpx.Timeout(10)).read == pytest.approx(5)
    assert stream.body_read_timeout() == pytest.approx(5)


@pytest.mark.parametrize(
    ("status", "content_type", "error"),
    [
        (500, "text/html", HubUnavailable),
        (429, "text/html", RateLimited),
        (200, "text/html; charset=UTF-8", HubUnavailable),
        (200, "application/json", ProtocolError),
    ],
)
def test_check_response(status: int, content_type: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        core().check_response(status, {"content-type": content_type})


def test_retry_policy_is_bounded_and_selective() -> None:
    policy = RetryPolicy(attempts=3, backoff=1, max_backoff=1.5)
    unavailable = HubUnavailable("down")
    assert policy.delay(1, unavailable) == 1
    assert policy.delay(2, unavailable) == 1.5
    assert policy.delay(3, unavailable) is None
    assert policy.delay(1, BuildFailed("x", status_code=500)) == 1
    # a `failed` 5xx is tried once more only: the hub has retried its launch itself already
    assert policy.delay(2, BuildFailed("x", status_code=500)) is None
    assert policy.delay(2, unavailable) == 1.5
    for final in (
        BuildFailed("x"),
        BuildFailed("x", status_code=404),
        RateLimited("x"),
        StreamClosed("x"),
        SpecError("x"),
        ProtocolError("x"),
    ):
        assert policy.delay(1, final) is None
    clock = Clock()
    assert retry_delay(policy, 1, unavailable, deadline=clock.now + 0.5, clock=clock) is None


def test_rate_limit_headers() -> None:
    assert parse_rate_limit({}) is None
    info = parse_rate_limit({"x-ratelimit-remaining": "3", "x-ratelimit-limit": "junk"})
    assert info is not None
    assert (info.limit, info.remaining, info.reset) == (None, 3, None)


def test_redaction(caplog: pytest.LogCaptureFixture) -> None:
    assert redact("GET /build/gh/u/r/HEAD?build_token=eyJ.a.b&x=1") == (
        "GET /build/gh/u/r/HEAD?build_token=**********&x=1"
    )
    assert redact("http://h/lab?token=abc") == "http://h/lab?token=**********"
    install()
    caplog.set_level(logging.INFO)
    logging.getLogger("httpx").info("HTTP Request: %s %s", "GET", "http://h/?build_token=zzz")
    assert "zzz" not in caplog.text
    assert "build_token=**********" in caplog.text
