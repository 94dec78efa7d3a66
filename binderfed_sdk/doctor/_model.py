"""What the doctor reports: findings, and the edits that fix some of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from binderfed_sdk._lazy import publish

__all__ = ["SEVERITIES", "Edit", "Finding", "Severity"]

Severity = Literal["error", "warning", "info"]
#: from worst to mildest
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace `old` at characters [start, end) of a file's text (decoded with
    surrogateescape, so that writing it back gives the same bytes) by `new`."""

    start: int
    end: int
    old: str
    new: str
    #: the file does not exist yet: the edit creates it with `new`
    create: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where (`path` relative to the checked folder, or the URL; `line` from 1,
    0 for the file as a whole), how bad, what, and the fix (`fix`: in words or the new text;
    `edit`: set when `--fix` can apply it)."""

    path: str
    line: int
    severity: Severity
    code: str
    message: str
    fix: str | None = None
    edit: Edit | None = None

    @property
    def fixable(self) -> bool:
        return self.edit is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("edit")
        data["fixable"] = self.fixable
        return data

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


publish(__name__)  # public classes show as binderfed_sdk.doctor.X
