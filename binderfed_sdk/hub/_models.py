"""Typed answers of a hub's JSON endpoints and of a session's Jupyter server.

Their validators are built on first use (`defer_build`), not at import: a script that only
streams a build never pays for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from binderfed_sdk._lazy import publish

__all__ = ["Health", "HealthCheck", "RateLimit", "SessionStatus", "Versions"]


class RateLimit(BaseModel):
    """The `x-ratelimit-*` headers of a hub's last `/build` answer."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    limit: int | None = None
    remaining: int | None = None
    reset: datetime | None = None
    #: the hub that sent them: each hub counts on its own, and behind a front door that is
    #: the member that served the build
    hub: str | None = None


class HealthCheck(BaseModel):
    """One service of `/health`: `Docker registry`, `JupyterHub API`, `Pod quota`, ..."""

    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True, populate_by_name=True)

    service: str
    ok: bool
    # the Pod quota check only
    total_pods: int | None = None
    build_pods: int | None = None
    user_pods: int | None = None
    quota: int | None = None
    # BinderHub marks the Pod quota check soft; mybinder.org's redirector ignores that mark
    ignore_failure: bool = Field(default=False, alias="_ignore_failure")


class Health(BaseModel):
    """A hub's `/health`; `status_code` is 503 when `ok` is false."""

    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True)

    ok: bool
    checks: list[HealthCheck] = []
    status_code: int = 200

    @property
    def pod_quota(self) -> HealthCheck | None:
        return next((check for check in self.checks if check.service == "Pod quota"), None)

    @property
    def failed_checks(self) -> list[HealthCheck]:
        return [check for check in self.checks if not check.ok]


class Versions(BaseModel):
    """A hub's `/versions`."""

    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True)

    binderhub: str
    builder_info: dict[str, Any] = {}
    builder: str | None = None


class SessionStatus(BaseModel):
    """A Jupyter server's `api/status`."""

    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True)

    started: datetime
    last_activity: datetime
    kernels: int = 0
    connections: int = 0


publish(__name__)  # public classes show as binderfed_sdk.X
