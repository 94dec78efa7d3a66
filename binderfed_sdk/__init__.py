"""binderfed: a typed client for the Binder federation.

Specs and links, live build streams, launches and sessions. The public names below load on
first use, so `import binderfed_sdk` stays cheap for tools that only need part of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {
    "AsyncBinderHub": "hub",
    "AsyncBuildStream": "hub",
    "AsyncSession": "session",
    "BinderFedError": "_errors",
    "BinderHub": "hub",
    "BuildEvent": "events",
    "BuildFailed": "_errors",
    "BuildStream": "hub",
    "ConfigError": "_errors",
    "Health": "_models",
    "HealthCheck": "_models",
    "HubError": "_errors",
    "HubUnavailable": "_errors",
    "LaunchLink": "spec",
    "Phase": "events",
    "ProtocolError": "_errors",
    "Provider": "spec",
    "RateLimit": "_models",
    "RateLimited": "_errors",
    "RetryPolicy": "_core",
    "Session": "session",
    "SessionError": "_errors",
    "SessionStatus": "_models",
    "Spec": "spec",
    "SpecError": "_errors",
    "StreamClosed": "_errors",
    "StreamLimits": "_core",
    "StreamTimeout": "_errors",
    "Versions": "_models",
    "parse": "spec",
    "parse_launch_link": "spec",
    "parse_spec": "spec",
}

__all__ = [
    "AsyncBinderHub",
    "AsyncBuildStream",
    "AsyncSession",
    "BinderFedError",
    "BinderHub",
    "BuildEvent",
    "BuildFailed",
    "BuildStream",
    "ConfigError",
    "Health",
    "HealthCheck",
    "HubError",
    "HubUnavailable",
    "LaunchLink",
    "Phase",
    "ProtocolError",
    "Provider",
    "RateLimit",
    "RateLimited",
    "RetryPolicy",
    "Session",
    "SessionError",
    "SessionStatus",
    "Spec",
    "SpecError",
    "StreamClosed",
    "StreamLimits",
    "StreamTimeout",
    "Versions",
    "parse",
    "parse_launch_link",
    "parse_spec",
]

if TYPE_CHECKING:
    from ._core import RetryPolicy, StreamLimits
    from ._errors import (
        BinderFedError,
        BuildFailed,
        ConfigError,
        HubError,
        HubUnavailable,
        ProtocolError,
        RateLimited,
        SessionError,
        SpecError,
        StreamClosed,
        StreamTimeout,
    )
    from ._models import Health, HealthCheck, RateLimit, SessionStatus, Versions
    from .events import BuildEvent, Phase
    from .hub import AsyncBinderHub, AsyncBuildStream, BinderHub, BuildStream
    from .session import AsyncSession, Session
    from .spec import LaunchLink, Provider, Spec, parse, parse_launch_link, parse_spec


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]
