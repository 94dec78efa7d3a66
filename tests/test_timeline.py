"""The timeline of a launch: from the recorded real BinderHub stream (read by the stream core),
from scripted streams with exact times (pure), and from WireHub streams with an injected
clock (exact durations through the real client, sync and async)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from wirehub import FIXTURE_BYTES, WireHub, fixture_events

from binderfed_sdk import AsyncBinderHub, BinderHub, BuildEvent, BuildFailed, StreamLimits
from binderfed_sdk.cli._history import explain_launch, launch_summary, timeline_json
from binderfed_sdk.hub._core import NO_RETRY, BuildStreamCore
from binderfed_sdk.hub._timeline import Timeline, TimelineBuilder, timeline_of

if TYPE_CHECKING:
    from collections.abc import Iterator

FIXTURE_COMMIT = "889df439043caafa1093559b5fa8a31e417f41fc"
IMAGE = "registry.example/binder-x:abc"


class Ticks:
    """A scripted clock: each call returns the next time (the stream's origin first)."""

    def __init__(self, times: list[float]) -> None:
        self._times: Iterator[float] = iter(times)
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return next(self._times)


def ev(phase: str | None, message: str = "", **extra: object) -> BuildEvent:
    return BuildEvent.model_validate({"phase": phase, "message": message, **extra})


def steps(timeline: Timeline) -> list[tuple[str, float, float]]:
    return [(s.name, s.start, s.duration) for s in timeline.steps]


# --- the recorded real stream, read by the project's stream core ------------------------------


def fixture_timeline() -> Timeline:
    core = BuildStreamCore(
        hub="http://127.0.0.1:8585/", build_path="build/gh/binder-examples/requirements/HEAD",
        limits=StreamLimits(), clock=lambda: 0.0,
    )  # fmt: skip
    builder = TimelineBuilder(origin=0.0, member="gesis")
    for at, payload in enumerate(fixture_events(FIXTURE_BYTES), start=1):
        event = core.on_event(payload.decode())
        assert event is not None
        builder.add(event, float(at))  # the i-th event arrives i seconds after the request
    return builder.timeline()


def test_the_real_binderhub_stream() -> None:
    timeline = fixture_timeline()
    # waiting, Pending (queued) | Running, Succeed, Building x6 | built, launching x2 | ready
    assert steps(timeline) == [
        ("waiting", 0.0, 3.0),
        ("building", 3.0, 8.0),
        ("launching", 11.0, 3.0),
        ("ready", 14.0, 0.0),
    ]
    assert timeline.build == "built"
    assert timeline.outcome == "ready"
    assert timeline.total == 14.0
    assert timeline.build_time == 8.0
    assert timeline.launch_time == 3.0
    assert timeline.commit == FIXTURE_COMMIT
    assert timeline.image == f"binder-2dexamples-2drequirements-55ab5c:{FIXTURE_COMMIT}"
    # the FakeBuild hub's messages do not tell the pull from the server start
    assert timeline.pull_on_node is None
    assert timeline.pull is None
    assert timeline.server is None
    assert (
        launch_summary(timeline) == "waiting 3 s · build 8 s · launching 3 s · total 14 s on gesis"
    )
    assert "token" not in timeline.model_dump_json()  # the `ready` event's token is not kept


# --- scripted streams, exact times ------------------------------------------------------------

KUBE_BUILD = [
    (ev("waiting", "Waiting for build to start...\n"), 1.0),
    (ev("fetching", "Picked Git content provider.\n"), 2.0),
    (ev("building", "Step 1/9 : FROM buildpack-deps\n"), 5.0),
    (ev(None, "a line without a phase\n"), 6.0),
    (ev("pushing", "Pushing image\n", progress={"layer": 1}), 20.0),
    (ev("built", "Built image, launching...\n", imageName=IMAGE), 30.0),
    (ev("launching", "Launching server...\n"), 31.0),
    (ev("launching", 'Pulling image "registry.example/binder-x:abc"\n'), 32.0),
    (ev("launching", "Successfully pulled image in 45.1s\n"), 77.0),
    (ev("launching", "2026-12-02T10:00:00Z [Normal] Created container notebook\n"), 78.0),
    (ev("launching", "Server ready at /user/x/\n"), 80.0),
    (ev("ready", "server running\n", binder_persistent_request="v2/gh/o/r/abc123"), 81.0),
]


def test_a_build_then_pull_then_server_start_told_apart() -> None:
    timeline = timeline_of(KUBE_BUILD, origin=0.0, member="hetzner-gesis")
    assert steps(timeline) == [
        ("waiting", 0.0, 2.0),
        ("fetching", 2.0, 3.0),
        ("building", 5.0, 15.0),
        ("pushing", 20.0, 10.0),
        ("launching", 30.0, 2.0),
        ("pulling", 32.0, 45.0),
        ("starting", 77.0, 4.0),
        ("ready", 81.0, 0.0),
    ]
    assert (timeline.build, timeline.pull_on_node, timeline.commit) == ("built", True, "abc123")
    assert (timeline.build_time, timeline.pull, timeline.server, timeline.total) == (
        28.0, 45.0, 6.0, 81.0,
    )  # fmt: skip
    assert launch_summary(timeline) == (
        "waiting 2 s · build 28 s · pull 45 s · server 6 s · total 1 min 21 s on hetzner-gesis"
    )
    text = explain_launch(timeline, spec="gh/o/r/HEAD")
    assert "1 build     28 s: this commit (abc123) had no image on hetzner-gesis yet" in text
    assert "2 pull      45 s: the image was pulled onto the node" in text
    assert "3 server    6 s: the server started" in text
    assert (
        "prime this ref on every member before a workshop (`binderfed prime gh/o/r/HEAD`)" in text
    )


def test_found_built_image_on_the_node() -> None:
    timeline = timeline_of(
        [
            (ev("waiting", "Waiting for build to start...\n"), 0.5),
            (ev("built", "Found built image, launching...\n", imageName=IMAGE), 1.0),
            (ev("launching", "Launching server...\n"), 1.25),
            (ev("launching", 'Container image "x" already present on machine\n'), 2.0),
            (ev("launching", "Started container notebook\n"), 2.5),
            (ev("ready", "server running\n"), 4.0),
        ],
        origin=0.0,
    )
    assert steps(timeline) == [
        ("waiting", 0.0, 1.0),
        ("launching", 1.0, 1.0),
        ("starting", 2.0, 2.0),
        ("ready", 4.0, 0.0),
    ]
    assert (timeline.build, timeline.pull_on_node, timeline.pull, timeline.server) == (
        "cached", False, 0.0, 3.0,
    )  # fmt: skip
    assert launch_summary(timeline, "gesis") == (
        "waiting 1 s · build: cached · pull: on the node · server 3 s · total 4 s on gesis"
    )
    text = explain_launch(timeline, "gesis")
    assert "1 build     skipped" in text
    assert "2 pull      skipped: the image was already on the node" in text
    assert "nothing to avoid" in text


def test_a_failure_ends_the_timeline_and_later_events_do_not_count() -> None:
    timeline = timeline_of(
        [
            (ev("waiting"), 1.0),
            (ev("building", "Step 1\n"), 2.0),
            (ev("failed", "Build failed\n"), 7.0),
            (ev("ready"), 9.0),
        ],
        origin=0.0,
    )
    assert steps(timeline) == [
        ("waiting", 0.0, 2.0),
        ("building", 2.0, 5.0),
        ("failed", 7.0, 0.0),
    ]
    assert (timeline.outcome, timeline.build, timeline.total) == ("failed", None, 7.0)


def test_times_never_run_backwards_and_json_is_plain() -> None:
    timeline = timeline_of([(ev("waiting"), 5.0), (ev("building"), 4.0), (ev("ready"), 6.0)])
    assert steps(timeline) == [("waiting", 0.0, 0.0), ("building", 0.0, 1.0), ("ready", 1.0, 0.0)]
    data = timeline_json(timeline, member="alpha")
    assert data["member"] == "alpha"
    assert Timeline.model_validate(data).steps == timeline.steps


# --- through the real client, with an injected clock ------------------------------------------


@pytest.fixture
def scripted(wirehub: WireHub) -> WireHub:
    wirehub.scripts["kube"] = [event.model_dump(exclude_none=True) for event, _ in KUBE_BUILD[:-1]]
    return wirehub


def test_build_stream_timeline_from_wirehub(scripted: WireHub) -> None:
    times = [0.0] + [at for _, at in KUBE_BUILD]
    with BinderHub(scripted.url, timeout=5.0) as hub:
        stream = hub.build("gh/someone/kube/HEAD")
        stream.clock = clock = Ticks(times)
        events = list(stream)
    assert clock.calls == len(KUBE_BUILD) + 1  # the origin, then one per event
    assert [e.phase for e in events][-1] == "ready"
    timeline = stream.timeline
    assert timeline.member == scripted.url
    assert timeline.pull == 45.0
    assert timeline.server == 6.0
    assert timeline.total == 81.0
    ready = events[-1]
    assert ready.binder_persistent_request is not None
    assert timeline.commit == ready.binder_persistent_request.rsplit("/", 1)[-1]


def test_session_carries_the_timeline_sync_and_async(scripted: WireHub) -> None:
    times = [0.0] + [at for _, at in KUBE_BUILD]
    with BinderHub(scripted.url, timeout=5.0) as hub:
        hub.clock = Ticks(times)
        session = hub.launch("gh/someone/kube/HEAD")
    assert session.timeline is not None
    assert session.timeline.total == 81.0
    assert session.timeline.seconds("pulling") == 45.0

    async def launch() -> Timeline | None:
        async with AsyncBinderHub(scripted.url, timeout=5.0) as hub:
            hub.clock = Ticks(times)
            async_session = await hub.launch("gh/someone/kube/HEAD")
            await async_session.aclose()
            return async_session.timeline

    async_timeline = asyncio.run(launch())
    assert async_timeline is not None
    assert steps(async_timeline) == steps(session.timeline)


def test_fixture_scenario_through_the_client(wirehub: WireHub) -> None:
    times = [float(i) for i in range(15)]
    with BinderHub(wirehub.url, timeout=5.0) as hub:
        stream = hub.build("gh/someone/fixture/HEAD")
        stream.clock = Ticks(times)
        list(stream)
    assert steps(stream.timeline) == steps(fixture_timeline())


def test_a_failed_stream_keeps_its_timeline(wirehub: WireHub) -> None:
    with BinderHub(wirehub.url, timeout=5.0, retry=NO_RETRY) as hub:
        stream = hub.build("gh/someone/failed-500/HEAD")
        stream.clock = Ticks([0.0, 1.0, 3.0])
        with pytest.raises(BuildFailed):
            list(stream)
    assert steps(stream.timeline) == [("waiting", 0.0, 3.0), ("failed", 3.0, 0.0)]
