"""Timelines and the history through the sandbox federation (real JupyterHubs, our build
service, on 127.0.0.1): a first launch builds, a second of the same commit finds it built;
the history shows both and holds no token; the `history` policy sends the next launch to the
member that built the commit. Each member keeps its own environment cache here
(`member_caches`), as real members keep their own images."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from servers import running_sandbox

from binderfed_sdk.cli._history import after_launch, launch_summary
from binderfed_sdk.cli._main import main as cli_main
from binderfed_sdk.federation._client import Federation
from binderfed_sdk.federation._routing import Candidate, Pinned, WeightedRandom
from binderfed_sdk.history import History, HistoryPolicy, record_launch
from binderfed_sdk.sandbox import manager
from binderfed_sdk.spec import Spec

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_BYTES = 4096


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.SandboxState]:
    settings = manager.SandboxSettings(members=2, member_caches=True, max_age=3600)
    with running_sandbox(tmp_path_factory.mktemp("sandbox"), settings) as state:
        yield state


def test_build_then_cached_then_routed_to_the_builder(  # noqa: PLR0915 - one story
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    commit = manager.make_repository(
        Path(sandbox.repos_dir) / "tests" / "timeline", files={"requirements.txt": "\n"}
    )
    spec = Spec.parse("gh/tests/timeline/HEAD")
    store = History(tmp_path / "history.jsonl", max_bytes=MAX_BYTES, enabled=True)
    tokens: list[str] = []
    summaries: list[str] = []
    with Federation("sandbox", policy=Pinned("alpha")) as fed:
        for _ in range(2):
            session = fed.launch(spec)
            try:
                tokens.append(session.token.get_secret_value())
                out = io.StringIO()
                assert after_launch(session, out, spec=spec, record=False) is None
                summaries.append(out.getvalue())
                assert record_launch(session, spec=spec, policy=fed.policy, history=store)
            finally:
                session.shutdown()
    first, second = (r.timeline for r in store.records())
    assert first is not None
    assert second is not None
    # the first launch built the environment, the second found it built
    assert (first.build, second.build) == ("built", "cached")
    assert first.has("building")
    assert not second.has("building")
    assert first.build_time > 0
    assert second.build_time == 0
    assert (first.commit, second.commit) == (commit, commit)
    assert (first.member, second.member) == ("alpha", "alpha")
    assert (first.outcome, second.outcome) == ("ready", "ready")
    assert summaries[1] == launch_summary(second, "alpha") + "\n"
    assert summaries[1].startswith(("build: cached", "waiting"))
    assert "build: cached" in summaries[1]
    assert summaries[0].split(" · ")[0 if first.waiting < 1 else 1].startswith("build ")

    # the weights would send the next launch to beta (equal weights: find such a seed)
    with Federation("sandbox") as fed:
        weights = [(m.name, m.weight) for m in fed.members]
    assert weights == [("alpha", 50.0), ("beta", 50.0)]
    members = [Candidate(name, weight) for name, weight in weights]
    seed = next(s for s in range(100) if WeightedRandom(s).rank(members, "")[0] == "beta")
    policy = HistoryPolicy(history=store, max_share=1.0, seed=seed)
    with Federation("sandbox", policy=policy) as fed:
        session = fed.launch(spec)
        try:
            tokens.append(session.token.get_secret_value())
            record_launch(session, spec=spec, policy=policy, history=store)
        finally:
            session.shutdown()
    assert policy.last_route is not None
    assert (policy.last_route.weights, policy.last_route.chosen) == ("beta", "alpha")
    assert session.member == "alpha"
    assert session.timeline is not None
    assert session.timeline.build == "cached"

    # the history: three launches, one built; no token; within its bound
    records = store.records()
    assert [(r.member, r.timeline.build if r.timeline else None) for r in records] == [
        ("alpha", "built"),
        ("alpha", "cached"),
        ("alpha", "cached"),
    ]
    text = store.path.read_text()
    for token in tokens:
        assert token not in text
    for _ in range(30):  # more launches than the bound holds: still within it
        store.append(records[-1])
        assert store.path.stat().st_size <= MAX_BYTES


def test_the_cli_prints_the_timeline_explains_it_and_keeps_the_history(
    sandbox: manager.SandboxState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`launch` prints where the time went, `--explain` says it in the FAQ's terms, `--json`
    carries the timeline, and `binderfed history` lists both launches."""
    history_file = tmp_path / "cli-history.jsonl"
    monkeypatch.setenv("BINDERFED_HISTORY_FILE", str(history_file))
    manager.make_repository(
        Path(sandbox.repos_dir) / "tests" / "cli-timeline", files={"requirements.txt": "\n"}
    )
    spec = "gh/tests/cli-timeline/HEAD"

    def run(*argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli_main(list(argv), out=out, err=err)
        return code, out.getvalue() + err.getvalue()

    base = ("launch", spec, "--federation", "sandbox", "--policy", "pinned:alpha", "--shutdown")
    code, first = run(*base)
    assert code == 0, first
    assert "total " in first
    assert "on alpha" in first
    assert "build: cached" not in first  # the first launch built it
    code, second = run(*base, "--explain")
    assert code == 0, second
    assert "1 build     skipped" in second, first + "\n----\n" + second
    code, as_json = run(*base, "--json")
    assert code == 0, as_json
    summary = next(json.loads(line) for line in as_json.splitlines() if '"session"' in line)
    timeline = summary["session"]["timeline"]
    assert timeline["member"] == "alpha"
    assert timeline["build"] == "cached"
    code, listed = run("history", spec, "--json")
    assert code == 0, listed
    records = [json.loads(line) for line in listed.splitlines() if line.startswith("{")] or [
        json.loads(listed)
    ]
    text = json.dumps(records)
    assert text.count("cli-timeline") >= 3
    assert len(history_file.read_text().splitlines()) == 3  # each launch, once
