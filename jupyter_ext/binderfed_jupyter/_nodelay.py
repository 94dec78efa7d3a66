"""Kernel websockets without Nagle's algorithm.

jupyter_server writes each kernel message as its own small websocket frame and leaves
TCP_NODELAY off. After the first frame of an execution (`busy`), the kernel's next ones wait in
the server's socket for the client's ACK, which the client delays by up to 40 ms: every
execution through a kernel websocket (JupyterLab's cells, a script's) takes about 45 ms even
when the kernel answers in 2. Turning Nagle off for these connections, as tornado's
`WebSocketHandler.set_nodelay` documents for small, latency-sensitive messages, removes it.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

__all__ = ["NoDelayChannelsConnection", "install"]

SETTING = "kernel_websocket_connection_class"


class NoDelayChannelsConnection(ZMQChannelsWebsocketConnection):
    """jupyter_server's own connection, with TCP_NODELAY on its websocket."""

    def connect(self) -> Any:
        self.websocket_handler.set_nodelay(True)
        return super().connect()


def install(settings: dict[str, Any]) -> bool:
    """Use it when the server uses jupyter_server's own connection class (never replacing a
    gateway's or one configured by hand); whether it is in use."""
    current = settings.get(SETTING)
    if current is ZMQChannelsWebsocketConnection:
        settings[SETTING] = NoDelayChannelsConnection
    return settings.get(SETTING) is NoDelayChannelsConnection
