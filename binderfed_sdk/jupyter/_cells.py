"""Notebook preparation, pure: papermill's parameter injection and which kernel a notebook asks
for. nbformat reads and checks the notebook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from binderfed_sdk._errors import SpecError
from binderfed_sdk._lazy import publish

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["as_notebook", "inject_parameters", "kernel_name", "tags"]

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
RAISES_TAG = "raises-exception"


def as_notebook(data: Any) -> Any:
    """An nbformat v4 notebook from a dict, JSON text or a NotebookNode (validated)."""
    import nbformat as untyped  # noqa: PLC0415 - only when a notebook runs

    nbformat: Any = untyped
    try:
        if isinstance(data, (str, bytes)):
            notebook = nbformat.reads(data, as_version=4)
        else:
            notebook = nbformat.from_dict(data)
            if notebook.get("nbformat", 4) != 4:
                notebook = nbformat.convert(notebook, 4)
        nbformat.validate(notebook)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds for a bad notebook
        msg = f"not a notebook nbformat can read: {str(exc).splitlines()[0][:200]}"
        raise SpecError(msg) from None
    return notebook


def tags(cell: Mapping[str, Any]) -> list[str]:
    found = (cell.get("metadata") or {}).get("tags") or []
    return [str(tag) for tag in found] if isinstance(found, list) else []


def kernel_name(notebook: Mapping[str, Any], default: str = "python3") -> str:
    spec = (notebook.get("metadata") or {}).get("kernelspec") or {}
    name = spec.get("name") if isinstance(spec, dict) else None
    return name if isinstance(name, str) and name else default


def _assignment(name: str, value: Any) -> str:
    if not name.isidentifier():
        msg = f"parameter name {name!r} is not a Python identifier"
        raise SpecError(msg)
    return f"{name} = {value!r}"


def inject_parameters(notebook: Any, parameters: Mapping[str, Any]) -> Any:
    """As papermill does: a new code cell tagged `injected-parameters`, after the cell tagged
    `parameters` (or first when there is none), replacing an earlier injected cell. Python
    kernels only: values are written with `repr`."""
    import nbformat as untyped  # noqa: PLC0415

    nbformat: Any = untyped
    cells = [cell for cell in notebook.cells if INJECTED_TAG not in tags(cell)]
    source = "# Parameters\n" + "\n".join(_assignment(k, v) for k, v in parameters.items())
    injected = nbformat.v4.new_code_cell(source=source, metadata={"tags": [INJECTED_TAG]})
    at = next((i + 1 for i, cell in enumerate(cells) if PARAMETERS_TAG in tags(cell)), 0)
    cells.insert(at, injected)
    notebook.cells = cells
    return notebook


publish(__name__)
