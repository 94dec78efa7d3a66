"""Routing that learns: `history` against `weighted-random` on a three-member sandbox.

One sandbox (3 members, equal weights, each member with its own environment cache, as real
members keep their own images). Each policy gets its own 5 small repositories (same content,
other names, so neither finds the other's builds) and the same 30 launches in one fixed random
order (each repository 6 times); the two policies take turns launch by launch, so a slow
moment of the machine hits both. Both draw the weights with the same seed, so `history`
differs from `weighted-random` only where it sends a launch to the member that has the
image. Each launch is timed from `Federation.launch` to `ready` (the session is then shut
down, untimed) and recorded in the policy's own history file.

Target: total time to ready of `history` <= 0.6x `weighted-random`, and each member's share of
`history`'s launches within `max_share` (0.3) of its weight.

    python bench/history_routing.py [--launches 30] [--repos 5] [--build-seconds 20] [--seed 7]

`--build-seconds S` adds a `postBuild` that sleeps S seconds: a sandbox build (a virtualenv
over this Python's packages) takes seconds where a real Binder build takes minutes.
`--simulate N` runs no servers: the same policies' decisions over N seeds on a cost model
(a build costs build-seconds + 1, a launch `--launch-seconds`), to show how the one fixed
order compares with others.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from binderfed_sdk.federation._client import Federation
from binderfed_sdk.federation._routing import Candidate, RoutingPolicy, WeightedRandom
from binderfed_sdk.history import History, HistoryPolicy, LaunchRecord, record_launch
from binderfed_sdk.hub._timeline import Timeline, TimelineStep
from binderfed_sdk.sandbox import manager
from binderfed_sdk.spec import Spec

MAX_SHARE = 0.3
TARGET = 0.6


def make_repos(state: manager.SandboxState, prefix: str, count: int, build_s: float) -> list[Spec]:
    specs = []
    for i in range(count):
        files = {"requirements.txt": "httpx\n", "README.md": f"repository {i}\n"}
        if build_s > 0:
            files["postBuild"] = f"sleep {build_s}\n"  # run with bash, as repo2docker does
        manager.make_repository(Path(state.repos_dir) / "bench" / f"{prefix}-{i}", files=files)
        specs.append(Spec.parse(f"gh/bench/{prefix}-{i}/HEAD"))
    return specs


class Run:
    def __init__(self, name: str, policy: RoutingPolicy, specs: list[Spec], folder: Path) -> None:
        self.name = name
        self.policy = policy
        self.specs = specs
        self.history = History(folder / f"{name}.jsonl", enabled=True)
        self.times: list[float] = []
        self.members: Counter[str] = Counter()
        self.builds = 0

    def launch(self, fed: Federation, index: int) -> str:
        spec = self.specs[index]
        started = time.perf_counter()
        session = fed.launch(spec, policy=self.policy)
        elapsed = time.perf_counter() - started
        try:
            record_launch(session, spec=spec, policy=self.policy, history=self.history)
        finally:
            session.shutdown()
        self.times.append(elapsed)
        self.members[session.member or "?"] += 1
        timeline = session.timeline
        built = timeline is not None and timeline.build == "built"
        self.builds += built
        return f"{session.member} {'built ' if built else 'cached'} {elapsed:5.1f} s"


def model_ratio(seed: int, launches: int, repos: int, build_s: float, launch_s: float) -> float:
    """`history` / `weighted-random` by the same decisions on a model: a launch costs
    `launch_s`, plus `build_s` where the member has not built the repository yet."""
    members = [Candidate(name, 50.0) for name in manager.MEMBER_NAMES[:3]]
    rng = random.Random(seed)
    order = [i % repos for i in range(launches)]
    rng.shuffle(order)
    totals = []
    for policy in (WeightedRandom(seed), HistoryPolicy([], max_share=MAX_SHARE, seed=seed)):
        built: set[tuple[int, str]] = set()
        total = 0.0
        for n, index in enumerate(order):
            key = f"/build/gh/bench/r{index}"
            member = policy.rank(members, key)[0]
            build = (index, member) not in built
            built.add((index, member))
            seconds = launch_s + (build_s if build else 0.0)
            total += seconds
            if isinstance(policy, HistoryPolicy):
                step = TimelineStep(name="building", start=0.0, duration=build_s if build else 0)
                timeline = Timeline(steps=(step,), outcome="ready", total=seconds, commit="c")
                at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
                policy.learn(
                    LaunchRecord(at=at, spec=key, key=key, repo=key, commit="c", member=member,
                                 timeline=timeline)
                )  # fmt: skip
        totals.append(total)
    return totals[1] / totals[0]


def simulate(args: argparse.Namespace) -> int:
    build_s, launch_s = args.build_seconds + 1, args.launch_seconds

    def ratio(seed: int) -> float:
        return model_ratio(seed, args.launches, args.repos, build_s, launch_s)

    ratios = sorted(ratio(seed) for seed in range(args.simulate))
    under = sum(r <= TARGET for r in ratios)
    median = statistics.median(ratios)
    print(f"model, {args.simulate} seeds, build {build_s:g} s, launch {launch_s:g} s: "
          f"history / weighted-random median {median:.2f}x, best {ratios[0]:.2f}x, "
          f"worst {ratios[-1]:.2f}x, seed {args.seed}: {ratio(args.seed):.2f}x; "
          f"<= {TARGET}x in {under} of {len(ratios)}")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=30)
    parser.add_argument("--repos", type=int, default=5)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--build-seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--simulate", type=int, default=0, metavar="SEEDS",
        help="no servers: the same decisions on a cost model, over this many seeds",
    )  # fmt: skip
    parser.add_argument("--launch-seconds", type=float, default=2.7, help="the model's launch")
    args = parser.parse_args()
    if args.simulate:
        return simulate(args)

    folder = Path(tempfile.mkdtemp(prefix="binderfed-bench-history-"))
    os.environ[manager.ENV_DIR] = str(folder / "sandbox")
    rng = random.Random(args.seed)
    order = [i % args.repos for i in range(args.launches)]
    rng.shuffle(order)
    settings = manager.SandboxSettings(members=args.members, member_caches=True, max_age=3600)
    started = time.perf_counter()
    state = manager.up(settings)
    print(f"sandbox up: {args.members} members, own caches ({time.perf_counter() - started:.0f} s)")
    try:
        weighted = Run(
            "weighted-random",
            WeightedRandom(args.seed),
            make_repos(state, "wr", args.repos, args.build_seconds),
            folder,
        )
        history = Run(
            "history",
            HistoryPolicy([], max_share=MAX_SHARE, seed=args.seed),
            make_repos(state, "hist", args.repos, args.build_seconds),
            folder,
        )
        with Federation("sandbox") as fed:
            weights = {m.name: m.weight for m in fed.members}
            for n, index in enumerate(order, start=1):
                a = weighted.launch(fed, index)
                b = history.launch(fed, index)
                print(f"{n:3d} repo {index}:  weighted-random {a}   history {b}", flush=True)
    finally:
        manager.down()
    total = sum(weights.values())
    print(f"\n{args.launches} launches of {args.repos} repositories, seed {args.seed}, "
          f"postBuild {args.build_seconds:g} s:")  # fmt: skip
    for run in (weighted, history):
        shares = ", ".join(
            f"{m} {run.members[m] / args.launches:.0%} (weight {w / total:.0%})"
            for m, w in weights.items()
        )
        print(f"  {run.name:<16} total {sum(run.times):6.1f} s  builds {run.builds:2d}  {shares}")
    ratio = sum(history.times) / sum(weighted.times)
    policy = history.policy
    assert isinstance(policy, HistoryPolicy)
    print(f"  history overrides {policy.overrides}, sent away from the weights "
          f"{policy.away()} of {policy.decisions} (bound {MAX_SHARE:.0%})")  # fmt: skip
    worst = max(abs(history.members[m] / args.launches - w / total) for m, w in weights.items())
    ok_ratio, ok_share = ratio <= TARGET, worst <= MAX_SHARE
    print(f"  history / weighted-random: {ratio:.2f}x (target <= {TARGET}x): "
          f"{'ok' if ok_ratio else 'OVER'}")  # fmt: skip
    print(f"  largest share - weight: {worst:.0%} (bound {MAX_SHARE:.0%}): "
          f"{'ok' if ok_share else 'OVER'}")  # fmt: skip
    return 0 if ok_ratio and ok_share else 1


if __name__ == "__main__":
    sys.exit(main())
