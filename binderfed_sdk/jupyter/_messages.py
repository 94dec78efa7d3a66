"""Jupyter messages over the kernel websocket, and what an execution produced.

Messages are made with jupyter_client's message model (`jupyter_client.session.Session.msg`)
and travel as the server's JSON text frames (no subprotocol asked for: the server then uses
its JSON form); the websocket itself is httpx-ws's. Replies are read into an
`ExecutionResult`, whose `outputs` are nbformat's output dicts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from binderfed_sdk._lazy import publish

__all__ = ["ExecutionResult", "Outputs", "execute_request", "strip_ansi"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


def _json_default(value: Any) -> Any:
    from datetime import date  # noqa: PLC0415 - only when a message holds a date

    if isinstance(value, date):
        return value.isoformat()
    msg = f"cannot send {type(value).__name__} in a Jupyter message"
    raise TypeError(msg)


class _Factory:
    """jupyter_client's message model, made once per kernel connection (one session id)."""

    def __init__(self) -> None:
        from jupyter_client.session import Session  # noqa: PLC0415 - only when a kernel runs

        self._session = Session(username="binderfed")

    @property
    def session_id(self) -> str:
        return str(self._session.session)

    def message(self, msg_type: str, content: dict[str, Any], channel: str) -> tuple[str, str]:
        """(msg_id, the JSON text frame)."""
        message = self._session.msg(msg_type, content=content)
        message["channel"] = channel
        message.setdefault("buffers", [])
        return str(message["header"]["msg_id"]), json.dumps(message, default=_json_default)


def execute_request(code: str, *, silent: bool = False) -> dict[str, Any]:
    return {
        "code": code,
        "silent": silent,
        "store_history": not silent,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }


@dataclass
class ExecutionResult:
    """What one `execute` produced: its text streams, its rich outputs (nbformat output
    dicts, in order) and the value of its last expression."""

    execution_count: int | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    #: the error output, if the code raised (also in `outputs`)
    error: dict[str, Any] | None = None

    @property
    def stdout(self) -> str:
        return "".join(o["text"] for o in self.outputs if o.get("name") == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(o["text"] for o in self.outputs if o.get("name") == "stderr")

    @property
    def result(self) -> dict[str, Any] | None:
        """The `execute_result` data by MIME type (`{"text/plain": "3"}`), if any."""
        for output in self.outputs:
            if output["output_type"] == "execute_result":
                data: dict[str, Any] = output["data"]
                return data
        return None

    @property
    def display_data(self) -> list[dict[str, Any]]:
        return [o["data"] for o in self.outputs if o["output_type"] == "display_data"]


class Outputs:
    """Turns iopub messages of one execution into nbformat outputs, as nbclient does:
    consecutive stream text of one name is merged, `clear_output` honoured (also `wait`)."""

    def __init__(self) -> None:
        self.result = ExecutionResult()
        self._clear_on_next = False

    def _add(self, output: dict[str, Any]) -> None:
        if self._clear_on_next:
            self.result.outputs.clear()
            self._clear_on_next = False
        outputs = self.result.outputs
        if (
            output["output_type"] == "stream"
            and outputs
            and outputs[-1]["output_type"] == "stream"
            and outputs[-1]["name"] == output["name"]
        ):
            outputs[-1]["text"] += output["text"]
            return
        outputs.append(output)

    def iopub(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type == "stream":
            self._add({"output_type": "stream", "name": content["name"], "text": content["text"]})
        elif msg_type in {"display_data", "update_display_data"}:
            if msg_type == "update_display_data":
                return  # updates of earlier displays: nothing new to record
            self._add(
                {
                    "output_type": "display_data",
                    "data": content.get("data", {}),
                    "metadata": content.get("metadata", {}),
                }
            )
        elif msg_type == "execute_result":
            self.result.execution_count = content.get("execution_count")
            self._add(
                {
                    "output_type": "execute_result",
                    "execution_count": content.get("execution_count"),
                    "data": content.get("data", {}),
                    "metadata": content.get("metadata", {}),
                }
            )
        elif msg_type == "error":
            error = {
                "output_type": "error",
                "ename": content.get("ename", ""),
                "evalue": content.get("evalue", ""),
                "traceback": list(content.get("traceback", [])),
            }
            self.result.error = error
            self._add(error)
        elif msg_type == "clear_output":
            if content.get("wait"):
                self._clear_on_next = True
            else:
                self.result.outputs.clear()
        elif msg_type == "execute_input":
            self.result.execution_count = content.get("execution_count")


publish(__name__)
