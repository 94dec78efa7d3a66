"""Lazy re-exports for package `__init__`s: a name's module is imported on first use.

`import binderfed_sdk` (or a subpackage) stays cheap, and the in-session reader never loads
the HTTP clients just because they share a package with it.

`publish(__name__)`, the last line of a module that defines public classes, names them after
the package that exports them, as httpx does: reprs, tracebacks and pickles show
`binderfed_sdk.BuildFailed`, not the private `binderfed_sdk._errors.BuildFailed`.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# package -> {public name: absolute module defining it}; filled as packages are imported, and a
# package's `__init__` always runs before its submodules, so `publish` finds its entries
_EXPORTED: dict[str, dict[str, str]] = {}


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package`, whose public names live in `exports`
    (name -> module, absolute or relative to the package)."""
    namespace = importlib.import_module(package).__dict__
    _EXPORTED[package] = {
        # only one level of relative names is used: "._client" is package + "._client"
        name: package + module if module.startswith(".") else module
        for name, module in exports.items()
    }

    def __getattr__(name: str) -> Any:  # noqa: N807 - a module's own __getattr__
        module = exports.get(name)
        if module is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *exports})

    return __getattr__, __dir__


def publish(module: str) -> None:
    """Set `__module__` of `module`'s exported classes to the shortest package exporting them."""
    namespace = sys.modules[module].__dict__
    done: set[str] = set()
    for package in sorted(_EXPORTED, key=len):  # binderfed_sdk before binderfed_sdk.hub
        for name, where in _EXPORTED[package].items():
            value = namespace.get(name) if where == module else None
            if not isinstance(value, type) or name in done:
                continue
            done.add(name)
            value.__module__ = package
            # pydantic resolves a deferred model's annotations when it first validates, in the
            # module `__module__` names; a parent namespace keeps them resolving where they were
            # written (the package's namespace has no `datetime`, no sibling models)
            model: Any = value  # a pydantic model, if it has fields
            if (
                hasattr(model, "__pydantic_fields__")
                and model.__pydantic_parent_namespace__ is None
            ):
                model.__pydantic_parent_namespace__ = namespace
