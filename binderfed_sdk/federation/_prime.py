"""Priming: warming each member's cache, and what each member's attempt came to."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from binderfed_sdk._errors import (
    BinderFedError,
    BuildFailed,
)
from binderfed_sdk._lazy import publish
from binderfed_sdk.hub._timeline import Timeline

if TYPE_CHECKING:
    from collections.abc import Sequence

    from binderfed_sdk.federation._config import Member
    from binderfed_sdk.federation._health import FederationHealth


# --- priming ---------------------------------------------------------------------------------


class PrimeOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class PrimeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    member: str
    outcome: PrimeOutcome
    seconds: float = 0.0
    #: how: "build-only" where the hub allows it, else "launch" (and an immediate shutdown)
    method: str | None = None
    reason: str | None = None
    #: where the member's time went (build, pull, server start), when it got that far
    timeline: Timeline | None = None


def skip_unhealthy(
    targets: Sequence[Member], health: FederationHealth, *, include_unhealthy: bool
) -> tuple[dict[str, PrimeResult], list[Member]]:
    """(results of the members skipped as unhealthy, the members to prime)."""
    skipped: dict[str, PrimeResult] = {}
    todo: list[Member] = []
    for member in targets:
        state = health.members.get(member.name)
        if state is not None and not state.healthy and not include_unhealthy:
            skipped[member.name] = PrimeResult(
                member=member.name, outcome=PrimeOutcome.SKIPPED, reason=state.reason
            )
        else:
            todo.append(member)
    return skipped, todo


class _PrimeClock:
    """Times one member's priming and writes its result."""

    def __init__(self, member: str) -> None:
        self.member = member
        self.started = time.monotonic()

    def __call__(
        self,
        outcome: PrimeOutcome,
        method: str,
        reason: str | None = None,
        timeline: Timeline | None = None,
    ) -> PrimeResult:
        seconds = round(time.monotonic() - self.started, 3)
        if timeline is not None:  # named by the member, not its hub's URL
            timeline = timeline.with_member(self.member)
        return PrimeResult(
            member=self.member,
            outcome=outcome,
            seconds=seconds,
            method=method,
            reason=reason,
            timeline=timeline,
        )


def _build_only_refused(error: BinderFedError) -> bool:
    return isinstance(error, BuildFailed) and error.status_code == 400


publish(__name__)  # public classes show as binderfed_sdk.X
