"""Routing: which member hub of a federation a launch goes to, and the failover order after it.

Pure: no I/O, no network, no threads. A policy ranks the candidates; the first name is the
choice and the rest is the order in which a client fails over. As mybinder.org's redirector
does, a policy only ranks *eligible* members (healthy, weight > 0); when none is eligible it
returns the prime alone (the redirector uses the prime anyway), or, with no prime flagged, the
first candidate with weight > 0. A weight of 0 removes a member entirely.

Built-in policies: `WeightedRandom` ("weighted-random", today's mybinder.org), `Rendezvous`
("rendezvous", the redirector's weighted rendezvous hashing, mybinder.org 2019-2026, still
selected by its `load_balancer: rendezvous`), `LeastLoaded` ("least-loaded") and `Pinned`
("pinned"). The key a policy gets is `routing_key(build_path)`, the redirector's own key.
Third-party policies register under the entry-point group `binderfed.policies`; `get_policy`
resolves a name to a policy.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from hashlib import blake2b
from itertools import accumulate
from math import log
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias, TypeGuard, runtime_checkable

from binderfed_sdk._lazy import publish

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "DEFAULT_POLICY",
    "ENTRY_POINT_GROUP",
    "Candidate",
    "LeastLoaded",
    "Pinned",
    "RankFunction",
    "Rendezvous",
    "RoutingPolicy",
    "WeightedRandom",
    "available_policies",
    "check_ranking",
    "fallback",
    "get_policy",
    "policy_from_callable",
    "routing_key",
]

ENTRY_POINT_GROUP: Final = "binderfed.policies"
DEFAULT_POLICY: Final = "weighted-random"

#: the redirector divides the 64-bit hash by this (2**64 - 1), not by 2**64
_HASH_MAX: Final = 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True, slots=True)
class Candidate:
    """A member hub as routing sees it.

    `weight` 0 removes the member entirely: never chosen, not even as a fallback unless it is
    the prime. `headroom` is the pod quota minus the pods running (None: unknown or no quota);
    `quota` is the member's launch quota in pods (None: unknown or none), its capacity when
    the load is unknown. `repo_full` says that the routed repository's per-repo quota is known
    to be reached on this member (a launch there ended "Too many users running ...").
    """

    name: str
    weight: float
    prime: bool = False
    healthy: bool = True
    headroom: int | None = None
    quota: int | None = None
    repo_full: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a candidate needs a non-empty name")
        if not (self.weight >= 0 and math.isfinite(self.weight)):
            raise ValueError(
                f"candidate {self.name!r}: weight must be finite and >= 0, got {self.weight!r}"
            )


@runtime_checkable
class RoutingPolicy(Protocol):
    """Anything with a `name` and a `rank(candidates, key)` returning member names, best first."""

    @property
    def name(self) -> str: ...

    def rank(self, candidates: Sequence[Candidate], key: str) -> list[str]: ...


RankFunction: TypeAlias = Callable[[Sequence[Candidate], str], Iterable[str]]
"""A plain ranking function, `(candidates, key) -> names`, as `policy_from_callable` wraps."""


def routing_key(build_path: str) -> str:
    """mybinder.org's redirector's key for a `/build/<provider>/<spec>` request path.

    The path as sent (percent-encoding kept, query dropped: the redirector reads the path
    alone), lower-cased; for `gh` only, the last segment (the ref) is cut off, so all refs of a
    GitHub repository share a member, while every other provider keeps its whole path. A path
    without its leading `/` (`Spec.build_path`) gets one, as the redirector sees it.
    """
    key = build_path.split("?", 1)[0].lower()
    if not key.startswith("/"):
        key = "/" + key
    # the redirector's test is this prefix, not the provider name (so `/build/ghx` too)
    if key.startswith("/build/gh"):
        key = key.rsplit("/", 1)[0]
    return key


def fallback(candidates: Sequence[Candidate]) -> list[str]:
    """What every policy returns when no member is eligible: the prime, used anyway.

    With no prime flagged, the first candidate with weight > 0; with none, [].
    """
    for c in candidates:
        if c.prime:
            return [c.name]
    for c in candidates:
        if c.weight > 0:
            return [c.name]
    return []


def check_ranking(
    ranking: Sequence[str], candidates: Sequence[Candidate], *, eligible_only: bool = True
) -> list[str]:
    """Validate a policy's output and return it as a list.

    Every name must be a candidate's and appear once. With `eligible_only` (the contract of
    every policy) the ranking is either the fallback (`fallback(candidates)`, compulsory when
    no member is eligible) or only healthy members with weight > 0.
    """
    by_name = {c.name: c for c in candidates}
    seen: set[str] = set()
    for name in ranking:
        if name not in by_name:
            raise ValueError(f"ranking names {name!r}, which is not a candidate")
        if name in seen:
            raise ValueError(f"ranking names {name!r} twice")
        seen.add(name)
    result = list(ranking)
    if not eligible_only or result == fallback(candidates):
        return result
    if not any(c.healthy and c.weight > 0 for c in candidates):
        raise ValueError(
            f"no member is eligible, so the ranking must be {fallback(candidates)!r},"
            f" got {result!r}"
        )
    bad = [n for n in result if not (by_name[n].healthy and by_name[n].weight > 0)]
    if bad:
        raise ValueError(f"ranking names members that are unhealthy or weight 0: {bad!r}")
    return result


# --- built-in policies -----------------------------------------------------------------------


class WeightedRandom:
    """Today's mybinder.org: a weighted random pick over the healthy members.

    The first pick is exactly `random.choices(names, weights)` on the policy's own generator
    (member i gets weight_i / sum of healthy weights); the failover order after it is further
    weighted draws without replacement. Seed it for reproducible results. Ignores the key.
    """

    __slots__ = ("_random", "_seed")
    name: str = "weighted-random"

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        # load balancing, not security: a seedable generator is the point
        self._random = random.Random(seed)  # noqa: S311

    def __repr__(self) -> str:
        return f"WeightedRandom(seed={self._seed!r})"

    def rank(self, candidates: Sequence[Candidate], key: str) -> list[str]:  # noqa: ARG002
        names: list[str] = []
        weights: list[float] = []
        for c in candidates:
            if c.healthy and c.weight > 0:
                names.append(c.name)
                weights.append(c.weight)
        if not names:
            return fallback(candidates)
        draw = self._random.random
        ranking: list[str] = []
        last = len(weights) - 1
        while last:
            # exactly random.choices(names, weights): cumulative sums, and the first index
            # whose sum exceeds random() * total; then again over the members left
            cumulative = list(accumulate(weights))
            i = bisect(cumulative, draw() * cumulative[-1], 0, last)
            ranking.append(names.pop(i))
            del weights[i]
            last -= 1
        ranking.append(names[0])
        return ranking


class Rendezvous:
    """Weighted rendezvous hashing, exactly as mybinder.org's redirector computes it.

    The key is `routing_key(build_path)`. For each eligible member: h = the big-endian 64-bit
    blake2b (digest_size=8) of f"{key}-{name}", and score = weight / -ln(h / (2**64 - 1)),
    computed as the redirector does (`weight * (1.0 / -log(...))`, to the last bit); members
    rank by score descending, ties by name descending (its `sorted(..., reverse=True)` over
    (score, name)). Where the redirector would crash, on h = 0 (log of 0) or h / (2**64 - 1)
    rounding to 1.0 (division by zero), the score is 0 or infinite instead. Deterministic; a
    member's share of keys follows its weight; when a member leaves, only the keys that
    ranked it first move, each to its previous second choice.
    """

    __slots__ = ()
    name: str = "rendezvous"

    def __repr__(self) -> str:
        return "Rendezvous()"

    def rank(self, candidates: Sequence[Candidate], key: str) -> list[str]:
        # the key comes first in the hashed bytes: hash f"{key}-" once, then one copy per member
        prefix = blake2b(f"{key}-".encode(), digest_size=8)
        from_bytes = int.from_bytes
        scored: list[tuple[float, str]] = []
        for c in candidates:
            if c.healthy and c.weight > 0:
                hasher = prefix.copy()
                hasher.update(c.name.encode())
                x = from_bytes(hasher.digest(), "big") / _HASH_MAX
                if x == 0.0:
                    score = 0.0
                elif x == 1.0:
                    score = math.inf
                else:
                    score = c.weight * (1.0 / -log(x))
                scored.append((score, c.name))
        if not scored:
            return fallback(candidates)
        scored.sort(reverse=True)
        return [name for _, name in scored]


def _load_order(c: Candidate) -> tuple[bool, bool, float, float, float, str]:
    headroom = c.headroom
    # repository full there last; then known headroom, largest first; then unknown load,
    # the largest launch quota first (capacity), then by weight; ties by name
    if headroom is not None:
        return (c.repo_full, False, -headroom, 0.0, -c.weight, c.name)
    capacity = -c.quota if c.quota is not None else math.inf
    return (c.repo_full, True, 0.0, capacity, -c.weight, c.name)


class LeastLoaded:
    """Most free pods first: headroom (launch quota minus pods running) largest first.

    Members whose load is unknown come after those whose load is known, the largest launch
    quota first, then by weight (descending). A member where the repository's per-repo quota
    is known to be reached (`repo_full`) is deprioritised, not refused: it comes after every
    other eligible member, because the count behind it may be stale and a failed launch there
    fails over anyway. Ties by weight (descending), then name. Ignores the key.
    """

    __slots__ = ()
    name: str = "least-loaded"

    def __repr__(self) -> str:
        return "LeastLoaded()"

    def rank(self, candidates: Sequence[Candidate], key: str) -> list[str]:  # noqa: ARG002
        eligible = [c for c in candidates if c.healthy and c.weight > 0]
        if not eligible:
            return fallback(candidates)
        eligible.sort(key=_load_order)
        return [c.name for c in eligible]


def _weight_order(c: Candidate) -> tuple[float, str]:
    return (-c.weight, c.name)


class Pinned:
    """One member first while it is eligible; the others after it by weight descending.

    Eligible means healthy with weight > 0, as for every policy. With `strict`, only the pinned
    member: when it is not eligible the ranking is the fallback (the prime). A member name the
    candidates lack raises ValueError when ranking.
    """

    __slots__ = ("member", "strict")
    name: str = "pinned"

    def __init__(self, member: str, *, strict: bool = False) -> None:
        if not member:
            raise ValueError("Pinned needs a member name")
        self.member = member
        self.strict = strict

    def __repr__(self) -> str:
        return f"Pinned({self.member!r}, strict={self.strict!r})"

    def rank(self, candidates: Sequence[Candidate], key: str) -> list[str]:  # noqa: ARG002
        member = self.member
        known = False
        first: list[str] = []
        others: list[Candidate] = []
        for c in candidates:
            if c.name == member:
                known = True
                if c.healthy and c.weight > 0:
                    first.append(member)
            elif c.healthy and c.weight > 0:
                others.append(c)
        if not known:
            names = ", ".join(repr(c.name) for c in candidates) or "(no candidates)"
            raise ValueError(f"unknown member {member!r}; known: {names}")
        if self.strict:
            return first or fallback(candidates)
        if not first and not others:
            return fallback(candidates)
        others.sort(key=_weight_order)
        first.extend(c.name for c in others)
        return first


# --- plug-ins and the registry ---------------------------------------------------------------


class _CallablePolicy:
    __slots__ = ("_fn", "name")

    def __init__(self, fn: RankFunction, name: str) -> None:
        self._fn = fn
        self.name = name

    def __repr__(self) -> str:
        return f"policy_from_callable({self._fn!r}, name={self.name!r})"

    def rank(self, candidates: Sequence[Candidate], key: str) -> list[str]:
        return list(self._fn(candidates, key))


def policy_from_callable(fn: RankFunction, *, name: str | None = None) -> RoutingPolicy:
    """Wrap a plain `(candidates, key) -> names` function as a policy (default name: its own)."""
    if not callable(fn):
        raise TypeError(f"policy_from_callable needs a callable, got {fn!r}")
    return _CallablePolicy(fn, name or getattr(fn, "__name__", None) or "custom")


# the built-ins, checked first so they work without package metadata (a bare source tree);
# pyproject.toml registers the same classes under the entry-point group
_BUILTINS: Final[dict[str, Callable[..., RoutingPolicy]]] = {
    WeightedRandom.name: WeightedRandom,
    Rendezvous.name: Rendezvous,
    LeastLoaded.name: LeastLoaded,
    Pinned.name: Pinned,
}


def _is_policy(obj: object) -> TypeGuard[RoutingPolicy]:
    return (
        not isinstance(obj, type)
        and isinstance(getattr(obj, "name", None), str)
        and callable(getattr(obj, "rank", None))
    )


def _registered() -> list[EntryPoint]:
    # importlib.metadata costs ~30 ms to import: only a registry look-up pays for it
    from importlib.metadata import entry_points  # noqa: PLC0415

    return list(entry_points(group=ENTRY_POINT_GROUP))


def available_policies() -> list[str]:
    """The built-in policy names, then those registered under `binderfed.policies`, sorted."""
    extra = {ep.name for ep in _registered()} - _BUILTINS.keys()
    return [*_BUILTINS, *sorted(extra)]


def get_policy(name_or_policy: str | RoutingPolicy, **options: Any) -> RoutingPolicy:
    """Resolve a policy name (built-in or entry point) with its options, or pass a policy through.

    An entry point loads a class or factory, called with `**options`. An unknown name raises
    ValueError listing the known ones.
    """
    if not isinstance(name_or_policy, str):
        if not _is_policy(name_or_policy):
            raise TypeError(
                f"{name_or_policy!r} is not a routing policy (an object with `name` and"
                " `rank(candidates, key)`); wrap a plain function with policy_from_callable"
            )
        if options:
            raise TypeError("options apply to a policy name, not to a policy object")
        return name_or_policy
    name = name_or_policy
    factory = _BUILTINS.get(name)
    origin = f"built-in policy {name!r}"
    if factory is None:
        found = [ep for ep in _registered() if ep.name == name]
        if not found:
            known = ", ".join(available_policies())
            raise ValueError(f"unknown routing policy {name!r}; known: {known}")
        origin = f"policy {name!r} (entry point {found[0].value})"
        try:
            factory = found[0].load()
        except (ImportError, AttributeError) as exc:
            raise ImportError(f"cannot load {origin}: {exc}") from exc
        if not callable(factory):
            raise TypeError(f"{origin} is not a class or factory: {factory!r}")
    policy = factory(**options)
    if not _is_policy(policy):
        raise TypeError(f"{origin} made {policy!r}, which is not a routing policy")
    return policy


publish(__name__)  # public classes show as binderfed_sdk.X
