"""Running a notebook in a session, cell by cell, with nbclient's semantics: cells in order,
each with a timeout; an error stops the run unless the cell is tagged `raises-exception` (or
errors are allowed); outputs and execution counts written into the notebook returned."""

# async source: `_notebook.py` is generated from this file by `python .ci/unasync.py`.

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from binderfed_sdk._errors import ExecutionError, ExecutionTimeout, SessionError
from binderfed_sdk._format import format_duration
from binderfed_sdk._lazy import publish
from binderfed_sdk.jupyter._async_kernel import AsyncKernel
from binderfed_sdk.jupyter._cells import (
    RAISES_TAG,
    as_notebook,
    inject_parameters,
    kernel_name,
    tags,
)
from binderfed_sdk.jupyter._messages import strip_ansi
from binderfed_sdk.jupyter._paths import api_path, remote_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    from binderfed_sdk.jupyter._api import AsyncServerAPI

__all__ = ["arun_notebook"]


async def _load(server: AsyncServerAPI, notebook: Any) -> tuple[Any, str]:
    """The notebook, and the folder in the session its kernel starts in: a `str` names a
    notebook in the session, a path-like a local file, anything else is the notebook."""
    if isinstance(notebook, str):
        path = remote_path(notebook)
        model = await server.call(
            "GET", api_path("api/contents/", path) + "?content=1&type=notebook", f"read {path!r}"
        )
        content = model.get("content") if isinstance(model, dict) else None
        return as_notebook(content), path.rpartition("/")[0]
    if isinstance(notebook, os.PathLike):
        return as_notebook(_read(notebook)), ""
    return as_notebook(notebook), ""


def _read(path: os.PathLike[str]) -> bytes:
    with open(path, "rb") as handle:  # noqa: PTH123 - any path-like
        return handle.read()


async def arun_notebook(
    server: AsyncServerAPI,
    notebook: Any,
    *,
    timeout: float | None = None,
    parameters: Mapping[str, Any] | None = None,
    allow_errors: bool = False,
    kernel: str | None = None,
    cwd: str | None = None,
    time_left: float | None = None,
) -> Any:
    """Execute `notebook` in a new kernel of the session (shut down afterwards); the executed
    notebook (nbformat). `timeout`: seconds per cell. `time_left`: seconds before the
    session is stopped whatever runs (its max age): a run whose cells' timeouts add up to
    more is refused before it starts."""
    nb, folder = await _load(server, notebook)
    if parameters:
        nb = inject_parameters(nb, parameters)
    cells = sum(1 for cell in nb.cells if cell.cell_type == "code" and cell.source.strip())
    if timeout is not None and time_left is not None and timeout * cells > time_left:
        msg = (
            f"the notebook may need up to {format_duration(timeout * cells)} ({cells} cells "
            f"of up to {format_duration(timeout)}), but the session is stopped in "
            f"{format_duration(time_left)} at the latest (its max age): not started"
        )
        raise SessionError(msg, hub=server.url)
    name = kernel or kernel_name(nb)
    async with AsyncKernel(
        server, name, path=remote_path(cwd) if cwd is not None else folder
    ) as running:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            cell.outputs = []
            cell.execution_count = None
            if not cell.source.strip():
                continue
            expected = RAISES_TAG in tags(cell)
            try:
                result = await running._execute(  # noqa: SLF001 - the cell index goes along
                    cell.source, timeout=timeout, allow_errors=True, cell=index
                )
            except ExecutionTimeout as error:
                error.notebook = nb
                raise
            cell.execution_count = result.execution_count
            cell.outputs = [_output(output) for output in result.outputs]
            if result.error is not None and not (expected or allow_errors):
                failure = ExecutionError(
                    result.error["ename"],
                    result.error["evalue"],
                    [strip_ansi(line) for line in result.error["traceback"]],
                    cell=index,
                    source=cell.source,
                    hub=server.url,
                )
                failure.result, failure.notebook = result, nb
                raise failure
    return nb


def _output(output: dict[str, Any]) -> Any:
    import nbformat  # noqa: PLC0415

    untyped: Any = nbformat
    return untyped.from_dict(output)


publish(__name__)
