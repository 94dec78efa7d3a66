"""Where the time of a launch went: a typed timeline built from a build stream's events.

Pure: no I/O, no clock of its own. `TimelineBuilder.add(event, at)` takes each event with its
arrival time (any monotonic clock, seconds), so a test gives exact times and gets exact
durations. The build stream (`BuildStream.timeline`) stamps events with `time.monotonic`.

The steps, in mybinder.org's FAQ's terms (1 build >> 2 pull onto the node >> 3 server start):

* `waiting`: queued (BinderHub's `waiting`; a build pod's `Pending`);
* `fetching`: the repository fetched; `building` (a build pod's `Running` too); `pushing`;
* the `built` event ends the build: BinderHub says "Found built image" when the image was
  already built (`Timeline.build == "cached"`), else it was built here (`"built"`);
* `launching`: image pull and server start together, unless the hub's progress messages tell
  them apart (KubeSpawner relays the kubelet's `Pulling image ...`, `Successfully pulled
  image ...` or `... already present on machine`): then `pulling` and `starting`;
* `ready` (or `failed`): the end, a point.

A step lasts until the next one starts; the first starts at the stream's origin (the
request), so the connection's time counts as waiting.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from binderfed_sdk._lazy import publish
from binderfed_sdk.hub._events import FAILED_PHASES, BuildEvent, Phase

__all__ = ["StepName", "Timeline", "TimelineBuilder", "TimelineStep"]

StepName = Literal[
    "waiting",
    "fetching",
    "building",
    "pushing",
    "launching",
    "pulling",
    "starting",
    "ready",
    "failed",
]
BuildOutcome = Literal["built", "cached"]

#: a build pod's own phases (BinderHub passes them through), as the step they are part of
_PHASE_STEP: dict[str, StepName] = {
    Phase.WAITING: "waiting",
    "pending": "waiting",
    Phase.FETCHING: "fetching",
    Phase.BUILDING: "building",
    "running": "building",
    "succeed": "building",
    "succeeded": "building",
    Phase.PUSHING: "pushing",
    Phase.LAUNCHING: "launching",
}
_BUILD_STEPS: frozenset[str] = frozenset({"fetching", "building", "pushing"})
_LAUNCH_STEPS: frozenset[str] = frozenset({"launching", "pulling", "starting"})
# the kubelet's words, as KubeSpawner relays them in the hub's progress messages
_PULLING = re.compile(r"\bPulling image\b", re.IGNORECASE)
_PULLED = re.compile(r"\bSuccessfully pulled image\b", re.IGNORECASE)
_ON_NODE = re.compile(r"\balready present on machine\b", re.IGNORECASE)
_STARTING = re.compile(r"\b(?:Created container|Started container|Server ready at)\b", re.I)
_FOUND_BUILT = re.compile(r"^\s*Found built image", re.IGNORECASE)


class TimelineStep(BaseModel):
    """One step: its name, when it started (seconds after the launch's request) and how long
    it took (0 for `ready` and `failed`, which are points)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    name: StepName
    start: float
    duration: float


class Timeline(BaseModel):
    """The steps of one launch (or build), in order, and what they add up to.

    `member`: the member that served it (a federation's member name, else the hub's URL);
    `build`: "built" (built during this launch), "cached" (found built) or None (unknown: the
    stream ended first); `pull_on_node`: True when the image was pulled onto the node, False
    when the hub said it was already there, None when the hub's messages do not say;
    `commit`: the resolved ref of the `ready` event (`binder_persistent_request`'s last
    segment); `total`: seconds from the request to `ready` (or the last event).
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    steps: tuple[TimelineStep, ...] = ()
    member: str | None = None
    build: BuildOutcome | None = None
    pull_on_node: bool | None = None
    commit: str | None = None
    image: str | None = None
    outcome: Literal["ready", "failed"] | None = None
    total: float = 0.0

    def seconds(self, *names: str) -> float:
        """The time spent in the named steps together."""
        return sum(s.duration for s in self.steps if s.name in names)

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.steps)

    @property
    def waiting(self) -> float:
        return self.seconds("waiting")

    @property
    def build_time(self) -> float:
        """Fetching, building and pushing together (0 when the image was found built)."""
        return self.seconds(*_BUILD_STEPS)

    @property
    def launch_time(self) -> float:
        """Pull and server start together (everything after the build, before `ready`)."""
        return self.seconds(*_LAUNCH_STEPS)

    @property
    def told_apart(self) -> bool:
        """Whether the hub's messages told the image pull from the server start."""
        return self.pull_on_node is not None

    @property
    def pull(self) -> float | None:
        """Seconds pulling the image onto the node (0: it was there); None: not told apart."""
        return self.seconds("pulling") if self.told_apart else None

    @property
    def server(self) -> float | None:
        """Seconds starting the server; None when not told apart from the pull."""
        return self.seconds("launching", "starting") if self.told_apart else None

    def with_member(self, member: str | None) -> Timeline:
        return self.model_copy(update={"member": member})


class TimelineBuilder:
    """Turns events, each with its arrival time, into a `Timeline` (pure: give the times)."""

    def __init__(self, origin: float | None = None, *, member: str | None = None) -> None:
        #: the request's time: the first step starts here (None: at the first event)
        self.origin = origin
        self.member = member
        self._steps: list[tuple[StepName, float]] = []
        self._last: float | None = None
        self._build: BuildOutcome | None = None
        self._pull_on_node: bool | None = None
        self._commit: str | None = None
        self._image: str | None = None
        self._outcome: Literal["ready", "failed"] | None = None

    def _enter(self, name: StepName, at: float) -> None:
        if not self._steps or self._steps[-1][0] != name:
            self._steps.append((name, at))

    @property
    def current(self) -> StepName | None:
        return self._steps[-1][0] if self._steps else None

    def add(self, event: BuildEvent, at: float) -> None:
        """Take one event that arrived at `at` (seconds, the same clock as `origin`)."""
        if self._outcome is not None:
            return  # nothing counts after the end
        if self.origin is None:
            self.origin = at
        at = max(at, self._last if self._last is not None else self.origin)  # never backwards
        self._last = at
        if not self._steps and self.origin < at:
            self._enter("waiting", self.origin)  # the request until the first event
        phase = event.phase or ""
        if event.is_ready:
            self._ready(event, at)
        elif phase in FAILED_PHASES:
            self._outcome = "failed"
            self._enter("failed", at)
        elif phase == Phase.BUILT:
            # the image exists from here on: found built (cached) or just built
            found = bool(_FOUND_BUILT.match(event.message))
            self._build = "cached" if found or not self._built_here() else "built"
            self._image = event.image_name or self._image
            self._enter("launching", at)
        elif phase == Phase.LAUNCHING:
            self._launching(event.message, at)
        elif (step := _PHASE_STEP.get(phase)) is not None:
            self._enter(step, at)
        elif not self._steps:  # no phase, or a builder's own: part of the step it comes in
            self._enter("waiting", at)

    def _built_here(self) -> bool:
        return any(name in _BUILD_STEPS for name, _ in self._steps)

    def _launching(self, message: str, at: float) -> None:
        if self.current not in _LAUNCH_STEPS:
            self._enter("launching", at)
        if _PULLING.search(message):
            self._pull_on_node = True
            self._enter("pulling", at)
        elif _PULLED.search(message):
            self._pull_on_node = True
            self._enter("starting", at)
        elif _ON_NODE.search(message):
            if self._pull_on_node is None:
                self._pull_on_node = False
            self._enter("starting", at)
        elif _STARTING.search(message) and self.current == "pulling":
            self._enter("starting", at)

    def _ready(self, event: BuildEvent, at: float) -> None:
        self._outcome = "ready"
        if self._build is None and self._steps:
            # a hub that sent no `built` (a build-only stream ends in `ready` with the image)
            self._build = "built" if self._built_here() else None
        self._image = event.image or event.image_name or self._image
        request = event.binder_persistent_request
        if request:
            self._commit = request.rstrip("/").rsplit("/", 1)[-1] or None
        self._enter("ready", at)

    def timeline(self, member: str | None = None) -> Timeline:
        """The timeline so far (steps end where the next begins; the last open one at the
        last event)."""
        origin = self.origin or 0.0
        end = self._last if self._last is not None else origin
        steps: list[TimelineStep] = []
        for i, (name, start) in enumerate(self._steps):
            stop = self._steps[i + 1][1] if i + 1 < len(self._steps) else end
            point = name in {"ready", "failed"}
            steps.append(
                TimelineStep(
                    name=name, start=start - origin, duration=0.0 if point else stop - start
                )
            )
        return Timeline(
            steps=tuple(steps),
            member=member or self.member,
            build=self._build,
            pull_on_node=self._pull_on_node,
            commit=self._commit,
            image=self._image,
            outcome=self._outcome,
            total=end - origin,
        )


def timeline_of(
    events: list[tuple[BuildEvent, float]],
    *,
    origin: float | None = None,
    member: str | None = None,
) -> Timeline:
    """The timeline of `(event, arrival time)` pairs."""
    builder = TimelineBuilder(origin, member=member)
    for event, at in events:
        builder.add(event, at)
    return builder.timeline()


publish(__name__)  # public classes show as binderfed_sdk.X
