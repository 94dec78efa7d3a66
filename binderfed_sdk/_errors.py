"""The exception hierarchy: everything binderfed raises on purpose is a `BinderFedError`.

No exception text ever carries a token: messages are built from hub URLs, status codes
and the hub's own log lines, never from request URLs with query strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from binderfed_sdk._lazy import publish

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from binderfed_sdk.hub._events import BuildEvent


class BinderFedError(Exception):
    """Base class of every error binderfed raises on purpose."""

    #: the `binderfed` command's exit status for this error: 2, a usage or setting error
    exit_code: ClassVar[int] = 2


class SpecError(BinderFedError, ValueError):
    """A spec, repository URL or Binder link that cannot be used; raised before any request."""


class ConfigError(BinderFedError, ValueError):
    """A setting that cannot be used: a hub URL, a member list, a policy name."""


def _shown(url: str | None) -> str | None:
    """A hub URL as an error shows it: without the `user:password@` a URL may carry."""
    if url is None or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that cannot be shown>"
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class HubError(BinderFedError):
    """Something went wrong talking to a hub (or to a session's Jupyter server)."""

    exit_code: ClassVar[int] = 1  # the build or launch did not happen

    def __init__(
        self, message: str, *, hub: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        #: the hub (or server) this is about, without userinfo
        self.hub = _shown(hub)
        self.status_code = status_code

    def __str__(self) -> str:
        return f"{self.message} ({self.hub})" if self.hub else self.message


class HubUnavailable(HubError):
    """The hub could not be reached or answered with a 5xx or with HTML where JSON was expected."""

    exit_code: ClassVar[int] = 3


class ProtocolError(HubUnavailable):
    """The hub answered, but not in BinderHub's wire format (bad JSON, oversized event, ...)."""


class SessionOriginRefused(HubError):
    """A `ready` event named a session URL the client will not send the session's token to: on
    another origin than the hub that served the build (and not allowed by the caller's
    `allow_session_origins`), or plain http from an https hub. Nothing was sent to it."""


class RateLimited(HubError):
    """The hub refused the request under its rate limit (HTTP 429 or a `failed` event with 429)."""

    def __init__(
        self,
        message: str,
        *,
        hub: str | None = None,
        limit: int | None = None,
        reset: datetime | None = None,
    ) -> None:
        super().__init__(message, hub=hub, status_code=429)
        self.limit = limit
        self.reset = reset

    def __str__(self) -> str:
        text = super().__str__()
        if self.reset is not None:
            text += f"; resets at {self.reset.isoformat(timespec='seconds')}"
        return text


class BuildFailed(HubError):
    """The build stream ended with a `failed` event.

    When the log makes the cause certain, `hint` says it in plain words (it ends `str(error)`)
    and `fix_files` names the files that would fix it, e.g. the environment files a hub that
    builds no repository without one (mybinder.org) would take.
    """

    def __init__(
        self,
        message: str,
        *,
        hub: str | None = None,
        status_code: int | None = None,
        log: Sequence[str] = (),
        event: BuildEvent | None = None,
        hint: str | None = None,
        fix_files: Sequence[str] = (),
    ) -> None:
        super().__init__(message, hub=hub, status_code=status_code)
        #: the `failed` event itself, when the stream sent one
        self.event = event
        #: the last log lines of the build, oldest first, for showing why it failed
        self.log: tuple[str, ...] = tuple(log)
        #: why the build failed, in plain words, when the log makes it certain
        self.hint = hint
        #: files that would make the build pass (any one of them), when that is the cause
        self.fix_files: tuple[str, ...] = tuple(fix_files)

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}: {self.hint}" if self.hint else text

    @property
    def retryable(self) -> bool:
        """A 5xx is the hub's fault and may pass on a retry; anything else will fail again."""
        return self.status_code is not None and self.status_code >= 500


class StreamTimeout(HubError):
    """The build stream sent nothing for too long, or ran past its total deadline."""


class StreamClosed(HubError):
    """The build stream ended before a `ready` or `failed` event."""


class SessionError(HubError):
    """A launched session's Jupyter server refused or failed a request."""


class SessionGone(SessionError):
    """The session's server is gone (culled, shut down, or stopped by its hub): the hub's proxy
    or the hub itself answered in its place. Shutting down such a session is no error."""


class RemotePathError(BinderFedError, ValueError):
    """A path in a session that would leave its server's root (`..`, an absolute path), or a
    local path that cannot be used; raised before any request."""


class KernelError(SessionError):
    """A kernel could not be started, died, or its connection ended."""


class ExecutionError(SessionError):
    """Code run in a session's kernel raised: `ename`, `evalue` and the `traceback` lines
    (ANSI colours removed); `cell` is the notebook cell's index when a notebook ran."""

    def __init__(
        self,
        ename: str,
        evalue: str,
        traceback: Sequence[str] = (),
        *,
        cell: int | None = None,
        source: str | None = None,
        hub: str | None = None,
    ) -> None:
        where = f"cell {cell}: " if cell is not None else ""
        super().__init__(f"{where}{ename}: {evalue}", hub=hub)
        self.ename = ename
        self.evalue = evalue
        self.traceback = list(traceback)
        self.cell = cell
        self.source = source
        #: what the execution produced up to the error (an `ExecutionResult`)
        self.result: Any = None
        #: for a notebook: the notebook as executed up to and including the failing cell
        self.notebook: Any = None


class ExecutionTimeout(SessionError):
    """Code ran past its timeout: the kernel was interrupted (`cell`: the notebook cell)."""

    def __init__(self, timeout: float, *, cell: int | None = None, hub: str | None = None) -> None:
        where = f"cell {cell} " if cell is not None else ""
        super().__init__(f"{where}ran past its timeout of {timeout:g} s; interrupted", hub=hub)
        self.timeout = timeout
        self.cell = cell
        #: for a notebook: the notebook as executed up to the cell that ran too long
        self.notebook: Any = None


class RecipeError(BinderFedError, ValueError):
    """A configuration file Binder cannot read (`runtime.txt`, `environment.yml`): a build
    fails with this text, and `binderfed doctor` reports it."""


class FederationError(ConfigError):
    """A member list that cannot be loaded or used."""


class RedirectRefused(HubError):
    """A redirector sent us somewhere that is not a known member (no open redirects)."""


class SandboxError(BinderFedError):
    """The local sandbox federation cannot start, is not running, or did not stop cleanly."""

    exit_code: ClassVar[int] = 3


class LaunchExhausted(HubUnavailable):
    """Every member tried failed; `attempts` says how, member by member."""

    def __init__(self, message: str, attempts: Sequence[tuple[str, BinderFedError]]) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


publish(__name__)  # public classes show as binderfed_sdk.X
