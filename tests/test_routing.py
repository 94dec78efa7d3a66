"""Routing policies: distributions (with fixed seeds), rendezvous stability, orderings, plug-ins."""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
from collections import Counter
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binderfed_sdk.federation import _routing as routing
from binderfed_sdk.federation._routing import (
    DEFAULT_POLICY,
    ENTRY_POINT_GROUP,
    Candidate,
    LeastLoaded,
    Pinned,
    Rendezvous,
    RoutingPolicy,
    WeightedRandom,
    available_policies,
    check_ranking,
    fallback,
    get_policy,
    policy_from_callable,
    routing_key,
)
from binderfed_sdk.spec import parse_spec

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

BUILTINS = {
    "weighted-random": WeightedRandom,
    "rendezvous": Rendezvous,
    "least-loaded": LeastLoaded,
    "pinned": Pinned,
}
# 99.9 % quantiles of the chi-square distribution, by degrees of freedom
CHI2_999 = {1: 10.83, 2: 13.82, 3: 16.27, 5: 20.52}


def members(*weights: float, unhealthy: Sequence[int] = ()) -> list[Candidate]:
    """mybinder.org-like members; the first is the prime."""
    names = ["hetzner-2i2c", "hetzner-gesis", "bids-ovh", "extra-3", "extra-4"]
    return [
        Candidate(names[i], w, prime=i == 0, healthy=i not in unhealthy)
        for i, w in enumerate(weights)
    ]


def chi_square(observed: Sequence[int], expected_shares: Sequence[float]) -> float:
    total = sum(observed)
    return sum(
        (o - total * p) ** 2 / (total * p)
        for o, p in zip(observed, expected_shares, strict=True)
        if p > 0
    )


def first_picks(policy: RoutingPolicy, candidates: list[Candidate], n: int) -> Counter[str]:
    return Counter(policy.rank(candidates, "gh/org/repo")[0] for _ in range(n))


def rendezvous_key_shares(candidates: list[Candidate], n: int) -> Counter[str]:
    policy = Rendezvous()
    return Counter(policy.rank(candidates, repo_key(i))[0] for i in range(n))


def repo_key(i: int) -> str:
    return routing_key(f"/build/gh/org/repo-{i}/HEAD")


def all_policies(candidates: Sequence[Candidate]) -> list[RoutingPolicy]:
    pinned = candidates[len(candidates) // 2].name
    return [
        WeightedRandom(seed=7),
        Rendezvous(),
        LeastLoaded(),
        Pinned(pinned),
        Pinned(pinned, strict=True),
    ]


# --- candidates and helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key"),
    [
        # gh: lower-cased, the ref cut off, so every ref of a repository has one key
        ("/build/gh/Binder-Examples/Requirements/HEAD", "/build/gh/binder-examples/requirements"),
        ("build/gh/binder-examples/requirements/v1.0", "/build/gh/binder-examples/requirements"),
        # the path alone, as the redirector reads it: no query
        ("/build/gh/o/r/main?urlpath=lab", "/build/gh/o/r"),
        # every other provider keeps its whole path, ref included, percent-encoding as sent
        ("/build/gl/Group%2FProject/Main", "/build/gl/group%2fproject/main"),
        ("/build/gist/u/abc123/HEAD", "/build/gist/u/abc123/head"),
        ("/build/zenodo/10.5281/zenodo.4036893", "/build/zenodo/10.5281/zenodo.4036893"),
        (
            "/build/git/https%3A%2F%2Fcodeberg.org%2Fu%2Fr/HEAD",
            "/build/git/https%3a%2f%2fcodeberg.org%2fu%2fr/head",
        ),
    ],
)
def test_routing_key_is_the_redirectors(path: str, key: str) -> None:
    assert routing_key(path) == key


def test_routing_key_of_a_spec_ignores_the_ref_for_gh_only() -> None:
    def key(spec: str) -> str:
        return routing_key(parse_spec(spec).build_path)

    assert key("gh/Org/Repo/HEAD") == key("gh/org/repo/v2") == "/build/gh/org/repo"
    assert key("gl/org%2Frepo/HEAD") != key("gl/org%2Frepo/v2")


@pytest.mark.parametrize("weight", [-1.0, math.inf, math.nan])
def test_candidate_rejects_bad_weights(weight: float) -> None:
    with pytest.raises(ValueError, match="weight"):
        Candidate("a", weight)


def test_candidate_needs_a_name() -> None:
    with pytest.raises(ValueError, match="name"):
        Candidate("", 1)


def test_check_ranking_catches_strangers_duplicates_and_ineligible() -> None:
    cands = [Candidate("a", 1, prime=True), Candidate("b", 1), Candidate("c", 1, healthy=False)]
    assert check_ranking(("a", "b"), cands) == ["a", "b"]
    with pytest.raises(ValueError, match="not a candidate"):
        check_ranking(["a", "z"], cands)
    with pytest.raises(ValueError, match="twice"):
        check_ranking(["a", "b", "a"], cands)
    with pytest.raises(ValueError, match="unhealthy or weight 0"):
        check_ranking(["c"], cands)
    assert check_ranking(["c"], cands, eligible_only=False) == ["c"]
    down = [Candidate("a", 1, healthy=False), Candidate("b", 1, prime=True, healthy=False)]
    assert check_ranking(["b"], down) == ["b"]
    with pytest.raises(ValueError, match="must be"):
        check_ranking(["a"], down)


# --- weighted random -------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [(50, 50, 50), (60, 30, 10)])
def test_weighted_random_first_pick_follows_weights(weights: tuple[int, ...]) -> None:
    cands = members(*weights)
    n = 30_000
    picks = first_picks(WeightedRandom(seed=20260801), cands, n)
    observed = [picks[c.name] for c in cands]
    shares = [w / sum(weights) for w in weights]
    assert chi_square(observed, shares) < CHI2_999[len(weights) - 1]
    for o, p in zip(observed, shares, strict=True):
        assert abs(o / n - p) < 0.015


def test_weighted_random_first_pick_is_random_choices_exactly() -> None:
    """Same generator state, same pick as the redirector's random.choices(names, weights)."""
    cands = members(60, 30, 10)
    names, weights = [c.name for c in cands], [c.weight for c in cands]
    policy, reference = WeightedRandom(seed=3), random.Random(3)
    for _ in range(2_000):
        expected = reference.choices(names, weights)[0]
        reference.random()  # the one failover draw among the two members left
        assert policy.rank(cands, "ignored")[0] == expected


def test_weighted_random_failover_is_draws_without_replacement() -> None:
    cands = members(60, 30, 10)
    n = 30_000
    policy = WeightedRandom(seed=11)
    pairs = Counter(tuple(policy.rank(cands, "k")[:2]) for _ in range(n))
    w = {c.name: c.weight for c in cands}
    total = sum(w.values())
    cells = [(a, b) for a in w for b in w if a != b]
    expected = [w[a] / total * w[b] / (total - w[a]) for a, b in cells]
    assert chi_square([pairs[cell] for cell in cells], expected) < CHI2_999[5]


def test_weighted_random_renormalises_over_healthy_members() -> None:
    cands = members(60, 30, 10, unhealthy=[1])
    n = 30_000
    picks = first_picks(WeightedRandom(seed=5), cands, n)
    assert picks["hetzner-gesis"] == 0
    observed = [picks["hetzner-2i2c"], picks["bids-ovh"]]
    assert chi_square(observed, [60 / 70, 10 / 70]) < CHI2_999[1]
    assert abs(observed[0] / n - 60 / 70) < 0.015


def test_weighted_random_never_picks_weight_zero() -> None:
    cands = members(50, 0, 50)
    policy = WeightedRandom(seed=1)
    for _ in range(5_000):
        ranking = policy.rank(cands, "k")
        assert "hetzner-gesis" not in ranking
        assert sorted(ranking) == ["bids-ovh", "hetzner-2i2c"]


def test_weighted_random_is_reproducible_with_a_seed() -> None:
    cands = members(50, 50, 50)
    a, b = WeightedRandom(seed=42), WeightedRandom(seed=42)
    assert [a.rank(cands, "k") for _ in range(100)] == [b.rank(cands, "k") for _ in range(100)]


# --- rendezvous ------------------------------------------------------------------------------


FIXTURE_NAME = "redirector-rendezvous.json"
#: a copy of ../shared/fixtures/redirector-rendezvous.json, so that the suite runs without it
EMBEDDED_FIXTURE = Path(__file__).parent / "fixtures" / FIXTURE_NAME


def shared_fixture() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "fixtures" / FIXTURE_NAME
        if candidate.is_file():
            return candidate
    return None


SHARED_FIXTURE = shared_fixture()


def redirector_cases() -> list[dict[str, Any]]:
    data = json.loads((SHARED_FIXTURE or EMBEDDED_FIXTURE).read_text())
    cases: list[dict[str, Any]] = data["cases"]
    return cases


@pytest.mark.skipif(SHARED_FIXTURE is None, reason="../shared/fixtures not beside the clone")
def test_embedded_redirector_fixture_is_identical() -> None:
    assert SHARED_FIXTURE is not None
    assert EMBEDDED_FIXTURE.read_bytes() == SHARED_FIXTURE.read_bytes()


def test_rendezvous_agrees_with_the_real_redirector() -> None:
    """300 rankings computed by mybinder.org's federation-redirect itself: key and order."""
    cases = redirector_cases()
    assert len(cases) == 300
    assert {case["spec"].split("/")[0] for case in cases} == {"gh", "gl", "git", "zenodo", "gist"}
    policy = Rendezvous()
    wrong: list[str] = []
    for case in cases:
        spec = parse_spec(case["spec"])
        assert "/" + spec.build_path == case["request_path"]  # the path a client sends
        key = routing_key(spec.build_path)
        cands = [Candidate(n, w, prime=i == 0) for i, (n, w) in enumerate(case["members"])]
        ranking = policy.rank(cands, key)
        if key != case["key"] or ranking != case["ranking"]:
            wrong.append(f"{case['spec']}: {key} {ranking} != {case['key']} {case['ranking']}")
    assert wrong == []


def reference_ranking(candidates: Sequence[Candidate], key: str) -> list[str]:
    """The redirector's formula written out again, member by member."""
    scored = []
    for c in candidates:
        digest = hashlib.blake2b(f"{key}-{c.name}".encode(), digest_size=8).digest()
        h = int.from_bytes(digest, "big")
        scored.append((c.weight * (1.0 / -math.log(h / (2**64 - 1))), c.name))
    return [name for _, name in sorted(scored, reverse=True)]


def test_rendezvous_follows_the_redirector_formula() -> None:
    cands = members(60, 30, 10, 7, 3)
    for i in range(300):
        key = repo_key(i)
        assert Rendezvous().rank(cands, key) == reference_ranking(cands, key)


class SameHash:
    """A blake2b stand-in giving every input one digest: every score ties."""

    def __init__(self, data: bytes = b"", digest_size: int = 8) -> None:  # noqa: ARG002
        assert digest_size == 8

    def copy(self) -> SameHash:
        return self

    def update(self, data: bytes) -> None:
        pass

    def digest(self) -> bytes:
        return b"\x80" + b"\x00" * 7


def test_rendezvous_ties_go_to_the_name_sorted_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "blake2b", SameHash)
    cands = [Candidate("b", 5), Candidate("c", 5), Candidate("a", 5)]
    assert Rendezvous().rank(cands, "k") == ["c", "b", "a"]  # sorted(..., reverse=True)


def test_rendezvous_is_deterministic_per_key() -> None:
    cands = members(50, 50, 50)
    key = routing_key("build/gh/binder-examples/requirements/HEAD")
    first = Rendezvous().rank(cands, key)
    assert all(Rendezvous().rank(cands, key) == first for _ in range(50))
    assert Rendezvous().rank(list(reversed(cands)), key) == first


@pytest.mark.parametrize("weights", [(50, 50, 50), (60, 30, 10)])
def test_rendezvous_key_shares_follow_weights(weights: tuple[int, ...]) -> None:
    cands = members(*weights)
    n = 20_000
    shares = rendezvous_key_shares(cands, n)
    for c in cands:
        assert abs(shares[c.name] / n - c.weight / sum(weights)) < 0.02


@pytest.mark.parametrize("how", ["removed", "unhealthy"])
def test_rendezvous_moves_only_the_keys_of_a_member_that_leaves(how: str) -> None:
    cands = members(60, 30, 10)
    leaving = "hetzner-gesis"
    if how == "removed":
        fewer = [c for c in cands if c.name != leaving]
    else:
        fewer = [
            Candidate(c.name, c.weight, prime=c.prime, healthy=c.name != leaving) for c in cands
        ]
    policy = Rendezvous()
    moved = 0
    for i in range(20_000):
        key = repo_key(i)
        before, after = policy.rank(cands, key), policy.rank(fewer, key)
        assert after == [n for n in before if n != leaving]
        if before[0] == leaving:
            moved += 1
            assert after[0] == before[1]
        else:
            assert after[0] == before[0]
        assert policy.rank(cands, key) == before  # the member comes back: all restored
    assert abs(moved / 20_000 - 0.3) < 0.02


class TopHash:
    """A blake2b stand-in: member "top" hashes to 2**64 - 1 (x = 1.0), member "zero" to 0."""

    def __init__(self, data: bytes = b"", digest_size: int = 8) -> None:
        assert digest_size == 8
        self.data = data

    def copy(self) -> TopHash:
        return TopHash(self.data)

    def update(self, data: bytes) -> None:
        self.data += data

    def digest(self) -> bytes:
        if self.data.endswith(b"-top"):
            return b"\xff" * 8
        if self.data.endswith(b"-zero"):
            return b"\x00" * 8
        return hashlib.blake2b(self.data, digest_size=8).digest()


def test_rendezvous_survives_hashes_at_the_ends_of_the_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # where the redirector itself would raise: -ln(1.0) is 0 (ZeroDivisionError), ln(0) fails
    assert (2**64 - 1) / (2**64 - 1) == 1.0
    assert (2**64 - 2**9) / (2**64 - 1) == 1.0  # rounds to 1.0 as well
    monkeypatch.setattr(routing, "blake2b", TopHash)
    cands = [Candidate("a", 100), Candidate("zero", 1e6), Candidate("top", 1e-3), Candidate("b", 9)]
    ranking = Rendezvous().rank(cands, "k")
    assert ranking[0] == "top"
    assert ranking[-1] == "zero"
    assert sorted(ranking) == ["a", "b", "top", "zero"]


# --- least loaded and pinned -----------------------------------------------------------------


def test_least_loaded_orders_known_headroom_then_unknown_by_capacity_and_weight() -> None:
    cands = [
        Candidate("unknown-light", 10),
        Candidate("small", 50, headroom=5),
        Candidate("unknown-heavy", 90, prime=True),
        Candidate("big", 10, headroom=200),
        Candidate("big-heavy", 30, headroom=200),
        Candidate("tie-b", 20, headroom=40),
        Candidate("tie-a", 20, headroom=40),
        Candidate("down", 100, headroom=999, healthy=False),
        Candidate("off", 0, headroom=999),
    ]
    assert LeastLoaded().rank(cands, "k") == [
        "big-heavy",
        "big",
        "tie-a",
        "tie-b",
        "small",
        "unknown-heavy",
        "unknown-light",
    ]
    # unknown load: the largest launch quota (capacity) first, before weight
    unknown = [
        Candidate("heavy", 90),
        Candidate("roomy", 10, quota=300),
        Candidate("snug", 50, quota=60),
    ]
    assert LeastLoaded().rank(unknown, "k") == ["roomy", "snug", "heavy"]


def test_least_loaded_puts_members_where_the_repo_is_full_last() -> None:
    cands = [
        Candidate("roomy-but-full", 50, headroom=250, repo_full=True),
        Candidate("tight", 50, headroom=15),
        Candidate("unknown", 50, prime=True),
        Candidate("unknown-full", 50, quota=300, repo_full=True),
    ]
    assert LeastLoaded().rank(cands, "k") == ["tight", "unknown", "roomy-but-full", "unknown-full"]
    # deprioritised, not refused: alone, it is still tried
    assert LeastLoaded().rank(cands[:1], "k") == ["roomy-but-full"]


def test_pinned_puts_the_member_first_then_the_rest_by_weight() -> None:
    cands = [
        Candidate("a", 10, prime=True),
        Candidate("b", 30),
        Candidate("c", 20),
        Candidate("d", 30),
    ]
    assert Pinned("c").rank(cands, "k") == ["c", "b", "d", "a"]
    assert Pinned("c", strict=True).rank(cands, "k") == ["c"]


def test_pinned_member_unhealthy() -> None:
    cands = [Candidate("a", 10, prime=True), Candidate("b", 30), Candidate("c", 20, healthy=False)]
    assert Pinned("c").rank(cands, "k") == ["b", "a"]
    assert Pinned("c", strict=True).rank(cands, "k") == ["a"]  # the prime, as always
    no_prime = [Candidate("b", 30), Candidate("c", 20, healthy=False)]
    assert Pinned("c", strict=True).rank(no_prime, "k") == ["b"]


def test_pinned_unknown_member_names_the_known_ones() -> None:
    cands = members(50, 50, 50)
    with pytest.raises(ValueError, match=r"unknown member 'nope'; known: 'hetzner-2i2c'"):
        Pinned("nope").rank(cands, "k")


# --- the prime rule --------------------------------------------------------------------------


@pytest.mark.parametrize("policy", all_policies(members(50, 50, 50)), ids=repr)
def test_all_unhealthy_gives_the_prime(policy: RoutingPolicy) -> None:
    cands = members(50, 50, 50, unhealthy=[0, 1, 2])
    cands = [cands[1], cands[0], cands[2]]  # the prime is not first
    assert policy.rank(cands, "k") == ["hetzner-2i2c"]


@pytest.mark.parametrize("policy", all_policies(members(50, 50, 50)), ids=repr)
def test_all_unhealthy_without_prime_gives_the_first_candidate(policy: RoutingPolicy) -> None:
    cands = [Candidate(c.name, c.weight, healthy=False) for c in members(50, 50, 50)]
    assert policy.rank(cands, "k") == ["hetzner-2i2c"]


def test_fallback_skips_weight_zero_unless_prime() -> None:
    assert fallback([Candidate("a", 0), Candidate("b", 5, healthy=False)]) == ["b"]
    assert fallback([Candidate("a", 0), Candidate("b", 0, prime=True)]) == ["b"]
    assert fallback([Candidate("a", 0)]) == []
    assert fallback([]) == []
    # healthy members with weight 0 only: nobody is eligible, the prime is used anyway
    only_zero = [Candidate("a", 0, prime=True), Candidate("b", 0)]
    assert Rendezvous().rank(only_zero, "k") == ["a"]


# --- plug-ins and the registry ---------------------------------------------------------------


class Alphabetical:
    """A third-party policy: healthy members by name."""

    name = "alphabetical"

    def rank(self, candidates: Sequence[Candidate], key: str) -> list[str]:  # noqa: ARG002
        ranked = sorted(c.name for c in candidates if c.healthy and c.weight > 0)
        return ranked or fallback(candidates)


def test_builtin_names_resolve_with_options() -> None:
    for name, cls in BUILTINS.items():
        options = {"member": "hetzner-2i2c"} if name == "pinned" else {}
        policy = get_policy(name, **options)
        assert isinstance(policy, cls)
        assert policy.name == name
    pinned = get_policy("pinned", member="bids-ovh", strict=True)
    assert pinned.rank(members(50, 50, 50), "k") == ["bids-ovh"]
    seeded = [get_policy("weighted-random", seed=9).rank(members(5, 3, 1), "k") for _ in "ab"]
    assert seeded[0] == seeded[1]
    assert DEFAULT_POLICY in available_policies()


def test_unknown_policy_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown routing policy 'nope'; known: weighted-random"):
        get_policy("nope")
    assert available_policies()[:4] == list(BUILTINS)


def test_a_protocol_object_passes_through() -> None:
    policy = Alphabetical()
    assert isinstance(policy, RoutingPolicy)
    assert get_policy(policy) is policy
    cands = members(50, 50, 50)
    assert check_ranking(policy.rank(cands, "k"), cands) == [
        "bids-ovh",
        "hetzner-2i2c",
        "hetzner-gesis",
    ]
    with pytest.raises(TypeError, match="options"):
        get_policy(policy, seed=1)


def test_a_wrapped_callable_is_a_policy() -> None:
    def heaviest(candidates: Sequence[Candidate], key: str) -> list[str]:
        ok = [c for c in candidates if c.healthy and c.weight > 0]
        return [c.name for c in sorted(ok, key=lambda c: -c.weight)]

    policy = get_policy(policy_from_callable(heaviest, name="heaviest"))
    assert policy.name == "heaviest"
    assert policy.rank(members(10, 60, 30), "k") == ["hetzner-gesis", "bids-ovh", "hetzner-2i2c"]
    assert policy_from_callable(heaviest).name == "heaviest"

    def first_with_key(candidates: Sequence[Candidate], key: str) -> Iterator[str]:
        yield from (f"{c.name}" for c in candidates[:1] if key)

    assert policy_from_callable(first_with_key).rank(members(1, 1), "k") == ["hetzner-2i2c"]


def first_pick(candidates: Sequence[Candidate], key: str) -> list[str]:
    return [candidates[0].name] if key else []


def test_non_policies_are_refused() -> None:
    with pytest.raises(TypeError, match="policy_from_callable"):
        get_policy(first_pick)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a routing policy"):
        get_policy(WeightedRandom)  # type: ignore[arg-type]


def test_builtins_are_registered_in_the_package_metadata() -> None:
    registered = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(BUILTINS) <= set(registered)
    for name, cls in BUILTINS.items():
        assert registered[name].value == f"binderfed_sdk.federation:{cls.__name__}"
        assert registered[name].load() is cls


def test_a_third_party_entry_point_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real (tiny) distribution on sys.path that registers a policy under the group."""
    module = "binderfed_routing_plugin_test"
    (tmp_path / f"{module}.py").write_text(
        "class Reverse:\n"
        "    name = 'reverse-test'\n"
        "    def __init__(self, *, keep=None):\n"
        "        self.keep = keep\n"
        "    def rank(self, candidates, key):\n"
        "        names = [c.name for c in candidates if c.healthy and c.weight > 0]\n"
        "        return names[::-1][: self.keep]\n"
        "def broken():\n"
        "    return object()\n"
    )
    dist = tmp_path / "binderfed_routing_plugin_test-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: binderfed-routing-plugin-test\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        f"reverse-test = {module}:Reverse\n"
        f"broken-test = {module}:broken\n"
        f"missing-test = {module}:Nothing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)

    assert {"reverse-test", "broken-test"} <= set(available_policies())
    policy = get_policy("reverse-test", keep=2)
    assert policy.name == "reverse-test"
    assert policy.rank(members(50, 50, 50), "k") == ["bids-ovh", "hetzner-gesis"]
    with pytest.raises(TypeError, match="not a routing policy"):
        get_policy("broken-test")
    with pytest.raises(ImportError, match="missing-test"):
        get_policy("missing-test")
    sys.modules.pop(module, None)


# --- properties ------------------------------------------------------------------------------


@st.composite
def candidate_lists(draw: st.DrawFn) -> list[Candidate]:
    n = draw(st.integers(1, 8))
    names = draw(
        st.lists(st.text("abcdefgh-", min_size=1, max_size=6), min_size=n, max_size=n, unique=True)
    )
    prime = draw(st.one_of(st.none(), st.integers(0, n - 1)))
    return [
        Candidate(
            name,
            draw(st.one_of(st.integers(0, 100), st.floats(0, 100))),
            prime=i == prime,
            healthy=draw(st.booleans()),
            headroom=draw(st.one_of(st.none(), st.integers(-20, 300))),
        )
        for i, name in enumerate(names)
    ]


@settings(max_examples=150, deadline=None)
@given(candidate_lists(), st.text(max_size=30))
def test_every_policy_ranks_only_eligible_members_once(cands: list[Candidate], key: str) -> None:
    eligible = {c.name for c in cands if c.healthy and c.weight > 0}
    for policy in all_policies(cands):
        ranking = check_ranking(policy.rank(cands, key), cands)  # known names, each once
        pinned = policy.member if isinstance(policy, Pinned) and policy.strict else None
        if not eligible or (pinned is not None and pinned not in eligible):
            assert ranking == fallback(cands)
        elif pinned is not None:
            assert ranking == [pinned]
        else:  # every eligible member exactly once, nothing else
            assert len(ranking) == len(eligible)
            assert set(ranking) == eligible
