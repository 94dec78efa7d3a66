"""The sync and async twins driven through the same scenarios, against real loopback servers.

Each scenario is written once, as a coroutine that goes through `Twin`: for the async twin it
runs under `asyncio.run`; for the sync twin no event loop exists at all (the coroutine never
waits, so one `send()` runs it to the end) and Ctrl-C is a real `KeyboardInterrupt` in the main
thread (`_thread.interrupt_main`), where the async twin gets a task cancellation.
"""

from __future__ import annotations

import _thread
import asyncio
import gc
import inspect
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from wirehub import WireHub

from binderfed_sdk import (
    AsyncBinderHub,
    AsyncFederation,
    BinderHub,
    Federation,
    StreamLimits,
)
from binderfed_sdk import _concurrency as conc
from binderfed_sdk.federation._config import FederationConfig, load_federation
from binderfed_sdk.federation._prime import PrimeOutcome
from binderfed_sdk.federation._routing import Pinned

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable

    from servers import JupyterServer

T = TypeVar("T")
LIMITS = StreamLimits(idle_timeout=3, total_timeout=20)
FIXTURE_PHASES = ["waiting", "pending", "running", "succeed", *["building"] * 6]
FIXTURE_PHASES += ["built", "launching", "launching", "ready"]


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    msg = "a sync scenario waited on an event loop"
    raise AssertionError(msg)


class Twin:
    """One of the two twins, and the few words a scenario needs to drive either."""

    def __init__(self, kind: str) -> None:
        self.is_async = kind == "async"
        self.BinderHub: Any = AsyncBinderHub if self.is_async else BinderHub
        self.Federation: Any = AsyncFederation if self.is_async else Federation
        self.interruption: type[BaseException] = (
            asyncio.CancelledError if self.is_async else KeyboardInterrupt
        )
        self.run_all: Any = conc.async_run_all if self.is_async else conc.run_all
        self.sleep: Any = conc.async_sleep if self.is_async else conc.sleep

    def run(self, scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return asyncio.run(scenario()) if self.is_async else _drive(scenario())

    async def __call__(self, value: Any) -> Any:
        """The value of a call to either twin: awaited if it is awaitable."""
        return await value if inspect.isawaitable(value) else value

    async def each(self, iterable: Any) -> AsyncIterator[Any]:
        if self.is_async:
            async for item in iterable:
                yield item
        else:
            for item in iterable:
                yield item

    @asynccontextmanager
    async def within(self, manager: Any) -> AsyncIterator[Any]:
        if self.is_async:
            async with manager as value:
                yield value
        else:
            with manager as value:
                yield value

    def job(self, make: Callable[[], Coroutine[Any, Any, T]]) -> Any:
        """A job for `run_all`, from a scenario's coroutine function."""
        return make if self.is_async else lambda: _drive(make())

    async def interrupt_when(
        self, ready: Callable[[], bool], call: Callable[[], Awaitable[Any] | Any]
    ) -> float:
        """Start `call()`, interrupt it as soon as `ready()` (Ctrl-C for the sync twin, a
        cancellation for the async one), check that it raised the interruption; returns the
        seconds from the interruption to the call's end."""
        interrupted_at: list[float] = []

        def wait_until_ready() -> None:
            deadline = time.monotonic() + 15
            while not ready():
                assert time.monotonic() < deadline, "the scenario never reached its interruption"
                time.sleep(0.01)
            interrupted_at.append(time.monotonic())

        if self.is_async:
            task = asyncio.ensure_future(call())
            await asyncio.to_thread(wait_until_ready)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            # the interruption comes from the work's own progress on the server, not a clock:
            # the work is still running when it lands
            def run_call() -> None:
                value = call()
                if inspect.iscoroutine(value):  # a scenario's own coroutine function
                    _drive(value)

            def ctrl_c_when_ready() -> None:
                wait_until_ready()
                _thread.interrupt_main()

            timer = threading.Thread(target=ctrl_c_when_ready)
            timer.start()
            try:
                with pytest.raises(KeyboardInterrupt):
                    run_call()
            finally:
                timer.join()
        return time.monotonic() - interrupted_at[0]

    async def wait(self, seconds: float) -> None:
        """Idle in the scenario (the sync twin in short steps: a Ctrl-C from
        `_thread.interrupt_main` is only seen when the main thread runs Python)."""
        if self.is_async:
            await asyncio.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.02)  # noqa: ASYNC251 - the sync twin's scenarios run without a loop


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> Twin:
    return Twin(request.param)


def config(hubs: dict[str, str], prime: str) -> FederationConfig:
    hosts = {name: {"url": url, "weight": 50, "prime": name == prime} for name, url in hubs.items()}
    return load_federation({"name": "test", "hosts": hosts})


def shutdowns(server: WireHub) -> int:
    return sum(1 for m, path, _ in server.requests if m == "POST" and path.endswith("api/shutdown"))


def settled(servers: Iterable[WireHub]) -> bool:
    """True once no stream is open on any server (a closed connection is seen a moment later)."""
    servers = list(servers)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(s.open_streams for s in servers):
        time.sleep(0.02)
    return all(s.open_streams == 0 for s in servers)


# --- one hub ----------------------------------------------------------------------------------


def test_build_events(twin: Twin, wirehub: WireHub) -> None:
    async def scenario() -> list[str]:
        async with twin.within(twin.BinderHub(wirehub.url, limits=LIMITS)) as hub:
            stream = hub.build("gh/org/fixture/HEAD")
            phases = [event.phase async for event in twin.each(stream)]
            assert stream.log[-1].startswith("server running at")
            return phases

    assert twin.run(scenario) == FIXTURE_PHASES
    assert settled([wirehub])  # closed at `ready`, though the hub holds it open for a minute


def test_launch_status_shutdown(
    twin: Twin, wirehub: WireHub, jupyter_server: JupyterServer
) -> None:
    wirehub.jupyter_url, wirehub.jupyter_token = jupyter_server.url, jupyter_server.token

    async def scenario() -> None:
        async with twin.within(twin.BinderHub(wirehub.url, limits=LIMITS)) as hub:
            session = await twin(hub.launch("gh/org/fixture/HEAD", urlpath="lab"))
            async with twin.within(session):
                status = await twin(session.status())
                assert status.kernels == 0
                assert session.browser_url().startswith(jupyter_server.url + "lab?token=")
            assert session.stopped
            assert await twin(session.shutdown()) is False  # once is enough

    twin.run(scenario)
    assert jupyter_server.process.wait(20) == 0
    assert wirehub.tokens == [jupyter_server.token]
    assert settled([wirehub])


def test_interrupted_inside_a_session_shuts_it_down(twin: Twin, wirehub: WireHub) -> None:
    async def scenario() -> float:
        async with twin.within(twin.BinderHub(wirehub.url, limits=LIMITS)) as hub:
            in_session = threading.Event()

            async def use_a_session() -> None:
                async with twin.within(await twin(hub.launch("gh/org/instant/HEAD"))):
                    in_session.set()
                    await twin.wait(30)

            # interrupted once the client holds the session: the hub having sent `ready` is
            # not enough, an interruption before the client reads it leaves it no token to
            # shut the server down with
            return await twin.interrupt_when(in_session.is_set, use_a_session)

    assert twin.run(scenario) < 3
    assert len(wirehub.tokens) == shutdowns(wirehub) == 1
    assert settled([wirehub])


# --- the federation ---------------------------------------------------------------------------


def test_failover(twin: Twin, hubs: dict[str, WireHub]) -> None:
    seen: list[tuple[str, str | None]] = []
    urls = {name: server.url for name, server in hubs.items()}

    async def scenario() -> str | None:
        fed = twin.Federation(config(urls, "a"), policy=Pinned("b"), limits=LIMITS, timeout=5)
        async with twin.within(fed):
            await twin(fed.health())
            hubs["b"].html_mode = True  # healthy when probed, broken when launched on
            session = await twin(
                fed.launch("gh/org/fixture/HEAD", on_event=lambda m, e: seen.append((m, e.phase)))
            )
            async with twin.within(session):
                pass
            return session.member  # type: ignore[no-any-return]

    assert twin.run(scenario) == "a"
    assert seen[-1] == ("a", "ready")
    assert len(hubs["a"].tokens) == shutdowns(hubs["a"]) == 1
    assert settled(hubs.values())


def test_health_with_a_member_that_never_answers(twin: Twin, hubs: dict[str, WireHub]) -> None:
    with WireHub(name="mute") as mute:
        mute.delay = 60.0
        urls = {name: server.url for name, server in hubs.items()} | {"mute": mute.url}

        async def scenario() -> Any:
            async with twin.within(twin.Federation(config(urls, "a"))) as fed:
                return await twin(fed.health(timeout=1.0))

        started = time.monotonic()
        health = twin.run(scenario)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 0.4  # the mute member never delays the answer
    assert health.healthy == ["a", "b"]
    assert health.members["mute"].reason == "timeout"
    assert health.members["c"].reason == "health"
    assert health.members["d"].reason == "pod quota"


def test_prime(twin: Twin) -> None:
    build_only = WireHub(name="bo", api_only=True)
    launcher = WireHub(name="la", keepalive_interval=0.05)
    down = WireHub(name="down")
    with build_only, launcher, down:
        down.health_status = 503
        members = config({"bo": build_only.url, "la": launcher.url, "down": down.url}, "bo")
        events: list[str] = []

        async def scenario() -> list[Any]:
            async with twin.within(twin.Federation(members, limits=LIMITS)) as fed:
                on_event = lambda member, _event: events.append(member)  # noqa: E731
                return await twin(fed.prime("gh/org/fixture/HEAD", on_event=on_event))  # type: ignore[no-any-return]

        results = {r.member: r for r in twin.run(scenario)}
        assert (results["bo"].outcome, results["bo"].method) == (PrimeOutcome.OK, "build-only")
        assert (results["la"].outcome, results["la"].method) == (PrimeOutcome.OK, "launch")
        assert (results["down"].outcome, results["down"].reason) == (PrimeOutcome.SKIPPED, "health")
        assert len(launcher.tokens) == shutdowns(launcher) == 1  # shut down at once
        assert build_only.tokens == []
        assert set(events) == {"bo", "la"}
        assert settled([build_only, launcher, down])


def test_prime_interrupted_stops_every_build(twin: Twin, hubs: dict[str, WireHub]) -> None:
    """Ctrl-C (sync) or a cancellation (async) while two members build: every stream closes,
    every session launched is shut down, the interruption propagates, nothing keeps running."""
    urls = {name: server.url for name, server in hubs.items()}
    # each member has sent two events of its 6.5 s build: both are mid-stream
    midway = lambda: all(len(hubs[n].flush_times) >= 2 for n in "ab")  # noqa: E731

    async def scenario() -> float:
        async with twin.within(twin.Federation(config(urls, "a"), limits=LIMITS, timeout=5)) as fed:
            prime = lambda: fed.prime("gh/org/slow-500/HEAD", members=["a", "b"])  # noqa: E731
            took = await twin.interrupt_when(midway, prime)
            # the federation is still usable afterwards
            done = await twin(fed.prime("gh/org/instant/HEAD", members=["a", "b"]))
            assert [r.outcome for r in done] == [PrimeOutcome.OK, PrimeOutcome.OK]
            return took

    assert twin.run(scenario) < 3
    assert settled(hubs.values())
    assert all(len(s.tokens) == shutdowns(s) for s in hubs.values())
    assert [len(hubs[n].tokens) for n in "ab"] == [1, 1]  # the instant primes' sessions


# --- the concurrency pair under both ----------------------------------------------------------


def test_a_failing_job_stops_the_others(twin: Twin) -> None:
    stopped: list[str] = []

    async def slow() -> str:
        try:
            await twin(twin.sleep(30))
        finally:
            stopped.append("slow")
        return "never"

    async def failing() -> str:
        await twin(twin.sleep(0.1))
        raise ValueError("boom")

    async def scenario() -> None:
        with pytest.raises(ValueError, match="boom"):
            await twin(twin.run_all([twin.job(slow), twin.job(failing)]))

    started = time.monotonic()
    twin.run(scenario)
    assert time.monotonic() - started < 2
    assert stopped == ["slow"]


def test_late_jobs_answer_none(twin: Twin) -> None:
    async def quick() -> str:
        return "quick"

    async def late() -> str:
        await twin(twin.sleep(30))
        return "late"

    async def scenario() -> list[str | None]:
        return await twin(twin.run_all([twin.job(quick), twin.job(late)], timeout=0.3))  # type: ignore[no-any-return]

    started = time.monotonic()
    assert twin.run(scenario) == ["quick", None]
    assert time.monotonic() - started < 1.5


def test_ctrl_c_landing_in_a_finalizer_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The race behind the flaky `test_prime_ctrl_c_stops_builds_and_shuts_down`.

    Python raises a `KeyboardInterrupt` wherever the main thread is when it next runs Python;
    if that is a finalizer (here a `__del__` run by the garbage collector, in the suite any
    object a test left in a reference cycle), the exception is reported as "ignored" and lost,
    and the interrupted work carries on to its normal end. Inside `interruptible()` Ctrl-C only
    counts, and `run_all` raises `KeyboardInterrupt` itself after stopping its jobs.
    """
    ignored: list[type[BaseException] | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: ignored.append(u.exc_type))

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            _thread.interrupt_main()
            for _ in range(1000):  # Python runs here: the pending Ctrl-C is handled in __del__
                pass

    def ctrl_c_in_a_finalizer() -> None:
        Cycle()
        gc.collect()

    ctrl_c_in_a_finalizer()  # without the capture: lost
    assert ignored == [KeyboardInterrupt]

    stopped: list[bool] = []

    def job() -> None:
        try:
            conc.sleep(30)
        except conc.Cancelled:
            stopped.append(True)
            raise

    def interrupted_work() -> None:
        with conc.interruptible():
            ctrl_c_in_a_finalizer()  # the same Ctrl-C, counted
            conc.run_all([job])  # and honoured: the job is stopped at once, then it is raised

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        interrupted_work()
    assert time.monotonic() - started < 2
    assert stopped == [True]
    assert ignored == [KeyboardInterrupt]  # nothing more was lost


# --- the sync twins are generated -------------------------------------------------------------


def test_generated_sync_twins_are_fresh() -> None:
    """The sync modules are `.ci/unasync.py`'s output from the async sources, unedited."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / ".ci" / "unasync.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for generated in ("hub/_client.py", "hub/_session.py", "federation/_client.py"):
        text = (root / "binderfed_sdk" / generated).read_text()
        assert text.startswith("# GENERATED by .ci/unasync.py"), generated
        code = text.split("\n", 2)[2]  # below the header
        assert "async " not in code
        assert "await " not in code
