"""Hubs that hang and sessions that are gone, as the real servers behave (issue 9, 2 and 7).

Stuck hubs run on the WireHub: `delay = math.inf` is a hub that accepts the connection and never
sends a byte, `jupyterhub_down` a BinderHub whose JupyterHub does not answer (the build goes
through, the launch ends in a `failed` event with status_code 500, as BinderHub's handler sends
it). Gone sessions run on the sandbox: a real JupyterHub, configurable-http-proxy, idle culler
and jupyter_server, whose answers for a stopped server are what the SDK reads.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from servers import free_port, running_sandbox, sandbox_hub_api
from wirehub import WireHub

from binderfed_sdk import (
    AsyncBinderHub,
    AsyncSession,
    BinderHub,
    BuildFailed,
    HubUnavailable,
    RetryPolicy,
    Session,
    SessionError,
    SessionGone,
    StreamLimits,
    StreamTimeout,
)
from binderfed_sdk.federation._client import Federation
from binderfed_sdk.federation._config import load_federation
from binderfed_sdk.federation._routing import Pinned
from binderfed_sdk.sandbox import manager

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# fast backoff so the bounds below measure timeouts, not pauses
RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)
# the idle limit is long on purpose: a bound well below it shows it was not what ended a wait
LONG_IDLE = StreamLimits(idle_timeout=30.0, total_timeout=60.0)


def build_hits(server: WireHub) -> int:
    return sum(1 for _, path, _ in server.requests if path.startswith("/build/"))


def requests_to(server: WireHub, path: str) -> int:
    return sum(1 for _, seen, _ in server.requests if seen.split("?")[0] == path)


def timed(work: Callable[[], object]) -> float:
    started = time.monotonic()
    work()
    return time.monotonic() - started


# --- a hub that accepts and never answers ------------------------------------------------------


def test_health_of_a_hung_hub_gives_up_within_its_timeout(wirehub: WireHub) -> None:
    wirehub.delay = math.inf
    timeout = 1.0

    def probe() -> None:
        with (
            BinderHub(wirehub.url, timeout=timeout, retry=RETRY) as hub,
            pytest.raises(HubUnavailable, match="timed out"),
        ):
            hub.health()

    elapsed = timed(probe)
    # one timeout, not one per attempt (three attempts took 3x plus the pauses)
    assert timeout * 0.9 <= elapsed < timeout + 0.5
    assert requests_to(wirehub, "/health") == 1

    async def async_probe() -> None:
        async with AsyncBinderHub(wirehub.url, timeout=timeout, retry=RETRY) as hub:
            with pytest.raises(HubUnavailable, match="timed out"):
                await hub.health()

    elapsed = timed(lambda: asyncio.run(async_probe()))
    assert timeout * 0.9 <= elapsed < timeout + 0.5
    assert requests_to(wirehub, "/health") == 2


def test_health_still_retries_a_refused_connection_within_its_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A quick failure is still retried, inside the one timeout."""
    caplog.set_level(logging.WARNING, logger="binderfed")
    with BinderHub(f"http://127.0.0.1:{free_port()}/", timeout=2.0, retry=RETRY) as hub:
        started = time.monotonic()
        with pytest.raises(HubUnavailable, match="cannot reach"):
            hub.health()
        assert time.monotonic() - started < 1.0  # refused at once, each time
    assert caplog.text.count("retrying") == RETRY.attempts - 1


def test_launch_against_a_hung_hub_waits_the_read_timeout_not_the_idle_limit(
    wirehub: WireHub,
) -> None:
    wirehub.delay = math.inf
    timeout = 0.5
    retry = RetryPolicy(attempts=2, backoff=0.01)

    def launch() -> None:
        with (
            BinderHub(wirehub.url, timeout=timeout, limits=LONG_IDLE, retry=retry) as hub,
            pytest.raises(HubUnavailable, match="did not answer") as raised,
        ):
            hub.launch("gh/someone/fixture/HEAD")
        assert not isinstance(raised.value, StreamTimeout)

    elapsed = timed(launch)
    # each attempt waits one read timeout for the status line (the idle limit is 30 s)
    assert retry.attempts * timeout * 0.9 <= elapsed < retry.attempts * timeout + 1.5
    assert build_hits(wirehub) == retry.attempts

    async def async_launch() -> None:
        async with AsyncBinderHub(wirehub.url, timeout=timeout, limits=LONG_IDLE) as hub:
            hub.retry = RetryPolicy(attempts=1)
            with pytest.raises(HubUnavailable, match="did not answer"):
                await hub.launch("gh/someone/fixture/HEAD")

    elapsed = timed(lambda: asyncio.run(async_launch()))
    assert timeout * 0.9 <= elapsed < timeout + 1.0


def test_after_the_headers_the_idle_limit_bounds_the_silence() -> None:
    """The short read timeout is for the answer only: a stream whose events come slower than
    it (but within the idle limit) runs to `ready`, and silence after the headers ends at the
    idle limit, not at the read timeout."""
    limits = StreamLimits(idle_timeout=1.5, total_timeout=30.0)
    with WireHub(keepalive_interval=3600) as server:  # no keepalive fills the gaps
        with BinderHub(server.url, timeout=0.2, limits=limits, retry=RETRY) as hub:
            events = list(hub.build("gh/someone/late-800/HEAD"))  # `ready` 0.8 s after the first
            assert events[-1].is_ready
            started = time.monotonic()
            with pytest.raises(StreamTimeout, match="no data"):
                list(hub.build("gh/someone/silent/HEAD"))  # headers, then nothing
            elapsed = time.monotonic() - started
        assert limits.idle_timeout * 0.9 <= elapsed < limits.idle_timeout + 1.0
        assert build_hits(server) == 2  # a silent stream is not retried


# --- a member whose JupyterHub is down ------------------------------------------------------------


def test_jupyterhub_down_is_retried_once_then_raised(wirehub: WireHub) -> None:
    wirehub.jupyterhub_down = True
    wirehub.launch_retry_delay = 0.2  # each /build takes ~0.6 s before its `failed` event
    seen: list[str] = []

    def launch() -> None:
        with (
            BinderHub(wirehub.url, limits=LONG_IDLE, retry=RETRY) as hub,
            pytest.raises(BuildFailed) as failed,
        ):
            hub.launch("gh/someone/fixture/HEAD", on_event=lambda e: seen.append(e.phase or ""))
        assert failed.value.status_code == 500
        assert failed.value.retryable
        assert "Failed to create temporary user" in str(failed.value)
        assert "Launch attempt 2 failed, retrying..." in failed.value.log

    elapsed = timed(launch)
    assert build_hits(wirehub) == 2  # one retry on the same hub, not RETRY.attempts
    assert wirehub.build_count == 2  # each try built again
    assert seen.count("built") == 2
    assert 2 * 0.6 * 0.9 <= elapsed < 2 * 0.6 + 1.5


def test_async_jupyterhub_down_is_retried_once(wirehub: WireHub) -> None:
    wirehub.jupyterhub_down = True

    async def launch() -> None:
        async with AsyncBinderHub(wirehub.url, limits=LONG_IDLE, retry=RETRY) as hub:
            with pytest.raises(BuildFailed, match="Failed to create temporary user"):
                await hub.launch("gh/someone/fixture/HEAD")

    asyncio.run(launch())
    assert build_hits(wirehub) == 2


def test_a_federation_fails_over_from_a_stuck_member_at_once(hubs: dict[str, WireHub]) -> None:
    """JupyterHub down on one member, the other member hung: each costs one try (the hung one
    one read timeout), then the launch lands on the healthy member."""
    urls = {name: server.url for name, server in hubs.items() if name in "ab"}
    third = WireHub(name="e", keepalive_interval=0.05)
    with third:
        urls["e"] = third.url
        federation = load_federation(
            {
                "name": "test",
                # the others after the pinned one by weight: b, then e
                "hosts": {
                    n: {"url": u, "weight": w, "prime": n == "a"}
                    for (n, u), w in zip(urls.items(), (50, 40, 30), strict=True)
                },
            }
        )
        with Federation(federation, limits=LONG_IDLE, timeout=0.5) as fed:
            fed.health()  # all healthy now; then a's JupyterHub goes down and b hangs
            hubs["a"].jupyterhub_down = True
            hubs["b"].delay = math.inf
            started = time.monotonic()
            session = fed.launch("gh/org/fixture/HEAD", policy=Pinned("a"), max_attempts=3)
            elapsed = time.monotonic() - started
        assert session.member == "e"
        session.close()
    assert build_hits(hubs["a"]) == 1  # failover is the retry
    assert build_hits(hubs["b"]) == 1
    assert elapsed < 0.5 + 3 * 0.05 * 3 + 2.0  # b's one read timeout, a's short launch tries


# --- sessions that are gone: the real JupyterHub, proxy, culler and jupyter_server ------------

IDLE_TIMEOUT = 12.0  # the culler's; each test below is done with its live session well before


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.SandboxState]:
    settings = manager.SandboxSettings(
        members=1, idle_timeout=IDLE_TIMEOUT, cull_every=1, activity_interval=1, max_age=3600
    )
    with running_sandbox(tmp_path_factory.mktemp("sandbox"), settings) as state:
        files = {"a.txt": "a\n", "requirements.txt": "httpx\n"}  # mybinder.org needs one
        manager.make_repository(Path(state.repos_dir) / "tests" / "gone", files=files)
        yield state


SPEC = "gh/tests/gone/HEAD"


def user_and_server(session: Session | AsyncSession) -> tuple[str, str]:
    user, server = session.url.rstrip("/").split("/")[-2:]
    return user, server


def hub_lists(state: manager.SandboxState, session: Session | AsyncSession) -> bool:
    """Whether the hub still lists the session's server (it does until it noticed the stop)."""
    user, server = user_and_server(session)
    with sandbox_hub_api(state, state.members[0].name, timeout=10) as api:
        return server in (api.get(f"users/{user}").json().get("servers") or {})


def stop_through_the_hub(state: manager.SandboxState, session: Session | AsyncSession) -> None:
    """What the idle culler does: DELETE the server through the hub's API, until it is gone."""
    user, server = user_and_server(session)
    with sandbox_hub_api(state, state.members[0].name, timeout=10) as api:
        answer = api.delete(f"users/{user}/servers/{server}")
        assert answer.status_code in {202, 204}, answer.text
    assert wait_until(lambda: not hub_lists(state, session), 30)


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def raw(session: Session | AsyncSession, method: str, path: str) -> httpx.Response:
    """The answer itself, read without the SDK (redirects not followed)."""
    headers = {"Authorization": f"token {session.token.get_secret_value()}"}
    return httpx.request(method, session.url + path, headers=headers, timeout=10)


def assert_the_hub_answers_in_its_place(session: Session | AsyncSession) -> None:
    """Once the hub has noticed: GET is its 302 into /hub/, POST its 403 xsrf page (HTML)."""
    user, server = user_and_server(session)
    got = raw(session, "GET", "api/status")
    assert got.status_code == 302
    assert got.headers["location"].startswith(f"/hub/user/{user}/{server}/api/status")
    posted = raw(session, "POST", "api/shutdown")
    assert posted.status_code == 403
    assert posted.headers["content-type"].startswith("text/html")
    assert "_xsrf" in posted.text


def test_a_wrong_token_is_still_refused(sandbox: manager.SandboxState) -> None:
    """The server is there and the token is wrong: jupyter_server's own 403 (JSON for GET; for
    POST the same xsrf page the hub sends for a gone server), an error, never 'gone'."""
    with BinderHub(sandbox.members[0].url) as hub, hub.launch(SPEC) as session:
        wrong = Session(session.url, "not-the-token-abcdef")
        with pytest.raises(SessionError) as refused:
            wrong.status()
        assert not isinstance(refused.value, SessionGone)
        assert refused.value.status_code == 403
        with pytest.raises(SessionError) as refused_shutdown:
            wrong.shutdown()
        assert not isinstance(refused_shutdown.value, SessionGone)
        assert "refused the token" in str(refused_shutdown.value)
        assert not wrong.stopped
        wrong.close()
        bare = httpx.post(session.url + "api/shutdown", timeout=10)  # jupyter_server's page
        assert bare.status_code == 403
        assert "_xsrf" in bare.text
        assert session.status().kernels == 0  # still running
    assert session.stopped


def test_a_session_the_hub_stopped_is_gone(sandbox: manager.SandboxState) -> None:
    with BinderHub(sandbox.members[0].url) as hub, hub.launch(SPEC) as session:
        stop_through_the_hub(sandbox, session)
        assert_the_hub_answers_in_its_place(session)
        with pytest.raises(SessionGone, match="gone") as gone:
            session.status()
        assert gone.value.status_code == 302
        assert session.token.get_secret_value() not in str(gone.value)
        assert session.stopped  # shutdown() has nothing left to do
        again = Session(session.url, session.token)
        assert again.shutdown() is False  # the hub's 403 page, told apart: quiet
        assert again.stopped
    # leaving the block shut down quietly


def test_async_session_the_hub_stopped_is_gone(sandbox: manager.SandboxState) -> None:
    async def scenario() -> None:
        async with (
            AsyncBinderHub(sandbox.members[0].url) as hub,
            await hub.launch(SPEC) as session,
        ):
            stop_through_the_hub(sandbox, session)
            fresh = AsyncSession(session.url, session.token)
            assert await fresh.shutdown() is False
            with pytest.raises(SessionGone) as gone:
                await session.status()
            assert gone.value.status_code == 302

    asyncio.run(scenario())


def test_a_server_that_stopped_itself_is_gone_before_and_after_the_hub_notices(
    sandbox: manager.SandboxState,
) -> None:
    """The server exits on its own (its idle shutdown, an api/shutdown from elsewhere): the
    proxy answers 503 until the hub polls, then the hub answers. Gone in both phases."""
    with BinderHub(sandbox.members[0].url) as hub:
        session = hub.launch(SPEC)
    assert raw(session, "POST", "api/shutdown").status_code == 200  # as from the browser
    # the process is gone once the proxy can no longer reach it
    assert wait_until(lambda: raw(session, "GET", "api/status").status_code != 200, 15)
    sync_twin = Session(session.url, session.token)

    async def async_status() -> int:
        async_twin = AsyncSession(session.url, session.token)
        try:
            with pytest.raises(SessionGone) as gone:
                await async_twin.status()
            return gone.value.status_code or 0
        finally:
            await async_twin.aclose()

    seen: list[int] = []
    with pytest.raises(SessionGone) as gone:
        sync_twin.status()
    seen.append(gone.value.status_code or 0)
    seen.append(asyncio.run(async_status()))
    if hub_lists(sandbox, session):
        # the hub had not noticed yet (it deletes the route, then unlists the server, within
        # milliseconds): the proxy still routed to the dead server and answered 503
        assert seen == [503, 503]
    else:
        assert set(seen) <= {503, 302}
    assert Session(session.url, session.token).shutdown() is False
    assert asyncio.run(AsyncSession(session.url, session.token).shutdown()) is False
    sync_twin.close()
    # the hub polls (every 5 s in the sandbox) and takes over
    assert wait_until(lambda: not hub_lists(sandbox, session), 20)
    assert_the_hub_answers_in_its_place(session)
    with pytest.raises(SessionGone) as gone:
        session.status()
    assert gone.value.status_code == 302
    assert session.shutdown() is False


def test_sessions_the_culler_stopped_leave_their_blocks_quietly(
    sandbox: manager.SandboxState,
) -> None:
    """`with hub.launch(...)` blocks, sync and async, whose sessions the real idle culler stopped
    while they were idle."""

    async def both() -> None:
        async with AsyncBinderHub(sandbox.members[0].url) as async_hub:
            async with await async_hub.launch(SPEC) as async_session:
                with BinderHub(sandbox.members[0].url) as hub, hub.launch(SPEC) as session:
                    culled = await asyncio.to_thread(
                        wait_until,
                        lambda: (
                            not hub_lists(sandbox, session)
                            and not hub_lists(sandbox, async_session)
                        ),
                        IDLE_TIMEOUT + 30,
                    )
                    assert culled, "the culler never stopped the idle sessions"
                    with pytest.raises(SessionGone):
                        await async_session.status()
                # the sync block left quietly
                assert session.stopped
            assert async_session.stopped

    asyncio.run(both())
