"""What the files, kernel and notebook code needs of a session: one protocol, so those modules
depend on no client class (the session implements it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from binderfed_sdk._lazy import publish

if TYPE_CHECKING:
    import httpx

__all__ = ["AsyncServerAPI", "RemoteFile", "ServerAPI"]


class RemoteFile(BaseModel):
    """A file or folder in a session, as its contents API lists it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    #: relative to the server's root, `/`-separated
    path: str
    #: "file", "directory" or "notebook"
    type: str
    size: int | None = None
    last_modified: str | None = None


class AsyncServerAPI(Protocol):
    """A session's Jupyter server, as the async files, kernel and notebook code use it."""

    url: str

    @property
    def client(self) -> httpx.AsyncClient: ...

    @property
    def auth_headers(self) -> dict[str, str]: ...

    async def call(
        self, method: str, path: str, what: str, *, json: Any = None, ok: frozenset[int] = ...
    ) -> Any: ...


class ServerAPI(Protocol):
    """The same, for the sync code."""

    url: str

    @property
    def client(self) -> httpx.Client: ...

    @property
    def auth_headers(self) -> dict[str, str]: ...

    def call(
        self, method: str, path: str, what: str, *, json: Any = None, ok: frozenset[int] = ...
    ) -> Any: ...


publish(__name__)
