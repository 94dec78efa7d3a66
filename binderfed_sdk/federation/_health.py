"""Member health with mybinder.org's redirector's rules (pure: the probing is the clients')."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from binderfed_sdk._errors import (
    BinderFedError,
    HubUnavailable,
    StreamTimeout,
)
from binderfed_sdk._lazy import publish
from binderfed_sdk.federation._routing import Candidate
from binderfed_sdk.hub._models import Health, Versions

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from binderfed_sdk.federation._config import FederationConfig, Member


# --- health, with the redirector's rules -----------------------------------------------------


class MemberHealth(BaseModel):
    """One member's health as the redirector would judge it."""

    model_config = ConfigDict(frozen=True)

    name: str
    url: str
    healthy: bool
    #: why it is unhealthy: `versions`, `health`, `pod quota`, `unreachable`, `timeout`, ...
    reason: str | None = None
    detail: str | None = None
    latency: float | None = None
    total_pods: int | None = None
    quota: int | None = None
    binderhub: str | None = None
    checked_at: datetime

    @property
    def headroom(self) -> int | None:
        if self.quota is None or self.total_pods is None:
            return None
        return self.quota - self.total_pods


class FederationHealth(BaseModel):
    model_config = ConfigDict(frozen=True)

    members: dict[str, MemberHealth]
    prime: str
    checked_at: datetime

    @property
    def healthy(self) -> list[str]:
        return [name for name, health in self.members.items() if health.healthy]


def _failure_reason(error: BinderFedError) -> str:
    if isinstance(error, StreamTimeout) or "timed out" in str(error):
        return "timeout"
    if isinstance(error, HubUnavailable) and error.status_code is None and "HTML" not in str(error):
        return "unreachable"
    return "unknown"


def judge_member(
    member: Member,
    *,
    versions: Versions | BinderFedError,
    health: Health | BinderFedError,
    prime_versions: Versions | None,
    headroom: int,
    latency: float | None,
    now: datetime | None = None,
) -> MemberHealth:
    """The redirector's verdict: versions equal to the prime's, every check ok (Pod quota
    included, though BinderHub marks it soft), `total_pods + headroom < quota`, and answers
    that are 200 JSON. Pure: the probing is done by the caller."""
    facts: dict[str, Any] = {
        "name": member.name,
        "url": member.url,
        "latency": latency,
        "checked_at": now or datetime.now(UTC),
    }
    if isinstance(versions, Versions):
        facts["binderhub"] = versions.binderhub
    if isinstance(health, Health) and (quota := health.pod_quota) is not None:
        facts.update(total_pods=quota.total_pods, quota=quota.quota)

    def unhealthy(reason: str, detail: str) -> MemberHealth:
        return MemberHealth(healthy=False, reason=reason, detail=detail, **facts)

    if isinstance(versions, BinderFedError):
        return unhealthy(_failure_reason(versions), str(versions))
    if prime_versions is not None and versions.model_dump() != prime_versions.model_dump():
        detail = (
            f"binderhub {versions.binderhub} differs from the prime's {prime_versions.binderhub}"
        )
        return unhealthy("versions", detail)
    if isinstance(health, BinderFedError):
        return unhealthy(_failure_reason(health), str(health))
    if failed := health.failed_checks:
        return unhealthy("health", "failing: " + ", ".join(c.service for c in failed))
    if health.status_code != 200:
        return unhealthy("health", f"/health answered HTTP {health.status_code}")
    quota = health.pod_quota
    if (
        quota is not None
        and quota.quota is not None
        and quota.total_pods is not None
        and quota.total_pods + headroom >= quota.quota
    ):
        detail = f"{quota.total_pods} pods + headroom {headroom} >= quota {quota.quota}"
        return unhealthy("pod quota", detail)
    return MemberHealth(healthy=True, **facts)


def judge_federation(
    config: FederationConfig,
    answers: Mapping[str, tuple[Versions | BinderFedError, Health | BinderFedError, float | None]],
) -> FederationHealth:
    prime = config.prime
    prime_answer = answers.get(prime.name)
    prime_versions = (
        prime_answer[0] if prime_answer and isinstance(prime_answer[0], Versions) else None
    )
    now = datetime.now(UTC)
    members = {
        name: judge_member(
            config.member(name),
            versions=versions,
            health=health,
            prime_versions=prime_versions,
            headroom=config.pod_headroom,
            latency=latency,
            now=now,
        )
        for name, (versions, health, latency) in answers.items()
    }
    return FederationHealth(members=members, prime=prime.name, checked_at=now)


def candidates(
    config: FederationConfig,
    health: FederationHealth | None,
    *,
    repo_full: Collection[str] = (),
) -> list[Candidate]:
    """The members as routing sees them. A member's quota is the Pod quota its `/health`
    reports, else its `launch_quota` from the member list (the headroom then counts the pods
    `/health` reports against it); `repo_full` names the members where the routed
    repository's per-repo quota is known to be reached."""

    def candidate(member: Member) -> Candidate:
        state = health.members.get(member.name) if health is not None else None
        if state is None:
            return Candidate(
                name=member.name,
                weight=member.weight,
                prime=member.prime,
                quota=member.launch_quota,
                repo_full=member.name in repo_full,
            )
        quota = state.quota if state.quota is not None else member.launch_quota
        headroom = (
            quota - state.total_pods if quota is not None and state.total_pods is not None else None
        )
        return Candidate(
            name=member.name,
            weight=member.weight,
            prime=member.prime,
            healthy=state.healthy,
            headroom=headroom,
            quota=quota,
            repo_full=member.name in repo_full,
        )

    return [candidate(m) for m in config.members]


publish(__name__)  # public classes show as binderfed_sdk.X
