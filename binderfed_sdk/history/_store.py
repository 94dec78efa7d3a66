"""The local launch history: one JSON line per launch in the user's cache folder.

`<cache>/binderfed/history.jsonl` (`$XDG_CACHE_HOME`, else `~/.cache`), or the file
`$BINDERFED_HISTORY_FILE` names. Off with `BINDERFED_HISTORY=0` (also `off`, `false`, `no`)
or `History(enabled=False)`. Each line: the spec (credentials masked), its routing key, the
resolved commit, the member, the timeline, when, and how routing chose the member. Never a
token: a record is made of named fields only, and the spec and hub URL pass `redact`.

Bounded: when an append takes the file past `max_bytes` (default 1 MiB, some 2,000
launches), the newest records that fit in half of it are kept (written whole to a temporary
file, then renamed into place). A reader takes at most the last `max_bytes` of the file and
skips lines it cannot read, so a damaged or foreign file never stops a launch.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, ValidationError

from binderfed_sdk._errors import ConfigError
from binderfed_sdk._files import write_private
from binderfed_sdk._redact import redact
from binderfed_sdk.federation._routing import routing_key
from binderfed_sdk.hub._timeline import Timeline

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from binderfed_sdk.hub._async_session import AsyncSession
    from binderfed_sdk.hub._session import Session
    from binderfed_sdk.spec._spec import Spec

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ENV_HISTORY",
    "ENV_HISTORY_FILE",
    "History",
    "LaunchRecord",
    "Route",
    "default_path",
    "history_enabled",
    "make_record",
]

ENV_HISTORY = "BINDERFED_HISTORY"
ENV_HISTORY_FILE = "BINDERFED_HISTORY_FILE"
DEFAULT_MAX_BYTES = 1 << 20
_OFF = frozenset({"0", "off", "false", "no"})
_MIN_BYTES = 4096
SCHEMA = 1


class Route(BaseModel):
    """How routing chose the member: the policy, its choice and what the weights drew (None:
    a policy that does not follow the weights, such as `pinned`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    policy: str
    chosen: str
    weights: str | None = None


class LaunchRecord(BaseModel):
    """One launch, as the history keeps it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: int = SCHEMA
    at: datetime
    spec: str
    #: the redirector's routing key (`routing_key(spec.build_path)`): a GitHub repository's
    #: refs share it, as they share a member on mybinder.org
    key: str
    #: `provider/repository`, without the ref: how `binderfed history` groups launches
    repo: str
    commit: str | None = None
    member: str | None = None
    timeline: Timeline | None = None
    route: Route | None = None

    @property
    def ready(self) -> bool:
        return self.timeline is not None and self.timeline.outcome == "ready"


def _cache_root(environ: Mapping[str, str]) -> Path:
    # the same rule as the sandbox's cache (XDG when absolute, else ~/.cache); not imported
    # from it: only the CLI may import the sandbox
    xdg = environ.get("XDG_CACHE_HOME", "")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"


def history_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False when `BINDERFED_HISTORY` is `0`, `off`, `false` or `no`."""
    env = os.environ if environ is None else environ
    return env.get(ENV_HISTORY, "").strip().lower() not in _OFF


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$BINDERFED_HISTORY_FILE`, else `<cache>/binderfed/history.jsonl`."""
    env = os.environ if environ is None else environ
    named = env.get(ENV_HISTORY_FILE, "").strip()
    return Path(named) if named else _cache_root(env) / "binderfed" / "history.jsonl"


def _scrub(text: str) -> str:
    """`redact`, also of credentials percent-encoded into a spec (a `git` spec's clone URL):
    then the decoded text, masked, is kept instead."""
    decoded = unquote(text)
    masked = redact(decoded)
    return masked if masked != decoded else redact(text)


def make_record(
    session: Session | AsyncSession,
    *,
    spec: Spec | None = None,
    route: Route | None = None,
    at: datetime | None = None,
) -> LaunchRecord:
    """The record of a launched session (its spec, member, timeline); no token."""
    launched = spec or session.spec
    if launched is None:
        msg = "a launch record needs the session's spec"
        raise ConfigError(msg)
    timeline = session.timeline
    member = session.member or (timeline.member if timeline else None) or session.hub
    return LaunchRecord(
        at=at or datetime.now(UTC),
        spec=_scrub(str(launched)),
        key=_scrub(routing_key(launched.build_path)),
        repo=_scrub(f"{launched.provider}/{launched.repo}"),
        commit=timeline.commit if timeline else None,
        member=redact(member) if member else None,
        timeline=timeline.with_member(redact(member) if member else None) if timeline else None,
        route=route,
    )


class History:
    """The history file: `append` a record, read `records()` (oldest first)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        enabled: bool | None = None,
    ) -> None:
        if max_bytes < _MIN_BYTES:
            msg = f"history max_bytes must be at least {_MIN_BYTES}, got {max_bytes}"
            raise ConfigError(msg)
        self.path = Path(path) if path is not None else default_path()
        self.max_bytes = max_bytes
        self.enabled = history_enabled() if enabled is None else enabled

    def __repr__(self) -> str:
        return f"History({str(self.path)!r}, enabled={self.enabled})"

    def append(self, record: LaunchRecord) -> bool:
        """Add one record (False when the history is off or the record is too large)."""
        if not self.enabled:
            return False
        line = (record.model_dump_json(exclude_none=True) + "\n").encode()
        if len(line) > self.max_bytes // 2:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # one write of a whole line with O_APPEND: lines of launches at once do not interleave
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > self.max_bytes:
            self._trim()
        return True

    def _tail(self, limit: int) -> bytes:
        try:
            with self.path.open("rb") as file:
                file.seek(0, os.SEEK_END)
                size = file.tell()
                file.seek(max(0, size - limit))
                data = file.read(limit)
        except OSError:
            return b""
        if size > limit:  # the first line is cut: drop it
            data = data.partition(b"\n")[2]
        return data

    def _trim(self) -> None:
        keep: list[bytes] = []
        budget = self.max_bytes // 2
        for line in reversed(self._tail(self.max_bytes * 2).splitlines(keepends=True)):
            if len(line) > budget:
                break
            budget -= len(line)
            keep.append(line)
        write_private(self.path, b"".join(reversed(keep)))

    def records(self) -> list[LaunchRecord]:
        """The records, oldest first; unreadable lines skipped."""
        found: list[LaunchRecord] = []
        for line in self._tail(self.max_bytes).splitlines():
            if not line.strip():
                continue
            with contextlib.suppress(ValidationError, ValueError):
                found.append(LaunchRecord.model_validate_json(line))
        return found

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def for_target(records: Iterable[LaunchRecord], key: str | None) -> list[LaunchRecord]:
    """The records of one routing key (all of them for None)."""
    return [r for r in records if key is None or r.key == key]
