"""A launched Binder session: its Jupyter server's URL and token, its status, its shutdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from binderfed_sdk import _redact
from binderfed_sdk._errors import HubError, HubUnavailable, ProtocolError, SessionError
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

__all__ = ["AsyncSession", "Session"]

# a server that is already gone answers through the hub's proxy with one of these
_GONE_STATUSES = frozenset({404, 424, 502, 503})


ClientT = TypeVar("ClientT", httpx.Client, httpx.AsyncClient)


class _SessionBase(Generic[ClientT]):
    """What sync and async sessions share: identity, URLs, and a repr without the token.

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
        client: ClientT | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._client: ClientT | None = client
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

    def _api(self, path: str) -> str:
        return endpoint(self.url, path)

    @property
    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"token {self.token.get_secret_value()}",
            "User-Agent": USER_AGENT,
        }

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

    def _status_from(self, response: httpx.Response) -> SessionStatus:
        data = self._answer("session status", response)
        return validate(self.url, "session status", SessionStatus, data)

    def _info_from(self, response: httpx.Response) -> SessionInfo:
        from binderfed_sdk.insession._model import SessionInfo  # noqa: PLC0415 - loads the reader's parts

        if response.status_code == 404:
            msg = "session info: the session has no binderfed server extension"
            raise SessionError(msg, hub=self.url, status_code=404)
        data = self._answer("session info", response)
        return validate(self.url, "session info", SessionInfo, data)

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

    @classmethod
    def from_ready(
        cls,
        hub: str,
        event: BuildEvent,
        *,
        spec: Spec | None = None,
        urlpath: str | None = None,
        client: ClientT | None = None,
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


class Session(_SessionBase[httpx.Client]):
    """A running session. As a context manager it always shuts the server down on exit.

    >>> with hub.launch("gh/binder-examples/requirements/HEAD") as session:
    ...     session.status().kernels
    """

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout)
        return self._client

    def status(self) -> SessionStatus:
        """The Jupyter server's own record: started, last activity, kernels, connections."""
        try:
            response = self.client.get(
                self._api("api/status"), headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise transport_error(self.url, "session status", exc) from None
        return self._status_from(response)

    def info(self) -> SessionInfo:
        """The session's standing as its binderfed server extension reports it
        (`binderfed/session`: member, time left and why, memory used against the limit)."""
        try:
            response = self.client.get(
                self._api("binderfed/session"), headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise transport_error(self.url, "session info", exc) from None
        return self._info_from(response)

    def shutdown(self) -> bool:
        """Stop the server. Returns False if it was already gone; safe to call twice."""
        if self.stopped:
            return False
        try:
            response: httpx.Response | None = self.client.post(
                self._api("api/shutdown"), headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError:
            response = None
        stopped_now = self._shutdown_done(response)  # raises if the server refused
        self.close()
        return stopped_now

    def close(self) -> None:
        """Close the HTTP connection pool this session made for itself (not the server)."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        try:
            self.shutdown()
        finally:
            self.close()


class AsyncSession(_SessionBase[httpx.AsyncClient]):
    """The async twin of `Session`."""

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        return self._client

    async def status(self) -> SessionStatus:
        try:
            response = await self.client.get(
                self._api("api/status"), headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise transport_error(self.url, "session status", exc) from None
        return self._status_from(response)

    async def info(self) -> SessionInfo:
        try:
            response = await self.client.get(
                self._api("binderfed/session"), headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise transport_error(self.url, "session info", exc) from None
        return self._info_from(response)

    async def shutdown(self) -> bool:
        if self.stopped:
            return False
        try:
            response: httpx.Response | None = await self.client.post(
                self._api("api/shutdown"), headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError:
            response = None
        stopped_now = self._shutdown_done(response)
        await self.aclose()
        return stopped_now

    async def aclose(self) -> None:
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
