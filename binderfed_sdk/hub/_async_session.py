"""A launched Binder session: its Jupyter server's URL and token, its status, its shutdown."""

# async source: `_session.py` (Session) is generated from this file by
# async source: `python .ci/unasync.py`; edit this one, then run the script.

from __future__ import annotations

import json
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from binderfed_sdk import _redact
from binderfed_sdk._errors import HubError, HubUnavailable, ProtocolError, SessionError, SessionGone
from binderfed_sdk._lazy import publish
from binderfed_sdk._urls import endpoint
from binderfed_sdk.hub._core import (
    DEFAULT_TIMEOUT,
    IDENTITY,
    MAX_JSON_BYTES,
    USER_AGENT,
    JsonBody,
    SessionOrigins,
    check_session_url,
    parse_json_answer,
    redirect_not_a_url,
    session_root,
    transport_error,
    validate,
)
from binderfed_sdk.hub._models import SessionStatus

if TYPE_CHECKING:
    import os
    import types
    from collections.abc import Mapping
    from pathlib import Path

    from binderfed_sdk.hub._events import BuildEvent
    from binderfed_sdk.hub._timeline import Timeline
    from binderfed_sdk.insession._model import SessionInfo
    from binderfed_sdk.jupyter._api import RemoteFile
    from binderfed_sdk.jupyter._async_kernel import AsyncKernel
    from binderfed_sdk.spec._spec import Spec

_redact.install()

__all__ = ["AsyncSession", "aread_json_body"]

# How a server that is gone answers through JupyterHub's proxy (as the real JupyterHub,
# configurable-http-proxy and jupyter_server do): while the proxy still routes to it, 503 (the
# proxy's error page, which the hub renders); once the hub has noticed, the hub answers itself:
# GET 302 to /hub/user/<name>/... (its prefix redirect), POST 403 (its xsrf check), and 424 for
# an API request at /hub/user/<name>/... (503 with its legacy setting). A running
# jupyter_server never redirects its API, and sends none of 424 or 503.
_GONE_STATUSES = frozenset({424, 503})
# a shutdown also takes these as "nothing left to stop": no such path, no upstream
_SHUTDOWN_GONE_STATUSES = _GONE_STATUSES | {404, 502}


def _server_message(body: bytes) -> str | None:
    """A Jupyter server's error answer's `message`, cut short (shown as text, escaped by
    whoever prints it)."""
    try:
        data = json.loads(body)
    except ValueError:  # jupyter_server sends some errors as plain text
        text = body[:300].decode("utf-8", errors="replace").strip().splitlines()
        return text[0] if text else None
    message = data.get("message") if isinstance(data, dict) else None
    return message[:300] if isinstance(message, str) and message else None


async def aread_json_body(response: httpx.Response, body: JsonBody) -> bytes:
    """A JSON answer's body, counted as it comes: past the limit, `ProtocolError`, and the
    caller's `stream` block closes the connection without reading the rest."""
    body.start(response.headers)
    async for chunk in response.aiter_raw():
        body.feed(chunk)
    return body.content


class AsyncSession:
    """A running session. As a context manager it always shuts the server down on exit.

    >>> async with await hub.launch("gh/binder-examples/requirements/HEAD") as session:
    ...     (await session.status()).kernels

    `client`: an httpx client to use (yours to close, and its cookie jar yours to keep); by
    default the session makes its own, which keeps no cookies: the Jupyter server answers a
    token with a login cookie that alone grants access to the session's files.
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
        #: the Jupyter server's URL, without userinfo or query (a `?token=` is not kept)
        self.url = session_root(url)
        self.token = token if isinstance(token, SecretStr) else SecretStr(token)
        self.hub = hub
        self.image = image
        self.spec = spec
        self.urlpath = urlpath
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.stopped = False
        #: the federation member it runs on, when launched through a federation
        self.member: str | None = None
        #: the front door the launch was sent to, when it redirected the build to `hub` (the
        #: member that served it), as mybinder.org does
        self.front_door: str | None = None
        #: the largest JSON answer taken (`api/status`, `binderfed/session`)
        self.max_json_bytes = MAX_JSON_BYTES
        #: where the launch's time went (set by `launch`; None for a session made otherwise)
        self.timeline: Timeline | None = None

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
        allow_session_origins: SessionOrigins = False,
    ) -> Self:
        """The session a build stream's `ready` event describes, if its URL may have the token
        (`check_session_url`: `hub` is the hub that served the build); else
        `SessionOriginRefused`, and nothing is sent anywhere."""
        if not event.url or event.token is None:
            msg = "launch: the `ready` event carries no session url and token (a build-only hub?)"
            raise ProtocolError(msg, hub=hub)
        return cls(
            check_session_url(hub, event.url, allow=allow_session_origins),
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
        url = _redact.redact(self.url)
        return f"{type(self).__name__}(url={url!r}, token='**********'{spec}{member})"

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
            # every request carries the token: the server's login cookie is not wanted
            no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
            self._client = httpx.AsyncClient(timeout=self._timeout, cookies=no_cookies)
        return self._client

    @property
    def auth_headers(self) -> dict[str, str]:
        """The headers every request to the server carries (the token among them)."""
        return self._headers

    @property
    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"token {self.token.get_secret_value()}",
            "User-Agent": USER_AGENT,
        }

    async def _get(self, path: str, what: str) -> httpx.Response:
        """The answer, its body read up to `max_json_bytes` (then `ProtocolError`)."""
        try:
            async with self.client.stream(
                "GET",
                endpoint(self.url, path),
                headers={**self._headers, **IDENTITY},
                timeout=self._timeout,
            ) as response:
                body = await aread_json_body(
                    response, JsonBody(self.url, what, self.max_json_bytes)
                )
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                content=body,
                request=response.request,
            )
        except httpx.InvalidURL:  # a redirect whose Location httpx cannot parse
            raise redirect_not_a_url(self.url, what) from None
        except httpx.HTTPError as exc:
            raise transport_error(self.url, what, exc) from None

    def _answer(
        self, what: str, response: httpx.Response, *, ok: frozenset[int] = frozenset({200})
    ) -> Any:
        if response.is_redirect or response.status_code in _GONE_STATUSES:
            self.stopped = True  # nothing left for shutdown() to do
            msg = (
                f"{what}: the session is gone (stopped, culled or shut down);"
                f" its hub answered HTTP {response.status_code} in its place"
            )
            raise SessionGone(msg, hub=self.url, status_code=response.status_code)
        if response.status_code in {401, 403}:
            msg = f"{what}: the server refused the token (HTTP {response.status_code})"
            raise SessionError(msg, hub=self.url, status_code=response.status_code)
        try:
            return parse_json_answer(
                self.url, what, response.status_code, response.headers, response.content,
                ok_statuses=ok,
            )  # fmt: skip
        except (HubUnavailable, ProtocolError):
            raise
        except HubError as exc:
            raise SessionError(exc.message, hub=self.url, status_code=exc.status_code) from None

    async def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json: Any = None,
        ok: frozenset[int] = frozenset({200}),
    ) -> Any:
        """A JSON request to the server's API (`path` relative to the session's URL): the
        decoded answer (None for an empty one), its body read up to `max_json_bytes`.
        `SessionGone`, `SessionError` (with the server's own message for a 4xx) otherwise."""
        try:
            async with self.client.stream(
                method,
                endpoint(self.url, path),
                headers={**self._headers, **IDENTITY},
                json=json,
                timeout=self._timeout,
            ) as response:
                body = await aread_json_body(
                    response, JsonBody(self.url, what, self.max_json_bytes)
                )
        except httpx.InvalidURL:
            raise redirect_not_a_url(self.url, what) from None
        except httpx.HTTPError as exc:
            raise transport_error(self.url, what, exc) from None
        status = response.status_code
        if status in ok and not body.strip():
            return None
        if status not in ok and 400 <= status < 500 and status not in {401, 403}:
            message = _server_message(body)
            msg = f"{what}: the server answered HTTP {status}" + (f": {message}" if message else "")
            raise SessionError(msg, hub=self.url, status_code=status)
        return self._answer(
            what,
            httpx.Response(
                status, headers=response.headers, content=body, request=response.request
            ),
            ok=ok,
        )

    # files, kernels and notebooks (binderfed_sdk.jupyter)
    async def listdir(self, path: str = "") -> list[RemoteFile]:
        """The entries of a folder in the session (relative to the server's root)."""
        from binderfed_sdk.jupyter._async_contents import AsyncContents  # noqa: PLC0415

        return await AsyncContents(self).listdir(path)

    async def upload(self, local: str | os.PathLike[str], remote: str | None = None) -> list[str]:
        """Copy a local file or folder into the session (large files in chunks, as JupyterLab
        uploads them); returns the paths written. A `..` in `remote` is refused first."""
        from binderfed_sdk.jupyter._async_contents import AsyncContents  # noqa: PLC0415

        return await AsyncContents(self).upload(local, remote)

    async def download(self, remote: str, local: str | os.PathLike[str]) -> list[Path]:
        """Copy a file or folder of the session to `local` (streamed); the files written."""
        from binderfed_sdk.jupyter._async_contents import AsyncContents  # noqa: PLC0415

        return await AsyncContents(self).download(remote, local)

    def kernel(self, name: str = "python3", *, path: str = "") -> AsyncKernel:
        """A kernel to start in the session: `async with session.kernel() as kernel:
        await kernel.execute("1 + 1")`; shut down when the block ends. `path`: the folder in
        the session it starts in."""
        from binderfed_sdk.jupyter._async_kernel import AsyncKernel  # noqa: PLC0415

        return AsyncKernel(self, name, path=path)

    async def run_notebook(
        self,
        notebook: Any,
        *,
        timeout: float | None = None,
        parameters: Mapping[str, Any] | None = None,
        allow_errors: bool = False,
        kernel: str | None = None,
    ) -> Any:
        """Execute a notebook in a new kernel of the session, as nbclient does (cells in
        order, `timeout` seconds per cell, `raises-exception` tags); the executed notebook
        (nbformat). `notebook`: a path in the session (str), a local file (path-like) or the
        notebook itself. `parameters` are injected as papermill does. With a `timeout`, a
        run that could not finish before the session's max age is refused first (when the
        session's binderfed extension tells its time left)."""
        from binderfed_sdk.jupyter._async_notebook import arun_notebook  # noqa: PLC0415

        return await arun_notebook(
            self,
            notebook,
            timeout=timeout,
            parameters=parameters,
            allow_errors=allow_errors,
            kernel=kernel,
            time_left=await self._max_age_left() if timeout is not None else None,
        )

    async def _max_age_left(self) -> float | None:
        """Seconds before the session's max age stops it, when its extension says."""
        try:
            info = await self.info()
        except HubError:  # no binderfed extension (or it failed): not known
            return None
        return info.max_age_seconds_left

    async def status(self) -> SessionStatus:
        """The Jupyter server's own record: started, last activity, kernels, connections.

        Raises `SessionGone` if the server is no longer there (culled, shut down)."""
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
        """Stop the server. Returns False if it was already gone (culled, shut down, stopped
        by its hub): that is what the caller wanted. Safe to call twice. Raises
        `SessionError` if the server is there and refuses the token."""
        if self.stopped:
            return False
        try:
            response: httpx.Response | None = await self.client.post(
                endpoint(self.url, "api/shutdown"), headers=self._headers, timeout=self._timeout
            )
        except (httpx.HTTPError, httpx.InvalidURL):  # nothing answers for it any more: gone
            response = None
        if response is not None and response.status_code in {401, 403}:
            response = await self._refused_or_gone(response)
        stopped_now = self._shutdown_done(response)  # raises if the server refused
        await self.aclose()
        return stopped_now

    async def _refused_or_gone(self, refusal: httpx.Response) -> httpx.Response | None:
        """A 403 to a shutdown comes from jupyter_server refusing the token, or from the hub
        answering for a server it no longer routes to: both send the same xsrf error page for a
        POST. A GET of `api/status` tells them apart (403 JSON from a server that is there,
        302 or 503 in its place): returns the answer that decides."""
        try:
            probe = await self.client.get(
                endpoint(self.url, "api/status"), headers=self._headers, timeout=self._timeout
            )
        except (httpx.HTTPError, httpx.InvalidURL):
            return None  # nothing answers any more: gone
        if probe.is_redirect or probe.status_code in _SHUTDOWN_GONE_STATUSES:
            return probe
        return refusal

    def _shutdown_done(self, response: httpx.Response | None) -> bool:
        """True if this request stopped the server, False if it was gone already."""
        self.stopped = True
        if (
            response is None
            or response.is_redirect
            or response.status_code in _SHUTDOWN_GONE_STATUSES
        ):
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
