"""Session limits of a federation, as data (mybinder.org's deployed numbers by default).

Read from a federation's member list (`limits` key), overridable field by field.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from binderfed_sdk._lazy import publish

__all__ = ["SessionLimits"]

MIB = 1024 * 1024


class SessionLimits(BaseModel):
    """What a session may use before it is stopped (seconds, bytes, cores)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the hub's idle culler stops a server inactive this long
    idle_timeout: float = Field(default=600.0, gt=0)
    #: ... and any server this old, whatever its activity (None: no max age)
    max_age: float | None = Field(default=21_600.0, gt=0)
    #: how often the culler runs: a cull comes up to this much after it is due
    cull_every: float = Field(default=660.0, gt=0)
    #: how often the hub learns activity (the proxy's traffic, the Jupyter server's reports)
    activity_interval: float = Field(default=300.0, gt=0)
    #: the Jupyter server stops itself after this long with no activity and no kernel
    #: (`ServerApp.shutdown_no_activity_timeout`; None: off)
    server_idle_timeout: float | None = Field(default=600.0, gt=0)
    #: how often the Jupyter server checks that (fixed at 60 s in jupyter_server)
    server_check_every: float = Field(default=60.0, gt=0)
    #: the kernel culler stops kernels idle this long; the session goes on, and the cull
    #: counts as the server's activity (`MappingKernelManager.cull_idle_timeout`; None: off)
    kernel_idle_timeout: float | None = Field(default=600.0, gt=0)
    #: how often the kernel culler runs (`MappingKernelManager.cull_interval`)
    kernel_cull_every: float = Field(default=60.0, gt=0)
    #: kernels with a client connected are culled too (`cull_connected`)
    kernel_cull_connected: bool = True
    #: busy kernels are culled too (`cull_busy`)
    kernel_cull_busy: bool = False
    #: CPU time a session may use before it is stopped (None: no budget)
    cpu_seconds: float | None = Field(default=3600.0, gt=0)
    mem_limit: int | None = Field(default=2048 * MIB, gt=0)
    mem_guarantee: int | None = Field(default=450 * MIB, gt=0)
    cpu_limit: float | None = Field(default=1.0, gt=0)
    cpu_guarantee: float | None = Field(default=0.01, gt=0)


publish(__name__)  # public classes show as binderfed_sdk.X
