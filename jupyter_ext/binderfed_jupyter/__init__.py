"""binderfed in Jupyter: the server extension serving the session's limits to the front end.

`GET <base_url>binderfed/session` answers `binderfed_sdk.SessionInfo` as JSON
(authenticated; it does not count as activity, so polling it never keeps a session alive).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import BinderFedApp  # noqa: PLC0415 - jupyter-server loads it when it enables us

    return [{"module": "binderfed_jupyter.app", "app": BinderFedApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "binderfed-jupyterlab"}]
