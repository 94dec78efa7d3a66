"""The server extension turns Nagle's algorithm off on kernel websockets (pytest-jupyter, a real
server and kernel): jupyter_server leaves it on, so each execution waited about 40 ms for the
client's delayed ACK (bench/run.py shows the round trip)."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

import pytest
from binderfed_jupyter._nodelay import NoDelayChannelsConnection
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from traitlets.config import Config

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

pytest_plugins = ("pytest_jupyter.jupyter_server",)


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest) -> Config:
    extra: dict[str, Any] = dict(getattr(request, "param", {}))
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"binderfed_jupyter": True}},
            "BinderFedApp": extra,
        }
    )


async def open_kernel_socket(
    jp_fetch: Callable[..., Awaitable[Any]], jp_ws_fetch: Callable[..., Awaitable[Any]]
) -> tuple[Any, ZMQChannelsWebsocketConnection]:
    response = await jp_fetch("api", "kernels", method="POST", body=json.dumps({}))
    kernel_id = json.loads(response.body)["id"]
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    [connection] = [
        c for c in ZMQChannelsWebsocketConnection._open_sockets if c.kernel_id == kernel_id
    ]
    return ws, connection


def nodelay(connection: ZMQChannelsWebsocketConnection) -> int:
    protocol = connection.websocket_handler.ws_connection
    assert protocol is not None
    stream: Any = protocol.stream
    value: int = stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    return value


async def test_kernel_websockets_have_nodelay(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    ws, connection = await open_kernel_socket(jp_fetch, jp_ws_fetch)
    try:
        assert isinstance(connection, NoDelayChannelsConnection)
        assert nodelay(connection) != 0
    finally:
        ws.close()


@pytest.mark.parametrize("jp_server_config", [{"kernel_websocket_nodelay": False}], indirect=True)
async def test_the_setting_turns_it_off(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    ws, connection = await open_kernel_socket(jp_fetch, jp_ws_fetch)
    try:
        assert type(connection) is ZMQChannelsWebsocketConnection
        assert nodelay(connection) == 0  # jupyter_server's own default
    finally:
        ws.close()
