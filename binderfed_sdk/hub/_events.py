"""Typed build events, as a BinderHub build stream sends them.

The wire format is loose: `phase` may be missing or in any case (one builder sends
`Pending`, `Running`, `Succeed`), builders add their own phases, and extra keys come and go.
`BuildEvent` keeps all of it: phases are lower-cased but unknown ones are kept, extra keys
are kept, and nothing on the wire makes validation fail except a non-object.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from binderfed_sdk._lazy import publish

__all__ = ["TERMINAL_PHASES", "BuildEvent", "Phase"]


class Phase(StrEnum):
    """The phases BinderHub and its builders are known to send (lower-cased)."""

    WAITING = "waiting"
    FETCHING = "fetching"
    BUILDING = "building"
    PUSHING = "pushing"
    BUILT = "built"
    LAUNCHING = "launching"
    READY = "ready"
    FAILED = "failed"
    # a builder's own word for a failed build; the hub may not follow it with `failed`
    FAILURE = "failure"
    UNKNOWN = "unknown"


FAILED_PHASES = frozenset({Phase.FAILED, Phase.FAILURE})
TERMINAL_PHASES = FAILED_PHASES | {Phase.READY}


class BuildEvent(BaseModel):
    """One message of a build stream.

    `token` is a `SecretStr`: it prints as `**********`; `token.get_secret_value()` gives it.
    Keys this model does not name are kept in `model_extra`.
    """

    # built on the first event, not at import: `from binderfed_sdk import BinderHub` stays cheap
    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True, populate_by_name=True)

    # lower-cased in pydantic-core, not a Python validator: this runs once per event
    phase: Annotated[str, StringConstraints(to_lower=True)] | None = None
    message: str = ""
    image_name: str | None = Field(default=None, alias="imageName")
    status_code: int | None = None
    progress: dict[str, Any] | None = None
    # fields of `ready`
    url: str | None = None
    token: SecretStr | None = None
    image: str | None = None
    repo_url: str | None = None
    binder_ref_url: str | None = None
    binder_launch_host: str | None = None
    binder_request: str | None = None
    binder_persistent_request: str | None = None
    binder_client_ip: str | None = None
    #: the URL of the hub that sent the event: the member, when a front door such as
    #: mybinder.org redirected the build. Set by the client, never taken from the wire.
    hub: str | None = None

    @property
    def is_ready(self) -> bool:
        return self.phase == Phase.READY

    @property
    def is_failed(self) -> bool:
        return self.phase in FAILED_PHASES

    @property
    def is_terminal(self) -> bool:
        """True for the events after which a client closes the stream."""
        return self.phase in TERMINAL_PHASES

    @property
    def log_line(self) -> str:
        """The message without its trailing newline or progress-redraw carriage return."""
        return self.message.rstrip("\r\n")


publish(__name__)  # public classes show as binderfed_sdk.X
