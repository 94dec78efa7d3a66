"""The `history` routing policy: send a repository where its commit is already built, within a
bound that keeps the operators' weights.

Each decision first draws what the weights would pick (exactly `WeightedRandom`'s draw, on
the policy's own seedable generator). The history's preference is then the eligible member
where the repository's latest resolved commit (the newest record of this routing key) was
last launched fastest: its estimate is that launch's total less its build steps, because the
image is there now. When the weights' pick has the commit, it stays (nothing to gain); else
the fastest member that has it is chosen instead, if the bound allows it. A repository the
history knows nothing of goes where the weights drew it, unless that member already has more
launches than its draws (then to the member furthest below its draws, which brings the
launches sent away back down) or holds more than its weight's share of the repositories (then,
within the bound, to the member holding the fewest for its weight).

The bound (`max_share`, default 0.3): counting, per member, the launches chosen (A) and the
weights' own draws (W) over every decision, the launches sent away from the weights are
D = sum of max(0, A_m - W_m), the fewest launches that would have to move for every member to
have what the weights drew. A choice is allowed only while D <= max_share x decisions, at every
decision; so each member's share differs from the weights' draws by at most `max_share`, and
overrides that go opposite ways (repository 1 to member a instead of b, repository 2 to b
instead of a) cancel. `max_share=0` is exactly `WeightedRandom(seed)`.

The counts start from the history: launches routed by `history` or `weighted-random` (their
`route`), so a command-line launch, a process of its own, keeps the bound too.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import TYPE_CHECKING

from binderfed_sdk._errors import ConfigError
from binderfed_sdk._lazy import publish
from binderfed_sdk.federation._routing import Candidate, WeightedRandom, fallback
from binderfed_sdk.history._store import History, LaunchRecord, Route

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

__all__ = ["DEFAULT_MAX_SHARE", "ENV_MAX_SHARE", "HistoryPolicy"]

DEFAULT_MAX_SHARE = 0.3
#: the setting for `max_share` when none is given (a fraction, 0..1)
ENV_MAX_SHARE = "BINDERFED_HISTORY_MAX_SHARE"
_FOLLOWS_WEIGHTS = frozenset({"history", "weighted-random"})


def _max_share_setting() -> float:
    text = os.environ.get(ENV_MAX_SHARE, "").strip()
    if not text:
        return DEFAULT_MAX_SHARE
    try:
        return float(text)
    except ValueError:
        msg = f"{ENV_MAX_SHARE} must be a number between 0 and 1, got {text!r}"
        raise ConfigError(msg) from None


class HistoryPolicy:
    """Prefer the member where this repository's commit was built or launched fastest.

    `records`: what to learn from (default: the local history, `History()`, when it is on);
    `max_share`: the largest share of launches sent away from the weights (0..1; default
    `$BINDERFED_HISTORY_MAX_SHARE`, else 0.3); `seed`:
    the weighted draws' generator. `learn(record)` adds a launch as it happens; the last
    decision is `last_route`.
    """

    name: str = "history"

    def __init__(
        self,
        records: Iterable[LaunchRecord] | None = None,
        *,
        max_share: float | None = None,
        seed: int | None = None,
        history: History | None = None,
    ) -> None:
        if max_share is None:
            max_share = _max_share_setting()
        if not (0.0 <= max_share <= 1.0 and math.isfinite(max_share)):
            msg = f"history policy: max_share must be between 0 and 1, got {max_share!r}"
            raise ConfigError(msg)
        self.max_share = max_share
        self._seed = seed
        self._weights = WeightedRandom(seed)
        #: key -> (when, commit) of its newest launch
        self._latest: dict[str, tuple[datetime, str]] = {}
        #: (key, commit) -> member -> (when, estimated seconds to ready there now)
        self._known: dict[tuple[str, str], dict[str, tuple[datetime, float]]] = {}
        self.chosen: Counter[str] = Counter()
        self.drawn: Counter[str] = Counter()
        self.decisions = 0
        self.overrides = 0
        self.last_route: Route | None = None
        if records is None:
            store = history or History()
            records = store.records() if store.enabled else []
        for record in records:
            self.learn(record)
            route = record.route
            if record.ready and route is not None and route.policy in _FOLLOWS_WEIGHTS:
                self._count(route.chosen, route.weights or route.chosen)

    def __repr__(self) -> str:
        return f"HistoryPolicy(max_share={self.max_share!r}, seed={self._seed!r})"

    def learn(self, record: LaunchRecord) -> None:
        """Take a launch's outcome into account (successful launches with a commit only)."""
        timeline = record.timeline
        if not record.ready or timeline is None or not record.commit or not record.member:
            return
        key = record.key
        latest = self._latest.get(key)
        if latest is None or record.at >= latest[0]:
            self._latest[key] = (record.at, record.commit)
        by_member = self._known.setdefault((key, record.commit), {})
        previous = by_member.get(record.member)
        if previous is None or record.at >= previous[0]:
            # the build is not paid again there: the image stays
            by_member[record.member] = (record.at, max(0.0, timeline.total - timeline.build_time))

    def preferred(self, key: str, eligible: Iterable[str]) -> list[str]:
        """The eligible members that have this key's latest commit, fastest first."""
        latest = self._latest.get(key)
        if latest is None:
            return []
        known = self._known.get((key, latest[1]), {})
        names = [n for n in eligible if n in known]
        return sorted(names, key=lambda n: (known[n][1], n))

    def away(self, chosen: str | None = None, drawn: str | None = None) -> int:
        """D: the launches sent away from the weights (after one more decision, if given)."""
        a, w = Counter(self.chosen), Counter(self.drawn)
        if chosen is not None and drawn is not None:
            a[chosen] += 1
            w[drawn] += 1
        return sum(max(0, a[m] - w[m]) for m in a.keys() | w.keys())

    def _allowed(self, member: str, drawn: str) -> bool:
        # a tiny epsilon: 0.3 x 10 is 2.9999999999999996 in floating point
        return self.away(member, drawn) <= self.max_share * (self.decisions + 1) + 1e-9

    def _count(self, chosen: str, drawn: str) -> None:
        self.chosen[chosen] += 1
        self.drawn[drawn] += 1
        self.decisions += 1
        self.overrides += chosen != drawn

    def _owners(self) -> Counter[str]:
        """How many repositories each member was last chosen for (their latest commit)."""
        owners: Counter[str] = Counter()
        for key, (_, commit) in self._latest.items():
            known = self._known.get((key, commit), {})
            if known:
                owners[max(known, key=lambda m: known[m][0])] += 1
        return owners

    def _place(self, candidates: Sequence[Candidate], eligible: list[str], drawn: str) -> str:
        """A repository the history knows nothing of: where the weights drew it, unless
        another member is a better home within the bound. First, when the weights' pick
        already has more launches than its draws, the member furthest below its draws (that
        brings the launches sent away down by one); else, when the pick already holds more
        repositories than its weight's share, the member holding the fewest for its weight,
        if the bound allows: a launch spent now so that this repository's later launches do
        not all pull towards one member (over 300 seeded orders of bench/history_routing.py's
        model this does better than placing new repositories only where it costs nothing)."""
        if self.chosen[drawn] > self.drawn[drawn]:
            behind = max(eligible, key=lambda m: (self.drawn[m] - self.chosen[m], m == drawn))
            if self.drawn[behind] > self.chosen[behind]:
                return behind
        weights = {c.name: c.weight for c in candidates if c.name in eligible}
        total = sum(weights.values())
        owners = self._owners()
        held = sum(owners[m] for m in eligible) + 1  # with this one
        if owners[drawn] + 1 > held * weights[drawn] / total:
            home = min(eligible, key=lambda m: ((owners[m] + 1) / weights[m], m != drawn, m))
            if home != drawn and self._allowed(home, drawn):
                return home
        return drawn

    def rank(self, candidates: Sequence[Candidate], key: str) -> list[str]:
        eligible = [c.name for c in candidates if c.healthy and c.weight > 0]
        if not eligible:
            return fallback(candidates)
        order = self._weights.rank(candidates, key)
        drawn = order[0]
        choice = drawn
        having = self.preferred(key, eligible)
        if having and drawn not in having:
            choice = next((m for m in having if self._allowed(m, drawn)), drawn)
        elif not having:
            choice = self._place(candidates, eligible, drawn)
        self._count(choice, drawn)
        self.last_route = Route(policy=self.name, chosen=choice, weights=drawn)
        return [choice, *(m for m in order if m != choice)]


publish(__name__)  # public classes show as binderfed_sdk.X
