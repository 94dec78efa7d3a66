"""Appending a launch to the history, with how it was routed (called by the CLI's launch
paths: the library itself writes nothing to disk unless asked)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from binderfed_sdk.history._policy import HistoryPolicy
from binderfed_sdk.history._store import History, LaunchRecord, Route, make_record

if TYPE_CHECKING:
    from binderfed_sdk.federation._routing import RoutingPolicy
    from binderfed_sdk.hub._async_session import AsyncSession
    from binderfed_sdk.hub._session import Session
    from binderfed_sdk.spec._spec import Spec

__all__ = ["record_launch"]


def _route(policy: RoutingPolicy | None, member: str | None) -> Route | None:
    if policy is None or member is None:
        return None
    if isinstance(policy, HistoryPolicy):
        last = policy.last_route
        # failover may have moved the launch: the decision still counts as it was made
        return last if last is not None else Route(policy=policy.name, chosen=member)
    if policy.name == "weighted-random":
        return Route(policy=policy.name, chosen=member, weights=member)
    return Route(policy=policy.name, chosen=member)


def record_launch(
    session: Session | AsyncSession,
    *,
    spec: Spec | None = None,
    policy: RoutingPolicy | None = None,
    history: History | None = None,
) -> LaunchRecord | None:
    """Append a launched session to the history (None when the history is off) and teach a
    `HistoryPolicy` about it. Never raises for an unwritable file: a launch that worked is
    not failed by its bookkeeping."""
    record = make_record(session, spec=spec, route=_route(policy, session.member))
    if isinstance(policy, HistoryPolicy):
        policy.learn(record)
    store = history or History()
    try:
        written = store.append(record)
    except OSError:
        return None
    return record if written else None
