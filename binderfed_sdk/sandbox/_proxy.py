"""JupyterHub's configurable-http-proxy for the sandbox, without root or a global install.

On the PATH it is used as it is; otherwise `sandbox up` installs it once with npm into the
user's cache folder (`<cache>/binderfed/node`, `$XDG_CACHE_HOME` or `~/.cache`) and uses it
from there. A lock keeps two `up`s from installing at once; the install is bounded in time
and made in a staging folder, so an interrupted one leaves nothing half-installed in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from binderfed_sdk._errors import SandboxError
from binderfed_sdk._format import format_duration
from binderfed_sdk.sandbox._lock import file_lock

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["cache_root", "find_proxy", "installed_proxy"]

PROXY = "configurable-http-proxy"
INSTALL_TIMEOUT = 300.0
#: a second `up` waits for the first one's install, a little longer than the install may take
LOCK_TIMEOUT = INSTALL_TIMEOUT + 30.0


def cache_root() -> Path:
    """The user's cache folder: `$XDG_CACHE_HOME` (when absolute, as the spec says), else
    `~/.cache`."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"


def node_prefix() -> Path:
    return cache_root() / "binderfed" / "node"


def installed_proxy() -> Path:
    """Where the cached install puts the command."""
    return node_prefix() / "node_modules" / ".bin" / PROXY


def find_proxy(say: Callable[[str], None]) -> str:
    """The configurable-http-proxy command: on the PATH, else the cached install, else
    installed now (npm with a local prefix)."""
    found = shutil.which(PROXY)
    if found is not None:
        return found
    target = installed_proxy()
    if not target.exists():
        _install(say)
    if shutil.which("node") is None:  # the cached command is a Node.js script
        msg = f"Node.js is missing: {PROXY} (in {node_prefix()}) runs on it; install Node.js"
        raise SandboxError(msg)
    return str(target)


def _install(say: Callable[[str], None]) -> None:
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        msg = (
            f"{PROXY} is not on the PATH, and npm and Node.js, which would install it, are "
            f"missing: install Node.js with npm (or {PROXY}), then run this again"
        )
        raise SandboxError(msg)
    prefix = node_prefix()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(
        prefix.parent / "node.lock",
        timeout=LOCK_TIMEOUT,
        waiting=lambda: say(f"waiting for another install of {PROXY} to finish..."),
        busy=f"another {PROXY} install holds its lock for too long; try again",
    ):
        if installed_proxy().exists():  # another `up` installed it while we waited
            return
        staging = prefix.with_name(f"node.installing-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        say(f"installing {PROXY} into {prefix} with npm (once)...")
        started = time.monotonic()
        try:
            _run_npm(
                [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund",
                 "--no-update-notifier", "--loglevel=error", PROXY],
                say,
            )  # fmt: skip
            if not (staging / "node_modules" / ".bin" / PROXY).exists():
                msg = f"npm finished but did not install the {PROXY} command"
                raise SandboxError(msg)
            shutil.rmtree(prefix, ignore_errors=True)  # what an interrupted run left
            staging.rename(prefix)  # the .bin link is relative: it moves with its folder
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        say(f"installed {PROXY} in {format_duration(time.monotonic() - started)}")


def _run_npm(command: list[str], say: Callable[[str], None]) -> None:
    """Run npm, its output lines through `say`; stopped (its whole group) past the deadline."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    tail: list[str] = []

    def relay() -> None:
        assert process.stdout is not None  # noqa: S101
        for line in process.stdout:
            text = line.rstrip()
            if text:
                tail[:] = [*tail[-4:], text]
                say(f"npm: {text}")

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    try:
        code = process.wait(INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        msg = f"npm did not install {PROXY} within {format_duration(INSTALL_TIMEOUT)}"
        raise SandboxError(msg) from None
    except BaseException:  # Ctrl-C: npm runs in its own session, so stop it here
        _kill_group(process)
        raise
    finally:
        reader.join(5)
    if code != 0:
        last = tail[-1] if tail else "no output"
        msg = f"npm could not install {PROXY} (exit {code}): {last}"
        raise SandboxError(msg)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
