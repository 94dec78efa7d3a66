"""A launched Binder session: its Jupyter server's URL and token, its status, its shutdown."""

# async source: `_session.py` (Session) is generated from this file by
# async source: `python .ci/unasync.py`; edit this one, then run the script.

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from binderfed_sdk import _redact
from binderfed_sdk._errors import HubError, HubUnavailable, ProtocolError, SessionError
from binderfed_sdk._lazy import publish
from binderfed_sdk._urls import endpoint, hub_root
from binderfed_sdk.hub._core import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    parse_json_answer,
    transport_error,
    validate,
)
from binderfed_sdk.hub._models import SessionStatus

if TYPE_CHECKING:
    import types

    from binderfed_sdk.hub._events import BuildEvent
    from binderfed_sdk.insession._model import SessionInfo
    from binderfed_sdk.spec._spec import Spec

_redact.install()

__all__ = ["AsyncSession"]

# a server that is already gone answers through the hub's proxy with one of these
_GONE_STATUSES = frozenset({404, 424, 502, 503})


class AsyncSession:
    """A running session. As a context manager it always shuts the server down on exit.

    >>> async with await hub.launch("gh/binder-examples/requirements/HEAD") as session:
    ...     (await session.status()).kernels

    `client`: an httpx client to use (yours to close); by default the session makes its own.
    """

    def __init__(
        self,
        url: str,
        token: str | SecretStr,
        *,
        hub: str | None = None,
        image: str | None = None,
        spec: Spec | None = None,
        urlpath: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._client = client
        self._owns_client = client is None
        self.url = hub_root(url)
        self.token = token if isinstance(token, SecretStr) else SecretStr(token)
        self.hub = hub
        self.image = image
        self.spec = spec
        self.urlpath = urlpath
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.stopped = False
        #: the federation member it runs on, when launched through a federation
        self.member: str | None = None

    @classmethod
    def from_ready(
        cls,
        hub: str,
        event: BuildEvent,
        *,
        spec: Spec | None = None,
        urlpath: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> Self:
        """The session a build stream's `ready` event describes."""
        if not event.url or event.token is None:
            msg = "launch: the `ready` event carries no session url and token (a build-only hub?)"
            raise ProtocolError(msg, hub=hub)
        return cls(
            event.url,
            event.token,
            hub=hub,
            image=event.image or event.image_name,
            spec=spec,
            urlpath=urlpath,
            client=client,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        spec = f", spec={str(self.spec)!r}" if self.spec is not None else ""
        member = f", member={self.member!r}" if self.member is not None else ""
        return f"{type(self).__name__}(url={self.url!r}, token='**********'{spec}{member})"

    def browser_url(self, path: str | None = None, *, with_token: bool = True) -> str:
        """The URL to open in a browser, at `path` (default: the launch's `urlpath`).

        It carries the token (that is what lets a browser in), so treat it as a secret.
        """
        target = (path if path is not None else self.urlpath or "").lstrip("/")
        url = self.url + quote(target, safe="/?=&%:@")
        if not with_token:
            return url
        separator = "&" if "?" in url else "?"
        return url + separator + urlencode({"token": self.token.get_secret_value()})

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        return self._client

    @property
    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"token {self.token.get_secret_value()}",
            "User-Agent": USER_AGENT,
        }

    async def _get(self, path: str, what: str) -> httpx.Response:
        try:
            return await self.client.get(
                endpoint(self.url, path), headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise transport_error(self.url, what, exc) from None

    def _answer(self, what: str, response: httpx.Response) -> Any:
        if response.status_code in {401, 403}:
            msg = f"{what}: the server refused the token (HTTP {response.status_code})"
            raise SessionError(msg, hub=self.url, status_code=response.status_code)
        try:
            return parse_json_answer(
                self.url, what, response.status_code, response.headers, response.content
            )
        except (HubUnavailable, ProtocolError):
            raise
        except HubError as exc:
            raise SessionError(exc.message, hub=self.url, status_code=exc.status_code) from None

    async def status(self) -> SessionStatus:
        """The Jupyter server's own record: started, last activity, kernels, connections."""
        data = self._answer("session status", await self._get("api/status", "session status"))
        return validate(self.url, "session status", SessionStatus, data)

    async def info(self) -> SessionInfo:
        """The session's standing as its binderfed server extension reports it
        (`binderfed/session`: member, time left and why, memory used against the limit)."""
        from binderfed_sdk.insession._model import SessionInfo  # noqa: PLC0415 - loads the reader's parts

        response = await self._get("binderfed/session", "session info")
        if response.status_code == 404:
            msg = "session info: the session has no binderfed server extension"
            raise SessionError(msg, hub=self.url, status_code=404)
        data = self._answer("session info", response)
        return validate(self.url, "session info", SessionInfo, data)

    async def shutdown(self) -> bool:
        """Stop the server. Returns False if it was already gone; safe to call twice."""
        if self.stopped:
            return False
        try:
            response: httpx.Response | None = await self.client.post(
                endpoint(self.url, "api/shutdown"), headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError:
            response = None
        stopped_now = self._shutdown_done(response)  # raises if the server refused
        await self.aclose()
        return stopped_now

    def _shutdown_done(self, response: httpx.Response | None) -> bool:
        """True if this request stopped the server, False if it was gone already."""
        self.stopped = True
        if response is None or response.status_code in _GONE_STATUSES:
            return False
        if response.status_code in {401, 403}:
            self.stopped = False
            msg = f"session shutdown: the server refused the token (HTTP {response.status_code})"
            raise SessionError(msg, hub=self.url, status_code=response.status_code)
        if not response.is_success:
            self.stopped = False
            msg = f"session shutdown: the server answered HTTP {response.status_code}"
            raise SessionError(msg, hub=self.url, status_code=response.status_code)
        return True

    async def aclose(self) -> None:
        """Close the HTTP connection pool this session made for itself (not the server)."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        try:
            await self.shutdown()
        finally:
            await self.aclose()


publish(__name__)  # public classes show as binderfed_sdk.X
