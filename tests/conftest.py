"""Shared fixtures: real servers on 127.0.0.1 (a BinderHub-speaking WireHub, a Jupyter server)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from servers import JupyterServer, start_jupyter_server
from wirehub import WireHub

from binderfed_sdk import RetryPolicy, StreamLimits

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# fast but real: short keepalives so stream tests do not wait 25 s
FAST_LIMITS = StreamLimits(idle_timeout=2.0, total_timeout=10.0)
FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)


@pytest.fixture(autouse=True, scope="session")
def _history_of_its_own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The launches the suite makes go to a history file of its own, never the user's (the
    CLI's subprocesses inherit it)."""
    previous = os.environ.get("BINDERFED_HISTORY_FILE")
    path = tmp_path_factory.mktemp("history") / "history.jsonl"
    os.environ["BINDERFED_HISTORY_FILE"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("BINDERFED_HISTORY_FILE", None)
        else:
            os.environ["BINDERFED_HISTORY_FILE"] = previous


@pytest.fixture
def wirehub() -> Iterator[WireHub]:
    with WireHub(keepalive_interval=0.05, hold_open=60.0) as hub:
        yield hub


@pytest.fixture
def jupyter_server(tmp_path: Path) -> Iterator[JupyterServer]:
    server = start_jupyter_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hubs() -> Iterator[dict[str, WireHub]]:
    """Four members: two healthy (a is the prime), one 503, one with its pod quota full."""
    servers = {name: WireHub(name=name, keepalive_interval=0.05) for name in "abcd"}
    for server in servers.values():
        server.start()
    servers["c"].health_status = 503
    servers["d"].health_checks[2].update(total_pods=95, user_pods=95, quota=100)
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()
