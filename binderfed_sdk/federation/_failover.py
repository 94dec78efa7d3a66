"""Failover: which member to try next, which failures are worth another member; resolve."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, ConfigDict

from binderfed_sdk._errors import (
    BinderFedError,
    BuildFailed,
    HubError,
    HubUnavailable,
    LaunchExhausted,
    RedirectRefused,
    StreamClosed,
    StreamTimeout,
)
from binderfed_sdk._lazy import publish
from binderfed_sdk.federation._config import FederationConfig, Member

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


logger = logging.getLogger("binderfed")
#: messages of a `failed` event that mean "this member is full", worth another member
_QUOTA_MESSAGES = ("Too many users",)


def first_then(first: Member, ranking: Sequence[Member]) -> list[Member]:
    """`first`, then the rest of `ranking` without it."""
    return [first, *(m for m in ranking if m.name != first.name)]


class FailoverPlan:
    """The members to try in turn, bounded in count and time; what every failure means.

    Iterate it for the next member; report a failure with `failed()`, which raises the
    error itself when no other member would do better (a spec error, a 4xx).
    """

    def __init__(self, ranking: Sequence[Member], max_attempts: int, seconds: float) -> None:
        self.ranking = list(ranking[:max_attempts])
        self.deadline = time.monotonic() + seconds
        self.attempts: list[tuple[str, BinderFedError]] = []

    def __iter__(self) -> Iterator[Member]:
        for member in self.ranking:
            if self.attempts and time.monotonic() >= self.deadline:
                return
            yield member

    def failed(self, member: Member, error: BinderFedError) -> None:
        if not should_fail_over(error):
            raise error
        self.attempts.append((member.name, error))
        logger.warning("launch on %s failed (%s); trying the next member", member.name, error)

    def exhausted(self) -> LaunchExhausted:
        if not self.attempts:
            return LaunchExhausted("launch: no member to try", self.attempts)
        tried = "; ".join(f"{name}: {error}" for name, error in self.attempts)
        return LaunchExhausted(f"launch failed on every member tried ({tried})", self.attempts)


def should_fail_over(error: BinderFedError) -> bool:
    """Worth another member: the hub is down or broken, or this repo is full there.

    Never a spec error or another 4xx (a rate limit included): those would fail anywhere.
    """
    if isinstance(error, BuildFailed):
        return error.retryable or any(text in error.message for text in _QUOTA_MESSAGES)
    return isinstance(error, HubUnavailable | StreamClosed | StreamTimeout)


# --- resolve: where would the redirector send this launch? ----------------------------------


class Resolution(BaseModel):
    """Where a redirector sends a launch: the member, the redirect target, the sticky cookie."""

    model_config = ConfigDict(frozen=True)

    member: Member
    location: str
    cookie: str | None = None


def resolution_from_redirect(
    config: FederationConfig,
    redirector: str,
    status_code: int,
    location: str | None,
    cookie: str | None,
) -> Resolution:
    if status_code not in {301, 302, 303, 307, 308} or not location:
        msg = f"resolve: the redirector answered HTTP {status_code}, not a redirect to a member"
        raise HubError(msg, hub=redirector, status_code=status_code)
    target = urljoin(redirector, location)
    member = config.member_for_url(target)
    if member is None:
        host = urlsplit(target).netloc
        msg = f"resolve: the redirector points at {host!r}, which is not a known member"
        raise RedirectRefused(msg, hub=redirector, status_code=status_code)
    # tornado (the redirector's server) quotes a cookie value holding ':'
    sticky = cookie.strip('"') if cookie else None
    return Resolution(member=member, location=target.split("?", 1)[0], cookie=sticky)


publish(__name__)  # public classes show as binderfed_sdk.X
