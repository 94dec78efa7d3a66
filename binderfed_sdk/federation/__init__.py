"""A federation of BinderHubs: members as data, health by the redirector's rules, routing,
failover, priming, and the clients. The data and the rules load without any HTTP client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from binderfed_sdk._lazy import lazy_exports

if TYPE_CHECKING:
    from ._async_client import AsyncFederation
    from ._client import Federation
    from ._config import (
        CheckSettings,
        FederationConfig,
        FederationSource,
        Member,
        builtin_federations,
        load_federation,
    )
    from ._failover import Resolution
    from ._health import FederationHealth, MemberHealth, judge_member
    from ._limits import SessionLimits
    from ._prime import PrimeOutcome, PrimeResult
    from ._routing import (
        Candidate,
        LeastLoaded,
        Pinned,
        Rendezvous,
        RoutingPolicy,
        WeightedRandom,
        available_policies,
        get_policy,
        policy_from_callable,
    )

_EXPORTS = {
    "AsyncFederation": "._async_client",
    "Candidate": "._routing",
    "CheckSettings": "._config",
    "Federation": "._client",
    "FederationConfig": "._config",
    "FederationHealth": "._health",
    "FederationSource": "._config",
    "LeastLoaded": "._routing",
    "Member": "._config",
    "MemberHealth": "._health",
    "Pinned": "._routing",
    "PrimeOutcome": "._prime",
    "PrimeResult": "._prime",
    "Rendezvous": "._routing",
    "Resolution": "._failover",
    "RoutingPolicy": "._routing",
    "SessionLimits": "._limits",
    "WeightedRandom": "._routing",
    "available_policies": "._routing",
    "builtin_federations": "._config",
    "get_policy": "._routing",
    "judge_member": "._health",
    "load_federation": "._config",
    "policy_from_callable": "._routing",
}
__all__ = [
    "AsyncFederation",
    "Candidate",
    "CheckSettings",
    "Federation",
    "FederationConfig",
    "FederationHealth",
    "FederationSource",
    "LeastLoaded",
    "Member",
    "MemberHealth",
    "Pinned",
    "PrimeOutcome",
    "PrimeResult",
    "Rendezvous",
    "Resolution",
    "RoutingPolicy",
    "SessionLimits",
    "WeightedRandom",
    "available_policies",
    "builtin_federations",
    "get_policy",
    "judge_member",
    "load_federation",
    "policy_from_callable",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
