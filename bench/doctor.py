"""`binderfed doctor` over a large generated repository: time, and growth with the file count.

A git repository of N files (half Markdown, half notebooks with the links in markdown cells)
holds 5 Binder links per file, each distinct: current badges with a `urlpath` to a file that
exists (checked in the working tree), links at a tag (checked by git), departed hosts, legacy
`/repo/` and `filepath=` links, some to files that do not exist. The doctor's full run
(`diagnose`: listing, configuration, every link, every target) and the `--check` plan
(`planned_changes`: the byte-exact rewrites) are timed on N and 2N files, the rounds of both
sizes interleaved so the machine's slow spells hit both alike; the best round is the cost, the
median beside it shows the noise. Growth is judged on the rounds' own ratios (each 2N run
over the N run just before it, under the same load), their median; the ratio of the best
times is printed beside it (on a busy machine the short run is likelier to find a quiet
moment, which biases that one upwards). Link checks are cached per URL within a run, so the
cache is cleared before each round. Targets: <= 2 s for 2,000 files and 10,000 links, and 2N
files in <= 2.2x the time of N.

    python bench/doctor.py [N]
"""

from __future__ import annotations

import gc
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from binderfed_sdk.doctor import diagnose, planned_changes
from binderfed_sdk.doctor._links import check_link

TARGET_S = 2.0
GROWTH = 2.2
ROUNDS = 9
LINKS_PER_FILE = 5


def notebook(i: int) -> str:
    return f"notebooks/part-{i // 100}/nb-{i}.ipynb"


def document(i: int) -> str:
    return f"docs/part-{i // 100}/doc-{i}.md"


def links(i: int) -> list[str]:
    base = "https://mybinder.org/v2/gh/bench/repo"
    return [
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({base}/HEAD?urlpath=lab/tree/{notebook(i)})",
        f"[at v1]({base}/v1?labpath={notebook(i)})",
        f"[old](https://gke.mybinder.org/v2/gh/bench/repo/HEAD?urlpath=lab/tree/{document(i)})",
        f"[legacy](https://mybinder.org/repo/bench/other-{i})",
        f"[file]({base}/HEAD?filepath=missing-{i}.ipynb)",
    ]


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@localhost", *args],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def generate(root: Path, files: int) -> None:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", "https://github.com/bench/repo")
    (root / "requirements.txt").write_text("numpy\n")
    for i in range(files // 2):
        text = "\n\n".join(f"Paragraph {k} of file {i}: {link}." for k, link in enumerate(links(i)))
        # a hundred files a folder, as a real repository spreads them
        for name in (document(i), notebook(i)):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / document(i)).write_text(f"# Doc {i}\n\n{text}\n")
        nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
        nb.cells = [
            nbformat.v4.new_markdown_cell("\n".join(links(i + files))),  # type: ignore[no-untyped-call]
            nbformat.v4.new_code_cell(f"x = {i}"),  # type: ignore[no-untyped-call]
        ]
        nbformat.write(nb, str(root / notebook(i)))  # type: ignore[no-untyped-call]
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench")
    git(root, "tag", "v1")


def one_run(root: Path) -> tuple[float, int, int, int]:
    check_link.cache_clear()
    gc.collect()
    started = time.perf_counter()
    report = diagnose(root)
    changes = planned_changes(report)
    return time.perf_counter() - started, report.files_checked, report.links_checked, len(changes)


def main() -> int:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    sizes = (files, 2 * files)
    work = Path(tempfile.mkdtemp(prefix="bench-doctor-"))
    try:
        for size in sizes:
            generate(work / str(size), size)
        times: dict[int, list[float]] = {size: [] for size in sizes}
        shape: dict[int, tuple[int, int, int]] = {}
        for _ in range(ROUNDS):
            for size in sizes:
                seconds, checked, linked, changed = one_run(work / str(size))
                times[size].append(seconds)
                shape[size] = (checked, linked, changed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'files':>6} {'documents':>9} {'links':>6} {'rewrites':>8} {'best s':>7} {'median s':>8}"
    )
    for size in sizes:
        checked, linked, changed = shape[size]
        best, median = min(times[size]), statistics.median(times[size])
        print(f"{size:>6} {checked:>9} {linked:>6} {changed:>8} {best:>7.3f} {median:>8.3f}")
    small, large = min(times[sizes[0]]), min(times[sizes[1]])
    paired = statistics.median(b / a for a, b in zip(times[sizes[0]], times[sizes[1]], strict=True))
    fast = small <= TARGET_S
    linear = paired <= GROWTH
    print(f"{files} files: {small:.3f} s (target <= {TARGET_S} s): {'ok' if fast else 'SLOW'}")
    print(
        f"{2 * files} / {files} files: {paired:.2f}x, median of the rounds' ratios (best times: "
        f"{large / small:.2f}x) (target <= {GROWTH}x): {'ok' if linear else 'NOT LINEAR'}"
    )
    return 0 if fast and linear else 1


if __name__ == "__main__":
    sys.exit(main())
