"""JSON from outside (a hub, a member list, a Jupyter server's record): one rule for what
cannot be read, so that every reader fails the same way and none with `RecursionError`."""

from __future__ import annotations

import json
from typing import Any

#: the default size limit of one JSON answer or file (a hub's answers are a few KiB)
MAX_JSON_BYTES = 4 << 20


def loads(data: str | bytes) -> Any:
    """`json.loads` that fails only with `ValueError`, whose text says why without quoting the
    data (it may hold a token): not JSON, or nested deeper than the interpreter's recursion
    limit (the C decoder gives up at once on that, so the check costs nothing)."""
    try:
        return json.loads(data)
    except RecursionError:
        msg = f"JSON nested too deeply ({len(data)} bytes)"
        raise ValueError(msg) from None
    except json.JSONDecodeError as exc:
        msg = f"not JSON ({exc.msg} at char {exc.pos} of {len(data)})"
        raise ValueError(msg) from None
    except ValueError:  # bytes that are not UTF-8/16/32
        msg = f"not JSON ({len(data)} bytes)"
        raise ValueError(msg) from None
