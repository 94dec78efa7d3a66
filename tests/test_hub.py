"""The hub clients against a real BinderHub-speaking server on 127.0.0.1 (WireHub)."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import TYPE_CHECKING

import httpx
import pytest
from servers import free_port
from wirehub import WireHub, fixture_events

from binderfed_sdk import (
    AsyncBinderHub,
    BinderHub,
    BuildEvent,
    BuildFailed,
    HubError,
    HubUnavailable,
    ProtocolError,
    RateLimited,
    RetryPolicy,
    Session,
    SpecError,
    StreamClosed,
    StreamLimits,
    StreamTimeout,
)

if TYPE_CHECKING:
    from collections.abc import Callable

LIMITS = StreamLimits(idle_timeout=2.0, total_timeout=10.0)
RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)


def hub_for(server: WireHub, **kwargs: object) -> BinderHub:
    options: dict[str, object] = {"limits": LIMITS, "retry": RETRY, "timeout": 5.0}
    options.update(kwargs)
    return BinderHub(server.url, **options)  # type: ignore[arg-type]


def wait_for(condition: Callable[[], bool], seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def build_hits(server: WireHub) -> int:
    return sum(1 for _, path, _ in server.requests if path.startswith("/build/"))


# --- the happy path ---------------------------------------------------------------------------


def test_fixture_stream_is_typed_and_closed_on_ready(wirehub: WireHub) -> None:
    expected = [BuildEvent.model_validate_json(data) for data in fixture_events()]
    started = time.monotonic()
    with hub_for(wirehub) as hub:
        events = list(hub.build("gh/someone/fixture/HEAD"))
        elapsed = time.monotonic() - started
        assert hub.rate_limit is not None
        assert hub.rate_limit.limit == 10
        assert hub.rate_limit.remaining == 9
        assert hub.rate_limit.reset is not None
    # the server holds the stream 60 s after `ready`: the client closed it itself
    assert elapsed < 5
    assert wait_for(lambda: wirehub.open_streams == 0)
    assert [e.phase for e in events] == [e.phase for e in expected]
    assert [e.phase for e in events][:5] == ["waiting", "pending", "running", "succeed", "building"]
    built = next(e for e in events if e.phase == "built")
    assert built.image_name == expected[-4].image_name
    ready = events[-1]
    assert ready.is_ready
    assert ready.token is not None
    assert ready.token.get_secret_value() == wirehub.tokens[-1]
    assert wirehub.tokens[-1] not in repr(ready)
    assert ready.binder_persistent_request == expected[-1].binder_persistent_request
    method, path, headers = wirehub.requests[-1]
    assert (method, path) == ("GET", "/build/gh/someone/fixture/HEAD")
    assert headers["Accept"] == "text/event-stream"


def test_launch_returns_session_with_masked_token(wirehub: WireHub) -> None:
    seen: list[BuildEvent] = []
    with hub_for(wirehub) as hub:
        session = hub.launch("gh/someone/fixture/HEAD", urlpath="lab", on_event=seen.append)
    token = wirehub.tokens[-1]
    assert isinstance(session, Session)
    assert seen[-1].is_ready
    assert session.token.get_secret_value() == token
    assert token not in repr(session)
    assert token not in str(session.__dict__)
    assert session.hub == wirehub.url
    assert str(session.spec) == "gh/someone/fixture/HEAD"
    assert session.browser_url().endswith(f"lab?token={token}")
    assert token not in session.browser_url(with_token=False)
    session.close()


def test_spec_forms_are_accepted_and_bad_specs_send_nothing(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub:
        events = list(hub.build("https://github.com/someone/instant"))
        assert events[-1].is_ready
        assert wirehub.requests[-1][1] == "/build/gh/someone/instant/HEAD"
        before = len(wirehub.requests)
        with pytest.raises(SpecError):
            hub.build("gh/someone/../HEAD")
        with pytest.raises(SpecError):
            hub.launch("nope/x/y")
    assert len(wirehub.requests) == before


def test_leaving_the_loop_early_closes_the_stream(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub:
        with hub.build("gh/someone/fixture/HEAD") as stream:
            for event in stream:
                assert event.phase == "waiting"
                break
            assert wait_for(lambda: wirehub.open_streams == 1)  # suspended, not yet closed
            assert stream.log == ["Waiting for build to start..."]
        assert wait_for(lambda: wirehub.open_streams == 0)  # closed by the `with`
        for event in hub.build("gh/someone/fixture/HEAD"):
            if event.phase == "building":
                break  # CPython closes the dropped generator at once
        assert wait_for(lambda: wirehub.open_streams == 0)


def test_phases_missing_or_in_any_case_are_kept(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub:
        events = list(hub.build("gh/someone/no-phase/HEAD"))
    assert any(e.phase is None for e in events)
    assert all(e.phase is None or e.phase == e.phase.lower() for e in events)
    assert events[-1].is_ready


def test_build_only_and_build_tokens(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub:
        with pytest.raises(BuildFailed) as refused:
            list(hub.build("gh/someone/fixture/HEAD", build_only=True))
        assert refused.value.status_code == 400
        good = wirehub.make_build_token("gh/someone/fixture/HEAD")
        wirehub.rate_remaining = 0  # a valid token skips the rate limit
        assert list(hub.build("gh/someone/fixture/HEAD", build_token=good))[-1].is_ready
        bad = wirehub.make_build_token("gh/someone/other/HEAD")
        with pytest.raises(BuildFailed) as invalid:
            list(hub.build("gh/someone/fixture/HEAD", build_token=bad))
    assert invalid.value.status_code == 403
    assert not invalid.value.retryable
    assert bad not in str(invalid.value)
    assert bad not in "".join(traceback.format_exception(invalid.value))


def test_build_only_stream_ends_with_image_and_cannot_launch() -> None:
    with WireHub(api_only=True) as server, hub_for(server) as hub:
        events = list(hub.build("gh/someone/fixture/HEAD", build_only=True))
        assert events[-1].is_ready
        assert events[-1].image_name
        assert events[-1].url is None
        assert "build_only=true" in server.requests[-1][1]


# --- failures the hub reports -----------------------------------------------------------------


def test_failed_build_carries_message_and_log(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub, pytest.raises(BuildFailed) as failed:
        list(hub.build("gh/someone/failed-build/HEAD"))
    error = failed.value
    assert error.status_code is None
    assert "Build failed" in str(error)
    assert len(error.log) >= 2
    assert error.event is not None
    assert error.event.is_failed
    assert build_hits(wirehub) == 1  # a failed build is never retried


def test_per_repo_quota_is_a_failed_build(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub, pytest.raises(BuildFailed, match="Too many users"):
        hub.launch("gh/someone/too-many-users/HEAD")
    assert build_hits(wirehub) == 1


def test_failed_500_is_retried_then_raised(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub, pytest.raises(BuildFailed) as failed:
        list(hub.build("gh/someone/failed-500/HEAD"))
    assert failed.value.status_code == 500
    assert failed.value.retryable
    assert build_hits(wirehub) == RETRY.failed_attempts == 2  # once more, not RETRY.attempts
    assert wait_for(lambda: wirehub.open_streams == 0)


def test_retry_then_ok(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub:
        session = hub.launch("gh/someone/retry-then-ok/HEAD")
    assert session.token.get_secret_value() == wirehub.tokens[-1]
    assert build_hits(wirehub) == 2
    session.close()


def test_rate_limit_as_failed_event(wirehub: WireHub) -> None:
    wirehub.rate_remaining = 0
    # with headers on the refusal (BinderHub's own sends none: see test_front_door.py)
    wirehub.rate_headers_on_refusal = True
    wirehub.rate_reset = int(time.time()) + 600
    with hub_for(wirehub) as hub, pytest.raises(RateLimited) as limited:
        list(hub.build("gh/someone/fixture/HEAD"))
    assert limited.value.reset is not None
    assert int(limited.value.reset.timestamp()) == wirehub.rate_reset
    assert build_hits(wirehub) == 1


def test_rate_limit_as_http_429(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub, pytest.raises(RateLimited) as limited:
        list(hub.build("gh/someone/http-429/HEAD"))
    assert limited.value.limit == 10
    assert limited.value.reset is not None
    assert "resets at" in str(limited.value)
    assert build_hits(wirehub) == 1


@pytest.mark.parametrize(
    ("scenario", "error", "hits"),
    [
        ("http-500", HubUnavailable, RETRY.attempts),
        ("http-502", HubUnavailable, RETRY.attempts),
        ("http-404", HubError, 1),
        ("html", HubUnavailable, RETRY.attempts),
        ("failed-403", BuildFailed, 1),
    ],
)
def test_http_errors(wirehub: WireHub, scenario: str, error: type[HubError], hits: int) -> None:
    with hub_for(wirehub) as hub, pytest.raises(error) as raised:
        list(hub.build(f"gh/someone/{scenario}/HEAD"))
    assert build_hits(wirehub) == hits
    if scenario == "http-404":
        assert not isinstance(raised.value, HubUnavailable)
        assert raised.value.status_code == 404


# --- hostile streams --------------------------------------------------------------------------


def test_keepalives_only_hit_the_total_deadline(wirehub: WireHub) -> None:
    limits = StreamLimits(idle_timeout=5.0, total_timeout=0.5)
    started = time.monotonic()
    with hub_for(wirehub, limits=limits) as hub, pytest.raises(StreamTimeout, match="total"):
        list(hub.build("gh/someone/keepalive-only/HEAD"))
    assert time.monotonic() - started < 2.5
    assert build_hits(wirehub) == 1
    assert wait_for(lambda: wirehub.open_streams == 0)


def test_silence_hits_the_idle_timeout(wirehub: WireHub) -> None:
    limits = StreamLimits(idle_timeout=0.3, total_timeout=30)
    started = time.monotonic()
    with hub_for(wirehub, limits=limits) as hub, pytest.raises(StreamTimeout):
        list(hub.build("gh/someone/silent/HEAD"))
    assert time.monotonic() - started < 2
    assert build_hits(wirehub) == 1


@pytest.mark.parametrize("scenario", ["drop", "truncated"])
def test_stream_ending_early_is_stream_closed(wirehub: WireHub, scenario: str) -> None:
    seen: list[BuildEvent] = []
    with hub_for(wirehub) as hub, pytest.raises(StreamClosed):
        hub.launch(f"gh/someone/{scenario}/HEAD", on_event=seen.append)
    assert not any(e.is_ready for e in seen)
    assert build_hits(wirehub) == 1


def test_huge_line_is_a_protocol_error_with_bounded_memory(wirehub: WireHub) -> None:
    limits = StreamLimits(idle_timeout=5.0, total_timeout=10.0, max_line_bytes=256 * 1024)
    with hub_for(wirehub, limits=limits) as hub, pytest.raises(ProtocolError, match="longer"):
        list(hub.build("gh/someone/huge-line/HEAD"))
    # the default bound (1 MiB) refuses the 10 MB line too
    with hub_for(wirehub) as hub, pytest.raises(ProtocolError):
        list(hub.build("gh/someone/huge-line/HEAD"))


def test_invalid_json_is_a_protocol_error(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub, pytest.raises(ProtocolError, match="not JSON"):
        list(hub.build("gh/someone/bad-json/HEAD"))
    assert build_hits(wirehub) == 1


# --- JSON endpoints ---------------------------------------------------------------------------


def test_health_versions_providers(wirehub: WireHub) -> None:
    with hub_for(wirehub) as hub:
        health = hub.health()
        assert health.ok
        assert health.status_code == 200
        quota = health.pod_quota
        assert quota is not None
        assert (quota.total_pods, quota.quota, quota.ignore_failure) == (3, 100, True)
        wirehub.health_status = 503
        wirehub.health_checks[0]["ok"] = False
        sick = hub.health()
        assert not sick.ok
        assert sick.status_code == 503
        assert [c.service for c in sick.failed_checks] == ["Docker registry"]
        assert hub.versions().binderhub == "1.0.0"
        providers = hub.providers()
        assert providers
        assert {p.name for p in providers} >= {"gh", "zenodo"}  # typed RepoProvider entries


def test_html_where_json_was_expected(wirehub: WireHub) -> None:
    wirehub.html_mode = True
    with hub_for(wirehub) as hub, pytest.raises(HubUnavailable, match="HTML"):
        hub.versions()


def test_dead_hub_is_unavailable_fast_and_bounded() -> None:
    hub = BinderHub(f"http://127.0.0.1:{free_port()}/", retry=RETRY, timeout=2.0)
    started = time.monotonic()
    with hub:
        with pytest.raises(HubUnavailable, match="cannot reach"):
            hub.health()
        with pytest.raises(HubUnavailable):
            list(hub.build("gh/someone/fixture/HEAD"))
    assert time.monotonic() - started < 3


def test_slow_hub_times_out(wirehub: WireHub) -> None:
    wirehub.delay = 2.0
    started = time.monotonic()
    retry = RetryPolicy(attempts=2, backoff=0.01)
    with (
        hub_for(wirehub, timeout=0.2, retry=retry) as hub,
        pytest.raises(HubUnavailable, match="timed out"),
    ):
        hub.versions()
    assert time.monotonic() - started < 1.5


def test_own_client_and_headers_are_used(wirehub: WireHub) -> None:
    client = httpx.Client(headers={"X-Trace": "abc"})
    with BinderHub(wirehub.url, client=client, headers={"X-Caller": "tests"}) as hub:
        hub.versions()
    _, _, headers = wirehub.requests[-1]
    assert headers["X-Trace"] == "abc"
    assert headers["X-Caller"] == "tests"
    assert headers["User-Agent"] == "binderfed-sdk"
    assert not client.is_closed  # the caller's client is the caller's to close
    client.close()


def test_tokens_never_reach_logs(wirehub: WireHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    build_token = wirehub.make_build_token("gh/someone/retry-then-ok/HEAD")
    with hub_for(wirehub) as hub:
        session = hub.launch("gh/someone/retry-then-ok/HEAD", build_token=build_token)
        with pytest.raises(BuildFailed):
            hub.launch("gh/someone/failed-500/HEAD", build_token=build_token)
    assert "retrying" in caplog.text  # the retries were logged ...
    for secret in (session.token.get_secret_value(), build_token):
        assert secret not in caplog.text  # ... without a secret
    session.close()


# --- async twin -------------------------------------------------------------------------------


def test_async_build_launch_and_failures(wirehub: WireHub) -> None:
    async def scenario() -> None:
        async with AsyncBinderHub(wirehub.url, limits=LIMITS, retry=RETRY) as hub:
            phases = [event.phase async for event in hub.build("gh/someone/fixture/HEAD")]
            assert phases[-1] == "ready"
            assert (await hub.health()).ok
            assert (await hub.versions()).binderhub == "1.0.0"
            assert await hub.providers()
            session = await hub.launch("gh/someone/retry-then-ok/HEAD")
            assert session.token.get_secret_value() == wirehub.tokens[-1]
            await session.aclose()
            with pytest.raises(BuildFailed):
                await hub.launch("gh/someone/failed-build/HEAD")
            with pytest.raises(StreamClosed):
                await hub.launch("gh/someone/drop/HEAD")
            with pytest.raises(ProtocolError):
                await hub.launch("gh/someone/bad-json/HEAD")
            with pytest.raises(RateLimited):
                await hub.launch("gh/someone/http-429/HEAD")
            async with hub.build("gh/someone/fixture/HEAD") as stream:
                async for event in stream:
                    assert event.phase == "waiting"
                    break
        limits = StreamLimits(idle_timeout=5, total_timeout=0.4)
        async with AsyncBinderHub(wirehub.url, limits=limits) as hub:
            with pytest.raises(StreamTimeout):
                await hub.launch("gh/someone/keepalive-only/HEAD")

    asyncio.run(scenario())
    assert wait_for(lambda: wirehub.open_streams == 0)
