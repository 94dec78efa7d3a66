"""One BinderHub: its clients (async source, sync twin), the build stream, events, sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from binderfed_sdk._lazy import lazy_exports

if TYPE_CHECKING:
    from ._async_client import AsyncBinderHub, AsyncBuildStream
    from ._async_session import AsyncSession
    from ._client import BinderHub, BuildStream
    from ._core import RetryPolicy, StreamLimits
    from ._events import BuildEvent, Phase
    from ._models import Health, HealthCheck, RateLimit, SessionStatus, Versions
    from ._session import Session

_EXPORTS = {
    "AsyncBinderHub": "._async_client",
    "AsyncBuildStream": "._async_client",
    "AsyncSession": "._async_session",
    "BinderHub": "._client",
    "BuildEvent": "._events",
    "BuildStream": "._client",
    "Health": "._models",
    "HealthCheck": "._models",
    "Phase": "._events",
    "RateLimit": "._models",
    "RetryPolicy": "._core",
    "Session": "._session",
    "SessionStatus": "._models",
    "StreamLimits": "._core",
    "Versions": "._models",
}
__all__ = [
    "AsyncBinderHub",
    "AsyncBuildStream",
    "AsyncSession",
    "BinderHub",
    "BuildEvent",
    "BuildStream",
    "Health",
    "HealthCheck",
    "Phase",
    "RateLimit",
    "RetryPolicy",
    "Session",
    "SessionStatus",
    "StreamLimits",
    "Versions",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
