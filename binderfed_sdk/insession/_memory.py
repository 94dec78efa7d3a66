"""Memory used and its limit: the cgroup files (v2, v1), else the process tree via psutil."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping


DEFAULT_CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
#: cgroup v1 writes "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 on 4 KiB pages)
_V1_UNLIMITED = 1 << 62


# --- cgroup files --------------------------------------------------------------------------


@dataclass(frozen=True)
class CgroupLayout:
    """Where this process's cgroup files are (found once; membership does not change)."""

    version: Literal[1, 2]
    memory_dir: Path | None
    cpu_dir: Path | None


@dataclass(frozen=True)
class CgroupReading:
    version: Literal[1, 2]
    #: working set: usage minus inactive file cache (what kubelet and the OOM killer weigh)
    memory_used: int | None
    memory_limit: int | None
    cpu_seconds: float | None
    #: the files whose content was not a figure, and why (each read as unknown)
    notes: tuple[str, ...] = ()


def _own_paths(proc_cgroup: str) -> tuple[str | None, dict[str, str]]:
    """From /proc/self/cgroup: the v2 path (`0::/path`) and the v1 path of each controller."""
    v2: str | None = None
    v1: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            v2 = path
        else:
            for controller in controllers.split(","):
                v1[controller] = path
    return v2, v1


def _first_dir(candidates: Iterable[Path], marker: str) -> Path | None:
    for candidate in candidates:
        if (candidate / marker).is_file():
            return candidate
    return None


def find_cgroup(
    root: str | Path = DEFAULT_CGROUP_ROOT, proc_cgroup: str | None = None
) -> CgroupLayout | None:
    """The cgroup folders holding this process's memory and CPU figures, under `root`.

    `proc_cgroup` is the text of /proc/self/cgroup (read when None). In a container the
    cgroup is usually mounted at the root itself; otherwise the process's own path under the
    root is tried first. v2 (`memory.current`) wins over v1 (`memory/memory.usage_in_bytes`).
    """
    root = Path(root)
    if proc_cgroup is None:
        try:
            proc_cgroup = PROC_SELF_CGROUP.read_text()
        except OSError:
            proc_cgroup = ""
    v2_path, v1_paths = _own_paths(proc_cgroup)

    def under(base: Path, path: str | None) -> list[Path]:
        relative = (path or "/").strip("/")
        return [base / relative, base] if relative else [base]

    v2_dir = _first_dir(under(root, v2_path), "memory.current")
    if v2_dir is not None:
        cpu = v2_dir if (v2_dir / "cpu.stat").is_file() else None
        return CgroupLayout(version=2, memory_dir=v2_dir, cpu_dir=cpu)

    memory_dir = _first_dir(under(root / "memory", v1_paths.get("memory")), "memory.usage_in_bytes")
    cpu_dir: Path | None = None
    for name in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu"):
        cpu_dir = _first_dir(under(root / name, v1_paths.get("cpuacct")), "cpuacct.usage")
        if cpu_dir is not None:
            break
    if memory_dir is None and cpu_dir is None:
        return None
    return CgroupLayout(version=1, memory_dir=memory_dir, cpu_dir=cpu_dir)


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return None
    try:
        return os.read(fd, 65536)
    except OSError:
        return None
    finally:
        os.close(fd)


#: cgroup counters are unsigned 64-bit; anything outside is no figure
_MAX_COUNTER = (1 << 64) - 1


def _int(data: bytes | None) -> int | None:
    """A counter, or None: not a whole number from 0 to 2^64 - 1 (the kernel writes none
    other; anything else is a broken or foreign file)."""
    if data is None:
        return None
    try:
        value = int(data)
    except ValueError:  # not a number, or more digits than int() reads
        return None
    return value if 0 <= value <= _MAX_COUNTER else None


def stat_value(data: bytes | None, key: str) -> int | None:
    """The number after `key` in a flat-keyed cgroup file (memory.stat, cpu.stat)."""
    if data is None:
        return None
    needle = key.encode() + b" "
    if data.startswith(needle):
        at = len(needle)
    else:
        found = data.find(b"\n" + needle)
        if found < 0:
            return None
        at = found + 1 + len(needle)
    end = data.find(b"\n", at)
    return _int(data[at : end if end >= 0 else None])


def v2_memory_max(data: bytes | None) -> int | None:
    """memory.max: bytes, or "max" (no limit)."""
    if data is None or data.strip() == b"max":
        return None
    return _int(data)


def v1_memory_limit(data: bytes | None) -> int | None:
    """memory.limit_in_bytes: bytes; a huge value (PAGE_COUNTER_MAX) means no limit."""
    value = _int(data)
    return None if value is None or value >= _V1_UNLIMITED else value


def _working_set(usage: int | None, stat: bytes | None, key: str) -> int | None:
    if usage is None:
        return None
    inactive = stat_value(stat, key) or 0
    return usage - inactive if inactive <= usage else usage


class _Files:
    """Reads the files of one reading, noting each one present but holding no figure."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def read(self, folder: Path, name: str) -> bytes | None:
        return _read(f"{folder}/{name}")

    def number(self, folder: Path, name: str) -> int | None:
        return self.checked(name, self.read(folder, name), _int)

    def checked(
        self, name: str, data: bytes | None, parse: Callable[[bytes | None], int | None]
    ) -> int | None:
        if data is not None and data.strip() != b"max" and _int(data) is None:
            self.notes.append(f"{name}: not a byte or time counter, read as unknown")
        return parse(data)

    def stat(self, name: str, data: bytes | None, key: str) -> int | None:
        value = stat_value(data, key)
        if value is None and data is not None and _has_key(data, key):
            self.notes.append(f"{name}: {key} is not a counter, read as unknown")
        return value


def _has_key(data: bytes, key: str) -> bool:
    needle = key.encode() + b" "
    return data.startswith(needle) or b"\n" + needle in data


def read_cgroup(layout: CgroupLayout) -> CgroupReading:
    """One reading of the small cgroup files: a handful of `read()`s, no subprocess. A file
    that holds no figure (garbage, a negative or out-of-range number) counts as unknown,
    with a note saying so."""
    memory, cpu = layout.memory_dir, layout.cpu_dir
    files = _Files()
    used: int | None = None
    limit: int | None = None
    cpu_seconds: float | None = None
    if layout.version == 2:
        if memory is not None:
            usage = files.number(memory, "memory.current")
            stat = files.read(memory, "memory.stat")
            files.stat("memory.stat", stat, "inactive_file")
            used = _working_set(usage, stat, "inactive_file")
            limit = files.checked("memory.max", files.read(memory, "memory.max"), v2_memory_max)
        if cpu is not None:
            usec = files.stat("cpu.stat", files.read(cpu, "cpu.stat"), "usage_usec")
            cpu_seconds = usec / 1e6 if usec is not None else None
    else:
        if memory is not None:
            usage = files.number(memory, "memory.usage_in_bytes")
            stat = files.read(memory, "memory.stat")
            files.stat("memory.stat", stat, "total_inactive_file")
            used = _working_set(usage, stat, "total_inactive_file")
            data = files.read(memory, "memory.limit_in_bytes")
            limit = files.checked("memory.limit_in_bytes", data, v1_memory_limit)
        if cpu is not None:
            nsec = files.number(cpu, "cpuacct.usage")
            cpu_seconds = nsec / 1e9 if nsec is not None else None
    return CgroupReading(
        version=layout.version,
        memory_used=used,
        memory_limit=limit,
        cpu_seconds=cpu_seconds,
        notes=tuple(files.notes),
    )


# --- psutil fallback ---------------------------------------------------------------------------


def default_process_root(environ: Mapping[str, str] | None = None) -> int:
    """The Jupyter server's PID when this process is one of its kernels (JPY_PARENT_PID is
    our parent), else this process."""
    environ = os.environ if environ is None else environ
    parent = environ.get("JPY_PARENT_PID", "")
    # a PID has at most 7 digits on Linux: anything longer is no PID (and int() of
    # thousands of digits raises)
    if len(parent) <= 10 and parent.isascii() and parent.isdigit() and int(parent) == os.getppid():
        return int(parent)
    return os.getpid()


def process_tree_rss(pid: int | None = None) -> int | None:
    """Resident memory of a process and all its descendants (kernels included), via psutil.
    Slower than the cgroup files: used only where those are missing."""
    try:
        import psutil  # noqa: PLC0415 - optional dependency, needed only without cgroups
    except ImportError:
        return None
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:  # gone or not ours: skip it
            continue
    return total
