"""Routing cost and fairness: every built-in policy over mybinder.org's members, side by side.

For each policy and member set, N `rank` decisions are timed in ROUNDS equal rounds, the
rounds of all lines interleaved so that the machine's slow spells hit every line alike; the
best round is the cost (as timeit reports it), the median beside it shows the noise. The first
picks are counted. Target: <= 20 us per decision. Weighted random and rendezvous must
give each member its weight's share of first picks within 1 percentage point (rendezvous over
N distinct repositories, keyed as the redirector keys them, `/build/gh/org/repo-{i}`);
least-loaded and pinned do not follow weights, so their shares are shown without a verdict.

    python bench/routing.py [N]
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING

from binderfed_sdk.federation._routing import (
    Candidate,
    LeastLoaded,
    Pinned,
    Rendezvous,
    WeightedRandom,
    check_ranking,
    routing_key,
)

if TYPE_CHECKING:
    from binderfed_sdk.federation._routing import RoutingPolicy

TARGET_US = 20.0
SHARE_TOLERANCE = 0.01  # 1 percentage point
ROUNDS = 10

# mybinder.org as of 2026-08 (quotas 300/180/60 pods); headroom as a busy afternoon might have it
MEMBER_SETS: dict[str, list[Candidate]] = {
    "50/50/50": [
        Candidate("hetzner-2i2c", 50, prime=True, headroom=140, quota=300),
        Candidate("hetzner-gesis", 50, headroom=75, quota=180),
        Candidate("bids-ovh", 50, headroom=None, quota=60),
    ],
    "60/30/10": [
        Candidate("hetzner-2i2c", 60, prime=True, headroom=140, quota=300),
        Candidate("hetzner-gesis", 30, headroom=75, quota=180),
        Candidate("bids-ovh", 10, headroom=None, quota=60),
    ],
    "10 members": [
        Candidate(f"member-{i}", 10 * (i + 1), prime=i == 0, headroom=None if i % 3 else 20 * i)
        for i in range(10)
    ],
}


def policies() -> list[tuple[RoutingPolicy, bool]]:
    """Each built-in policy, and whether its first picks should follow the weights."""
    return [
        (WeightedRandom(seed=20260801), True),
        (Rendezvous(), True),
        (LeastLoaded(), False),
        (Pinned("hetzner-gesis"), False),
    ]


def time_chunk(
    policy: RoutingPolicy, candidates: list[Candidate], keys: list[str], firsts: Counter[str]
) -> float:
    """Cost per decision (us) of ranking once per key; the first picks go into `firsts`."""
    rank = policy.rank
    gc.disable()
    try:
        began = time.perf_counter()
        picks = [rank(candidates, key)[0] for key in keys]
        elapsed = time.perf_counter() - began
    finally:
        gc.enable()
    firsts.update(picks)
    return elapsed / len(keys) * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    if n < ROUNDS:
        sys.exit(f"N must be at least {ROUNDS}")
    keys = [routing_key(f"/build/gh/org/repo-{i}/HEAD") for i in range(n)]
    size = -(-n // ROUNDS)
    chunks = [keys[start : start + size] for start in range(0, n, size)]
    lines: list[tuple[str, list[Candidate], RoutingPolicy, bool]] = []
    for label, candidates in MEMBER_SETS.items():
        for policy, weighted in policies():
            if isinstance(policy, Pinned) and policy.member not in {c.name for c in candidates}:
                policy = Pinned(candidates[len(candidates) // 2].name)  # noqa: PLW2901
            check_ranking(policy.rank(candidates, keys[0]), candidates)
            lines.append((label, candidates, policy, weighted))
    costs: list[list[float]] = [[] for _ in lines]
    firsts: list[Counter[str]] = [Counter() for _ in lines]
    # rounds interleave the lines, so a slow spell of the machine hits all of them alike
    for chunk in chunks:
        for i, (_, candidates, policy, _) in enumerate(lines):
            costs[i].append(time_chunk(policy, candidates, chunk, firsts[i]))

    print(
        f"{n:,} decisions per line in {len(chunks)} interleaved rounds: best round (median);"
        f" target <= {TARGET_US:.0f} us; shares of first picks: measured (weight share)"
    )
    all_ok = True
    for (label, candidates, policy, weighted), cost, first in zip(
        lines, costs, firsts, strict=True
    ):
        best, median = min(cost), statistics.median(cost)
        total = sum(c.weight for c in candidates)
        cost_ok = best <= TARGET_US
        worst_gap = max(abs(first[c.name] / n - c.weight / total) for c in candidates)
        share_ok = worst_gap <= SHARE_TOLERANCE if weighted else True
        all_ok = all_ok and cost_ok and share_ok
        # three members at most: the most picked (pinned and least-loaded show their choice)
        shown = sorted(candidates, key=lambda c: (-first[c.name], -c.weight))[:3]
        shown = [c for c in candidates if c in shown]
        shares = "  ".join(
            f"{c.name} {first[c.name] / n:6.1%} ({c.weight / total:5.1%})" for c in shown
        )
        if len(candidates) > 3:
            shares = f"... {shares}"
        if weighted:
            share_verdict = f"share {'ok' if share_ok else 'OVER'} (max gap {worst_gap:.2%})"
        else:
            share_verdict = "share n/a (not by weight)"
        print(
            f"{policy.name:<16}{label:<11}{best:6.2f} us ({median:6.2f})"
            f"  cost {'ok' if cost_ok else 'OVER':<4}  {share_verdict:<32}  {shares}"
        )
    print("all ok" if all_ok else "SOME OVER")


if __name__ == "__main__":
    main()
