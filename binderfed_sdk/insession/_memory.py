"""Memory used and its limit: the cgroup files (v2, v1) when the cgroup is the session's own,
else the session's process tree via psutil."""

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


# --- whose cgroup ------------------------------------------------------------------------------

#: a session's processes: the Jupyter server, its kernels and terminals and what they run. A
#: cgroup holding more (a desktop session, a whole machine) is not a session's
MAX_SESSION_PROCESSES = 1024
#: sub-cgroups looked into: their processes are charged to the cgroup too
MAX_SUB_CGROUPS = 64
#: parent links followed from one process (a deeper chain counts as not the session's)
MAX_DEPTH = 128
#: "4194304\n": at most 7 digits and a newline a PID
_PID_BYTES = 8
PROC = Path("/proc")


@dataclass(frozen=True)
class Membership:
    """Who is in a cgroup, seen from the session: the Jupyter server (the root of the
    session's process tree), its descendants (kernels, terminals) and its ancestors (the
    container's entrypoint: repo2docker's, tini) are the session's; any other process is not."""

    #: processes charged to the cgroup that are not the session's (None: more than a
    #: session has, not counted)
    others: int | None
    #: the Jupyter server itself is in the cgroup
    has_root: bool

    @property
    def own(self) -> bool:
        """The cgroup's figures are the session's: the server is in it, and nothing else."""
        return self.has_root and self.others == 0


def _read_all(path: str, limit: int) -> bytes | None:
    """At most `limit` + 1 bytes of a file (a cgroup file comes a page per read)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (OSError, ValueError):
        return None
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks)


def cgroup_pids(
    folder: Path, *, max_processes: int = MAX_SESSION_PROCESSES, max_groups: int = MAX_SUB_CGROUPS
) -> tuple[frozenset[int], bool] | None:
    """The processes charged to the cgroup at `folder`: its own (`cgroup.procs`) and its
    sub-cgroups'; with False when there were more than `max_processes` (or `max_groups`
    cgroups), the set then holding only some. None: `folder` has no readable cgroup.procs."""
    limit = max_processes * _PID_BYTES
    pids: set[int] = set()
    pending = [folder]
    groups = 0
    while pending:
        group = pending.pop()
        groups += 1
        if groups > max_groups:
            return frozenset(pids), False
        data = _read_all(f"{group}/cgroup.procs", limit)
        if data is None:
            if group == folder:
                return None
            continue  # a sub-cgroup gone meanwhile
        for word in data.split():
            try:
                pids.add(int(word))
            except ValueError:
                continue
        if len(pids) > max_processes or len(data) > limit:
            return frozenset(pids), False
        try:
            with os.scandir(group) as entries:
                pending.extend(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    return frozenset(pids), True


def proc_parent(pid: int, proc: Path = PROC) -> int | None:
    """The parent PID of `pid` from /proc/<pid>/stat (None: gone, or no such process)."""
    data = _read(f"{proc}/{pid}/stat")
    if data is None:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, the last ")" ends it
    fields = data.rpartition(b")")[2].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def membership(
    pids: Iterable[int],
    root: int,
    *,
    complete: bool = True,
    parent_of: Callable[[int], int | None] = proc_parent,
) -> Membership:
    """Which of `pids` (a cgroup's processes) are the session's: `root` (the Jupyter server),
    its descendants or its ancestors. A process whose chain of parents cannot be followed to
    one of those (it is gone meanwhile, or the chain is too deep) counts as not the session's:
    a wrong "own" would show the machine's figures, a wrong "not own" only the session's."""
    parents: dict[int, int | None] = {}

    def parent(pid: int) -> int | None:
        if pid not in parents:
            parents[pid] = parent_of(pid)
        return parents[pid]

    ancestors: set[int] = set()
    at: int | None = root
    for _ in range(MAX_DEPTH):
        at = parent(at) if at is not None else None
        if not at:  # 0: above init; None: not known
            break
        ancestors.add(at)

    def session_process(pid: int) -> bool:
        if pid == root or pid in ancestors:
            return True
        at: int | None = pid
        for _ in range(MAX_DEPTH):
            at = parent(at) if at is not None else None
            if at == root:
                return True
            if not at or at in ancestors:  # a branch beside the server's, or not known
                return False
        return False

    members = set(pids)
    others = sum(1 for pid in members if not session_process(pid))
    return Membership(others=others if complete else None, has_root=root in members)


def cgroup_membership(
    folder: Path | None, root: int, *, parent_of: Callable[[int], int | None] = proc_parent
) -> Membership | None:
    """`membership` of the cgroup at `folder` (None: no folder, or no readable cgroup.procs:
    nothing tells whose it is)."""
    found = cgroup_pids(folder) if folder is not None else None
    if found is None:
        return None
    pids, complete = found
    return membership(pids, root, complete=complete, parent_of=parent_of)


class CgroupWatch:
    """The membership of one cgroup, followed from reading to reading: its processes are
    read each time (a file or a few), their parents only when they changed."""

    def __init__(
        self, folder: Path, root: int, *, parent_of: Callable[[int], int | None] = proc_parent
    ) -> None:
        self.folder = folder
        self.root = root
        self._parent_of = parent_of
        self._seen: tuple[frozenset[int], bool] | None = None
        self._membership: Membership | None = None

    def membership(self) -> Membership | None:
        found = cgroup_pids(self.folder)
        if found is None:
            self._seen = self._membership = None
        elif found != self._seen:
            pids, complete = found
            self._membership = membership(
                pids, self.root, complete=complete, parent_of=self._parent_of
            )
            self._seen = found
        return self._membership


def is_ancestor(
    ancestor: int, pid: int, parent_of: Callable[[int], int | None] = proc_parent
) -> bool:
    """`ancestor` is `pid` or one of its ancestors."""
    at: int | None = pid
    for _ in range(MAX_DEPTH):
        if at == ancestor:
            return True
        if not at:
            return False
        at = parent_of(at)
    return False


# --- the process tree -------------------------------------------------------------------------


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


@dataclass(frozen=True)
class TreeUsage:
    """What a process and its descendants use, as psutil reads it."""

    #: resident memory, summed (pages shared between processes count in each)
    rss: int
    #: CPU time of the live processes and of the descendants they have reaped
    cpu_seconds: float


def process_tree_usage(pid: int | None = None) -> TreeUsage | None:
    """Memory and CPU time of a process and all its descendants (kernels, terminals), via
    psutil (None: psutil missing, or no such process). Slower than the cgroup files (about
    1 ms): used where those are not the session's own."""
    try:
        import psutil  # noqa: PLC0415 - optional dependency, needed only without cgroups
    except ImportError:
        return None
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    rss = 0
    cpu = 0.0
    for process in processes:
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                times = process.cpu_times()
        except psutil.Error:  # gone or not ours: skip it
            continue
        cpu += times.user + times.system + times.children_user + times.children_system
    return TreeUsage(rss=rss, cpu_seconds=cpu)


def process_tree_rss(pid: int | None = None) -> int | None:
    """Resident memory of a process and all its descendants (kernels included), via psutil."""
    usage = process_tree_usage(pid)
    return usage.rss if usage is not None else None
