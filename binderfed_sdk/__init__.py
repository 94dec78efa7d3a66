"""binderfed: a typed client for the Binder federation.

Specs and links, live build streams, launches and sessions, federations, and what a session
knows about itself. The public names below load on first use, so `import binderfed_sdk` stays
cheap for tools that only need part of it. Public classes report `binderfed_sdk` as their
module (`binderfed_sdk.BuildFailed`), wherever they are defined (see `_lazy.publish`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binderfed_sdk._lazy import lazy_exports
from binderfed_sdk._version import __version__

if TYPE_CHECKING:
    from binderfed_sdk._errors import (
        BinderFedError,
        BuildFailed,
        ConfigError,
        ExecutionError,
        ExecutionTimeout,
        FederationError,
        HubError,
        HubUnavailable,
        KernelError,
        LaunchExhausted,
        ProtocolError,
        RateLimited,
        RecipeError,
        RedirectRefused,
        RemotePathError,
        SandboxError,
        SessionError,
        SessionGone,
        SessionOriginRefused,
        SpecError,
        StreamClosed,
        StreamTimeout,
    )
    from binderfed_sdk.federation._async_client import AsyncFederation
    from binderfed_sdk.federation._client import Federation
    from binderfed_sdk.federation._config import FederationConfig, Member, load_federation
    from binderfed_sdk.federation._failover import Resolution
    from binderfed_sdk.federation._health import FederationHealth, MemberHealth
    from binderfed_sdk.federation._limits import SessionLimits
    from binderfed_sdk.federation._prime import PrimeOutcome, PrimeResult
    from binderfed_sdk.federation._routing import RoutingPolicy
    from binderfed_sdk.hub._async_client import AsyncBinderHub, AsyncBuildStream
    from binderfed_sdk.hub._async_session import AsyncSession
    from binderfed_sdk.hub._client import BinderHub, BuildStream
    from binderfed_sdk.hub._core import RetryPolicy, StreamLimits
    from binderfed_sdk.hub._events import BuildEvent, Phase
    from binderfed_sdk.hub._models import Health, HealthCheck, RateLimit, SessionStatus, Versions
    from binderfed_sdk.hub._session import Session
    from binderfed_sdk.insession._model import SessionInfo
    from binderfed_sdk.insession._reader import SessionInfoReader, read_session_info
    from binderfed_sdk.jupyter._api import RemoteFile
    from binderfed_sdk.jupyter._async_kernel import AsyncKernel
    from binderfed_sdk.jupyter._kernel import Kernel
    from binderfed_sdk.jupyter._messages import ExecutionResult
    from binderfed_sdk.spec._providers import Provider, ProviderRegistry, RepoProvider
    from binderfed_sdk.spec._spec import (
        LaunchLink,
        Spec,
        parse,
        parse_launch_link,
        parse_spec,
    )

_EXPORTS = {
    "AsyncBinderHub": "binderfed_sdk.hub._async_client",
    "AsyncBuildStream": "binderfed_sdk.hub._async_client",
    "AsyncFederation": "binderfed_sdk.federation._async_client",
    "AsyncSession": "binderfed_sdk.hub._async_session",
    "AsyncKernel": "binderfed_sdk.jupyter._async_kernel",
    "ExecutionError": "binderfed_sdk._errors",
    "ExecutionResult": "binderfed_sdk.jupyter._messages",
    "ExecutionTimeout": "binderfed_sdk._errors",
    "Kernel": "binderfed_sdk.jupyter._kernel",
    "KernelError": "binderfed_sdk._errors",
    "RemoteFile": "binderfed_sdk.jupyter._api",
    "RemotePathError": "binderfed_sdk._errors",
    "BinderFedError": "binderfed_sdk._errors",
    "BinderHub": "binderfed_sdk.hub._client",
    "BuildEvent": "binderfed_sdk.hub._events",
    "BuildFailed": "binderfed_sdk._errors",
    "BuildStream": "binderfed_sdk.hub._client",
    "ConfigError": "binderfed_sdk._errors",
    "Federation": "binderfed_sdk.federation._client",
    "FederationConfig": "binderfed_sdk.federation._config",
    "FederationError": "binderfed_sdk._errors",
    "FederationHealth": "binderfed_sdk.federation._health",
    "Health": "binderfed_sdk.hub._models",
    "HealthCheck": "binderfed_sdk.hub._models",
    "HubError": "binderfed_sdk._errors",
    "HubUnavailable": "binderfed_sdk._errors",
    "LaunchExhausted": "binderfed_sdk._errors",
    "LaunchLink": "binderfed_sdk.spec._spec",
    "Member": "binderfed_sdk.federation._config",
    "MemberHealth": "binderfed_sdk.federation._health",
    "Phase": "binderfed_sdk.hub._events",
    "PrimeOutcome": "binderfed_sdk.federation._prime",
    "PrimeResult": "binderfed_sdk.federation._prime",
    "ProtocolError": "binderfed_sdk._errors",
    "Provider": "binderfed_sdk.spec._providers",
    "ProviderRegistry": "binderfed_sdk.spec._providers",
    "RateLimit": "binderfed_sdk.hub._models",
    "RateLimited": "binderfed_sdk._errors",
    "RecipeError": "binderfed_sdk._errors",
    "RedirectRefused": "binderfed_sdk._errors",
    "RepoProvider": "binderfed_sdk.spec._providers",
    "Resolution": "binderfed_sdk.federation._failover",
    "SandboxError": "binderfed_sdk._errors",
    "RetryPolicy": "binderfed_sdk.hub._core",
    "RoutingPolicy": "binderfed_sdk.federation._routing",
    "Session": "binderfed_sdk.hub._session",
    "SessionError": "binderfed_sdk._errors",
    "SessionGone": "binderfed_sdk._errors",
    "SessionOriginRefused": "binderfed_sdk._errors",
    "SessionInfo": "binderfed_sdk.insession._model",
    "SessionInfoReader": "binderfed_sdk.insession._reader",
    "SessionLimits": "binderfed_sdk.federation._limits",
    "SessionStatus": "binderfed_sdk.hub._models",
    "Spec": "binderfed_sdk.spec._spec",
    "SpecError": "binderfed_sdk._errors",
    "StreamClosed": "binderfed_sdk._errors",
    "StreamLimits": "binderfed_sdk.hub._core",
    "StreamTimeout": "binderfed_sdk._errors",
    "Versions": "binderfed_sdk.hub._models",
    "load_federation": "binderfed_sdk.federation._config",
    "parse": "binderfed_sdk.spec._spec",
    "parse_launch_link": "binderfed_sdk.spec._spec",
    "parse_spec": "binderfed_sdk.spec._spec",
    "read_session_info": "binderfed_sdk.insession._reader",
}
__all__ = [
    "AsyncBinderHub",
    "AsyncBuildStream",
    "AsyncFederation",
    "AsyncKernel",
    "AsyncSession",
    "BinderFedError",
    "BinderHub",
    "BuildEvent",
    "BuildFailed",
    "BuildStream",
    "ConfigError",
    "ExecutionError",
    "ExecutionResult",
    "ExecutionTimeout",
    "Federation",
    "FederationConfig",
    "FederationError",
    "FederationHealth",
    "Health",
    "HealthCheck",
    "HubError",
    "HubUnavailable",
    "Kernel",
    "KernelError",
    "LaunchExhausted",
    "LaunchLink",
    "Member",
    "MemberHealth",
    "Phase",
    "PrimeOutcome",
    "PrimeResult",
    "ProtocolError",
    "Provider",
    "ProviderRegistry",
    "RateLimit",
    "RateLimited",
    "RecipeError",
    "RedirectRefused",
    "RemoteFile",
    "RemotePathError",
    "RepoProvider",
    "Resolution",
    "RetryPolicy",
    "RoutingPolicy",
    "SandboxError",
    "Session",
    "SessionError",
    "SessionGone",
    "SessionInfo",
    "SessionInfoReader",
    "SessionLimits",
    "SessionOriginRefused",
    "SessionStatus",
    "Spec",
    "SpecError",
    "StreamClosed",
    "StreamLimits",
    "StreamTimeout",
    "Versions",
    "__version__",
    "load_federation",
    "parse",
    "parse_launch_link",
    "parse_spec",
    "read_session_info",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
