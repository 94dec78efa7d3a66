"""Routing: which member hub of a federation a launch goes to, and the failover order after it.

Pure: no I/O, no network, no threads. A policy ranks the candidates; the first name is the
choice and the rest is the order in which a client fails over. As mybinder.org's redirector
does, a policy only ranks *eligible* members (healthy, weight > 0); when none is eligible it
returns the prime alone (the redirector uses the prime anyway), or, with no prime flagged, the
first candidate with weight > 0. A weight of 0 removes a member entirely.

Built-in policies: `WeightedRandom` ("weighted-random", today's mybinder.org), `Rendezvous`
("rendezvous", weighted rendezvous hashing on the repository, mybinder.org 2019-2026),
`LeastLoaded` ("least-loaded") and `Pinned` ("pinned"). Third-party policies register under the
entry-point group `binderfed.policies`; `get_policy` resolves a name to a policy.
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

_TWO_64: Final = 2**64
_DENOMINATOR: Final = 2**64 + 1
_MAX_PREFIXES: Final = 1024


@dataclass(frozen=True, slots=True)
class Candidate:
    """A member hub as routing sees it.

    `weight` 0 removes the member entirely: never chosen, not even as a fallback unless it is
    the prime. `headroom` is the pod quota minus the pods running (None: unknown or no quota).
    """

    name: str
    weight: float
    prime: bool = False
    healthy: bool = True
    headroom: int | None = None

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


def routing_key(provider: str, repo: str) -> str:
    """The routing key of a repository: `provider/repo`, lower-cased (no ref)."""
    return f"{provider}/{repo}".lower()


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
    """Weighted rendezvous hashing on the key, as mybinder.org's redirector did 2019-2026.

    For each member: h = 64-bit blake2b of f"{name}-{key}", x = (h + 1) / (2**64 + 1) and
    score = weight / -ln(x); members rank by score descending (ties by name). Deterministic;
    a member's share of keys is proportional to its weight; when a member leaves, only the keys
    that ranked it first move, each to its previous second choice.
    """

    __slots__ = ("_prefixes",)
    name: str = "rendezvous"

    def __init__(self) -> None:
        # blake2b states that have hashed f"{name}-", one per member name seen: a copy of it
        # then only hashes the key (the only per-instance state; bounded, not global)
        self._prefixes: dict[str, blake2b] = {}

    def __repr__(self) -> str:
        return "Rendezvous()"

    def rank(self, candidates: Sequence[Candidate], key: str) -> list[str]:
        prefixes = self._prefixes
        data = key.encode()
        from_bytes = int.from_bytes
        scored: list[tuple[float, str]] = []
        for c in candidates:
            if c.healthy and c.weight > 0:
                name = c.name
                prefix = prefixes.get(name)
                if prefix is None:
                    if len(prefixes) >= _MAX_PREFIXES:
                        prefixes.clear()
                    prefix = prefixes[name] = blake2b(f"{name}-".encode(), digest_size=8)
                hasher = prefix.copy()
                hasher.update(data)
                h = from_bytes(hasher.digest(), "big")
                # ln(x) < 0, so weight / ln(x) is minus the score and an ascending sort ranks
                # best first (ties by name). ln(x) rounds to 0 only when x rounds to 1.0 (h
                # within ~2**10 of 2**64); then x - 1 is ln(x) to double precision
                log_x = log((h + 1) / _DENOMINATOR) or (h - _TWO_64) / _DENOMINATOR
                scored.append((c.weight / log_x, name))
        if not scored:
            return fallback(candidates)
        scored.sort()
        return [name for _, name in scored]


def _load_order(c: Candidate) -> tuple[bool, int, float, str]:
    headroom = c.headroom
    if headroom is None:
        return (True, 0, -c.weight, c.name)
    return (False, -headroom, -c.weight, c.name)


class LeastLoaded:
    """Largest headroom first; unknown headroom after the known ones, by weight descending.

    Ties by weight (descending), then name. Ignores the key.
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
