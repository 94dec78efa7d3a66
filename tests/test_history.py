"""The local launch history (file, bound, opt-out, no tokens), the `history` routing policy
(many seeded draws: the weights' bound holds at every decision) and `binderfed history`.
Pure: files in tmp folders, no servers."""

from __future__ import annotations

import argparse
import io
import json
import os
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from binderfed_sdk import ConfigError
from binderfed_sdk.cli._history import add_history_parser, after_launch, run_history
from binderfed_sdk.federation._routing import (
    Candidate,
    WeightedRandom,
    check_ranking,
    get_policy,
    routing_key,
)
from binderfed_sdk.history import (
    History,
    HistoryPolicy,
    LaunchRecord,
    Route,
    default_path,
    history_enabled,
    make_record,
    record_launch,
)
from binderfed_sdk.hub._session import Session
from binderfed_sdk.hub._timeline import Timeline, TimelineStep
from binderfed_sdk.spec import Spec

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MEMBERS = [Candidate("a", 50, prime=True), Candidate("b", 30), Candidate("c", 20)]
TOKEN = "tok-Zx81-super-secret"


def timeline(build: float, launch: float, *, commit: str = "c1", member: str = "a") -> Timeline:
    steps = [TimelineStep(name="waiting", start=0.0, duration=1.0)]
    if build:
        steps.append(TimelineStep(name="building", start=1.0, duration=build))
    steps.append(TimelineStep(name="launching", start=1.0 + build, duration=launch))
    steps.append(TimelineStep(name="ready", start=1.0 + build + launch, duration=0.0))
    return Timeline(
        steps=tuple(steps),
        member=member,
        build="built" if build else "cached",
        commit=commit,
        outcome="ready",
        total=1.0 + build + launch,
    )


def record(
    repo: str,
    member: str,
    *,
    build: float = 0.0,
    launch: float = 3.0,
    commit: str = "c1",
    minutes: int = 0,
    route: Route | None = None,
) -> LaunchRecord:
    spec = Spec("gh", repo, "HEAD")
    return LaunchRecord(
        at=T0 + timedelta(minutes=minutes),
        spec=str(spec),
        key=routing_key(spec.build_path),
        repo=f"gh/{repo}",
        commit=commit,
        member=member,
        timeline=timeline(build, launch, commit=commit, member=member),
        route=route,
    )


def key(repo: str) -> str:
    return routing_key(Spec("gh", repo, "HEAD").build_path)


def session_for(spec: Spec, tl: Timeline, member: str) -> Session:
    session = Session("http://127.0.0.1:9/user/x/", TOKEN, hub="http://127.0.0.1:9/", spec=spec)
    session.timeline = tl
    session.member = member
    return session


# --- the file ---------------------------------------------------------------------------------


def test_append_and_read_back_without_the_token(tmp_path: Path) -> None:
    store = History(tmp_path / "h.jsonl", enabled=True)
    spec = Spec("gh", "org/repo", "HEAD")
    written = record_launch(session_for(spec, timeline(40, 5), "alpha"), history=store)
    assert written is not None
    text = store.path.read_text()
    assert TOKEN not in text
    assert "token" not in text
    (back,) = store.records()
    assert back == written
    assert (back.repo, back.member, back.commit, back.spec) == (
        "gh/org/repo",
        "alpha",
        "c1",
        str(spec),
    )
    assert back.timeline is not None
    assert back.timeline.build_time == 40.0
    assert store.path.stat().st_mode & 0o077 == 0  # private


def test_credentials_in_a_spec_are_masked(tmp_path: Path) -> None:
    store = History(tmp_path / "h.jsonl", enabled=True)
    spec = Spec.parse("git/https%3A%2F%2Fuser%3Ahunter2%40git.example%2Frepo/main")
    session = session_for(spec, timeline(0, 2), "alpha")
    record_launch(session, history=store)
    assert "hunter2" not in store.path.read_text()  # the URL is encoded: still masked
    assert store.records()


def test_the_file_stays_within_its_bound(tmp_path: Path) -> None:
    store = History(tmp_path / "h.jsonl", max_bytes=8192, enabled=True)
    for i in range(500):
        assert store.append(record(f"org/r{i}", "a", minutes=i))
        assert store.path.stat().st_size <= 8192
    kept = store.records()
    assert 10 < len(kept) < 500
    assert kept[-1].repo == "gh/org/r499"  # the newest are kept, in order
    assert [r.at for r in kept] == sorted(r.at for r in kept)


def test_opt_out_by_environment_and_by_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINDERFED_HISTORY_FILE", str(tmp_path / "env.jsonl"))
    assert default_path() == tmp_path / "env.jsonl"
    for off in ("0", "off", "False", "no"):
        monkeypatch.setenv("BINDERFED_HISTORY", off)
        assert not history_enabled()
        assert not History().append(record("org/r", "a"))
    assert not (tmp_path / "env.jsonl").exists()
    monkeypatch.setenv("BINDERFED_HISTORY", "1")
    assert History().append(record("org/r", "a"))
    assert not History(enabled=False).append(record("org/r", "a"))
    assert len(History().records()) == 1
    monkeypatch.delenv("BINDERFED_HISTORY_FILE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_path() == tmp_path / "cache" / "binderfed" / "history.jsonl"


def test_damaged_lines_are_skipped(tmp_path: Path) -> None:
    store = History(tmp_path / "h.jsonl", enabled=True)
    store.append(record("org/r", "a"))
    with store.path.open("a") as file:
        file.write('{"not": "a record"}\nnot json at all\n\x1b[31m\n')
    store.append(record("org/s", "b"))
    assert [r.repo for r in store.records()] == ["gh/org/r", "gh/org/s"]


def test_bad_settings_are_typed_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="max_bytes"):
        History(tmp_path / "h.jsonl", max_bytes=10)
    with pytest.raises(ConfigError, match="max_share"):
        HistoryPolicy([], max_share=1.5)
    monkeypatch.setenv("BINDERFED_HISTORY_MAX_SHARE", "0.05")
    assert HistoryPolicy([]).max_share == 0.05
    monkeypatch.setenv("BINDERFED_HISTORY_MAX_SHARE", "lots")
    with pytest.raises(ConfigError, match="BINDERFED_HISTORY_MAX_SHARE"):
        HistoryPolicy([])
    monkeypatch.delenv("BINDERFED_HISTORY_MAX_SHARE")
    assert HistoryPolicy([]).max_share == 0.3
    with pytest.raises(ConfigError, match="spec"):
        make_record(Session("http://127.0.0.1:9/user/x/", TOKEN))


# --- the policy ---------------------------------------------------------------------------------


def test_registered_and_picks_the_member_that_built_the_commit() -> None:
    policy = get_policy("history", records=[record("org/r", "c", build=50)], max_share=1.0, seed=1)
    assert isinstance(policy, HistoryPolicy)
    for _ in range(50):  # whatever the weights draw
        ranking = check_ranking(policy.rank(MEMBERS, key("org/r")), MEMBERS)
        assert ranking[0] == "c"
        assert sorted(ranking) == ["a", "b", "c"]
    # another repository: the weights alone
    assert Counter(policy.rank(MEMBERS, key("org/other"))[0] for _ in range(600))["a"] > 200


def test_latest_commit_and_estimates() -> None:
    records = [
        record("org/r", "a", commit="old", minutes=0),
        record("org/r", "b", commit="new", build=120, launch=4, minutes=5),  # built: est. 5 s
        record("org/r", "c", commit="new", launch=9, minutes=6),  # launched: 10 s
    ]
    policy = HistoryPolicy(records, max_share=1.0, seed=3)
    assert policy.preferred(key("org/r"), ["a", "b", "c"]) == ["b", "c"]
    assert policy.preferred(key("org/r"), ["a", "c"]) == ["c"]  # b unhealthy: not a candidate
    unhealthy_b = [MEMBERS[0], Candidate("b", 30, healthy=False), MEMBERS[2]]
    assert {policy.rank(unhealthy_b, key("org/r"))[0] for _ in range(30)} == {"c"}


def test_the_weights_pick_stays_when_it_has_the_commit() -> None:
    # a and b both have it: whatever the weights draw among them is kept (no override spent)
    records = [record("org/r", "a", launch=9), record("org/r", "b", launch=1)]
    policy = HistoryPolicy(records, max_share=1.0, seed=5)
    twin = WeightedRandom(5)
    for _ in range(200):
        drawn = twin.rank(MEMBERS, "")[0]
        chosen = policy.rank(MEMBERS, key("org/r"))[0]
        assert chosen == (drawn if drawn in {"a", "b"} else "b")


def test_max_share_zero_is_weighted_random_exactly() -> None:
    records = [record(f"org/r{i}", "c", build=60) for i in range(5)]
    policy = HistoryPolicy(records, max_share=0.0, seed=11)
    twin = WeightedRandom(11)
    for i in range(2000):
        assert policy.rank(MEMBERS, key(f"org/r{i % 7}")) == twin.rank(MEMBERS, "")
    assert policy.overrides == 0


@pytest.mark.parametrize("max_share", [0.1, 0.3, 0.5])
def test_the_bound_holds_at_every_decision_over_many_seeded_draws(max_share: float) -> None:
    weights = {c.name: c.weight / 100 for c in MEMBERS}
    shares: list[dict[str, float]] = []
    for seed in range(20):
        rng = random.Random(seed)
        # each repository was built on one member (most on the smallest: pulls against weights)
        built_on = {f"org/r{i}": rng.choice(["c", "c", "b", "a"]) for i in range(10)}
        records = [record(repo, m, build=60) for repo, m in built_on.items()]
        policy = HistoryPolicy(records, max_share=max_share, seed=seed)
        twin = WeightedRandom(seed)
        chosen: Counter[str] = Counter()
        drawn: Counter[str] = Counter()
        followed = baseline = moved = 0
        for n in range(1, 1001):
            repo = f"org/r{rng.randrange(12)}"  # two repositories without history
            ranking = check_ranking(policy.rank(MEMBERS, key(repo)), MEMBERS)
            weights_pick = twin.rank(MEMBERS, "")[0]
            assert policy.last_route == Route(
                policy="history", chosen=ranking[0], weights=weights_pick
            )
            chosen[ranking[0]] += 1
            drawn[weights_pick] += 1
            away = sum(max(0, chosen[m] - drawn[m]) for m in weights)
            assert away == policy.away()
            assert away <= max_share * n + 1e-9  # at every decision, not only at the end
            for m in weights:
                assert abs(chosen[m] - drawn[m]) <= away
            followed += repo in built_on and ranking[0] == built_on[repo]
            baseline += repo in built_on and weights_pick == built_on[repo]
            moved += repo in built_on and ranking[0] != weights_pick
        assert moved > 0.5 * max_share * 1000  # it does use its budget
        # every launch sent away from the weights' pick goes where the image is
        assert followed == baseline + moved
        shares.append({m: chosen[m] / 1000 for m in weights})
    # each member's share within the bound of its weight (the weights' own noise: 0.05)
    for share in shares:
        for m, w in weights.items():
            assert abs(share[m] - w) <= max_share + 0.05


def test_the_budget_counts_start_from_the_history() -> None:
    # ten launches already sent away from the weights (chosen c, drawn a): D = 10 of 10
    routed = [
        record(f"org/x{i}", "c", minutes=i, route=Route(policy="history", chosen="c", weights="a"))
        for i in range(10)
    ]
    policy = HistoryPolicy([*routed, record("org/r", "c", build=60)], max_share=0.3, seed=2)
    assert (policy.decisions, policy.away()) == (10, 10)
    twin = WeightedRandom(2)
    for _ in range(20):  # D stays above 0.3 n: no override towards c
        drawn = twin.rank(MEMBERS, "")[0]
        chosen = policy.rank(MEMBERS, key("org/r"))[0]
        assert chosen == drawn or (drawn != "c" and policy.away() <= 0.3 * policy.decisions)


# --- the command --------------------------------------------------------------------------------


def run(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="binderfed")
    add_history_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    return run_history(args, out, err), out.getvalue(), err.getvalue()


def test_history_command_table_json_and_target(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    store = History(path, enabled=True)
    store.append(record("org/r", "alpha", build=70, launch=5, minutes=-30))
    store.append(record("org/r", "alpha", launch=3, minutes=-20))
    store.append(record("org/r", "beta", build=65, launch=4, minutes=-10))
    hostile = record("org/s", "alpha", launch=2, minutes=-5)
    store.append(hostile.model_copy(update={"repo": "gh/org/s\x1b[2J", "member": "\x1b]0;x\x07"}))
    code, out, _ = run(["history", "--file", str(path)])
    assert code == 0
    lines = out.splitlines()
    header = ["repository", "member", "launches", "built", "fastest", "commit", "last", "how"]
    assert lines[0].split() == header
    assert "\x1b" not in out  # escaped
    row = next(line for line in lines if line.startswith("gh/org/r ") and " alpha " in line)
    assert row.split()[2:6] == ["2", "1", "4", "s"]  # 2 launches, 1 built, fastest 4 s
    assert "build: cached · launching 3 s · total 4 s on alpha" in row
    code, out, _ = run(["history", "gh/org/r/HEAD", "--file", str(path), "--json"])
    data = json.loads(out)
    assert code == 0
    assert [(r["member"], r["timeline"]["build"]) for r in data["launches"]] == [
        ("alpha", "built"),
        ("alpha", "cached"),
        ("beta", "built"),
    ]
    code, out, _ = run(["history", "https://github.com/org/nothing", "--file", str(path)])
    assert (code, out.startswith("no launches of https://github.com/org/nothing")) == (0, True)
    code, _, err = run(["history", "nonsense:/x", "--file", str(path)])
    assert code == 2
    assert err.startswith("binderfed history: ")


def test_after_launch_prints_and_records(tmp_path: Path) -> None:
    store_path = tmp_path / "h.jsonl"
    spec = Spec("gh", "org/r", "HEAD")
    session = session_for(spec, timeline(0, 3), "alpha")
    out = io.StringIO()
    policy = HistoryPolicy([], seed=1)
    policy.rank(MEMBERS, key("org/r"))
    os.environ["BINDERFED_HISTORY_FILE"] = str(store_path)
    try:
        written = after_launch(session, out, spec=spec, policy=policy)
    finally:
        del os.environ["BINDERFED_HISTORY_FILE"]
    assert out.getvalue() == "waiting 1 s · build: cached · launching 3 s · total 4 s on alpha\n"
    assert written is not None
    assert written.route == policy.last_route
    assert History(store_path).records() == [written]
    out = io.StringIO()
    assert after_launch(session, out, spec=spec, explain=True, record=False) is None
    assert out.getvalue().startswith("Where the time went (mybinder.org's FAQ: 1 build")


def test_a_new_repository_goes_to_a_member_holding_fewer() -> None:
    # a holds both repositories the history knows; the weights draw a for a third one
    records = [record("org/r0", "a"), record("org/r1", "a")]
    seed = next(s for s in range(100) if WeightedRandom(s).rank(MEMBERS, "")[0] == "a")
    policy = HistoryPolicy(records, max_share=1.0, seed=seed)
    assert policy.rank(MEMBERS, key("org/new"))[0] == "b"  # fewest repositories for its weight
    assert policy.last_route == Route(policy="history", chosen="b", weights="a")
    # with no room in the bound, the weights' pick stands
    strict = HistoryPolicy(records, max_share=0.0, seed=seed)
    assert strict.rank(MEMBERS, key("org/new"))[0] == "a"
