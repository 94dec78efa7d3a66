"""The work a cull would lose, in a real Jupyter server (pytest-jupyter): `binderfed/changes`
lists the files created or changed since the server started, `binderfed/download` streams
them as a zip (bounded, authenticated, not activity), `binderfed/memory` samples memory."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
import zipfile
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from tornado.httpclient import HTTPResponse

    Fetch = Callable[..., Awaitable[HTTPResponse]]

pytest_plugins = ("pytest_jupyter.jupyter_server",)

MIB = 1 << 20
AN_HOUR_AGO = time.time() - 3600
#: the repository's files, as the image holds them: older than the server
REPOSITORY = {
    "README.md": "# a repository\n",
    "analysis.ipynb": '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n',
    "data/input.csv": "a,b\n1,2\n",
}


@pytest.fixture
def jp_root_dir(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    for name, text in REPOSITORY.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
        os.utime(root / name, (AN_HOUR_AGO, AN_HOUR_AGO))
    return root


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest) -> Config:
    extra: dict[str, Any] = dict(getattr(request, "param", {}))
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"binderfed_jupyter": True}},
            "BinderFedApp": {"status_cache_seconds": 0.0, **extra},
        }
    )


def server_url(serverapp: Any) -> str:
    return f"http://127.0.0.1:{serverapp.port}{serverapp.base_url}"


async def get_json(jp_fetch: Fetch, *parts: str) -> dict[str, Any]:
    response = await jp_fetch(*parts, method="GET")
    answer: dict[str, Any] = json.loads(response.body)
    return answer


def the_work(root: Path) -> dict[str, bytes]:
    """What a person did in the session: a new notebook, an edited file, output in a new
    folder, and the things no one wants back (checkpoints, caches, a virtual environment)."""
    made = {
        "analysis.ipynb": b'{"cells": [{"cell_type": "code"}], "nbformat": 4}\n',
        "results/summary.txt": b"mean 1.5\n",
        "new notebook.ipynb": b'{"cells": []}\n',
        "results/figure.png": os.urandom(50_000),
    }
    for name, data in made.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    for name in (
        ".ipynb_checkpoints/analysis-checkpoint.ipynb",
        "results/__pycache__/x.cpython-311.pyc",
        ".cache/pip/http/blob",
        "myenv/lib/site.py",
        ".local/share/jupyter/runtime/kernel-1.json",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"not work")
    (root / "myenv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (root / "link-to-etc").symlink_to("/etc")
    return made


async def test_changes_list_only_new_and_changed_files(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    made = the_work(jp_root_dir)
    changes = await get_json(jp_fetch, "binderfed", "changes")
    assert {f["path"] for f in changes["files"]} == set(made)
    assert changes["count"] == len(made)
    assert changes["total_bytes"] == sum(len(data) for data in made.values())
    assert changes["over_limit"] is False
    assert changes["limit_bytes"] == 200 * MIB
    sizes = {f["path"]: f["size"] for f in changes["files"]}
    assert sizes["results/figure.png"] == 50_000


async def test_download_zips_exactly_the_changed_files(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    made = the_work(jp_root_dir)
    response = await jp_fetch("binderfed", "download", method="GET")
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="binder-work-')
    with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
        assert archive.testzip() is None
        contents = {name: archive.read(name) for name in archive.namelist()}
        stored = archive.getinfo("results/figure.png").compress_type
    assert contents == made
    assert stored == zipfile.ZIP_STORED  # a PNG is not deflated again


async def test_nothing_changed_gives_an_empty_zip(jp_fetch: Fetch) -> None:
    response = await jp_fetch("binderfed", "download", method="GET")
    with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
        assert archive.namelist() == []
    assert (await get_json(jp_fetch, "binderfed", "changes"))["count"] == 0


async def test_over_the_limit_names_the_largest_files(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    the_work(jp_root_dir)
    with (jp_root_dir / "big.bin").open("wb") as big:  # 300 MiB, sparse: no disk used
        big.truncate(300 * MIB)
    changes = await get_json(jp_fetch, "binderfed", "changes")
    assert changes["over_limit"] is True
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("binderfed", "download", method="GET")
    assert refused.value.code == 413
    assert refused.value.response is not None
    message = json.loads(refused.value.response.body)["message"]
    assert message == changes["message"]
    assert "over the download limit of 200 MiB" in message
    assert message.index("big.bin (300 MiB)") < message.index("results/figure.png (49 KiB)")


@pytest.mark.parametrize("jp_server_config", [{"download_max_bytes": 60_000}], indirect=True)
async def test_the_limit_is_a_setting(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    the_work(jp_root_dir)  # about 50 KB
    await jp_fetch("binderfed", "download", method="GET")
    (jp_root_dir / "more.txt").write_bytes(b"x" * 20_000)
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("binderfed", "download", method="GET")
    assert refused.value.code == 413


async def test_refused_without_auth_and_not_activity(
    jp_fetch: Fetch, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    the_work(jp_root_dir)
    before = (await get_json(jp_fetch, "api", "status"))["last_activity"]
    token = jp_serverapp.identity_provider.token
    for endpoint in ("download", "changes", "memory"):
        # a client of its own each time: the token's answer sets a login cookie
        async with httpx.AsyncClient(timeout=10) as client:
            url = server_url(jp_serverapp) + "binderfed/" + endpoint
            anonymous = await client.get(url)
            wrong = await client.get(url, headers={"Authorization": "token not-the-token"})
            assert (anonymous.status_code, wrong.status_code) == (403, 403), endpoint
            assert b"results/summary.txt" not in anonymous.content + wrong.content
            right = await client.get(url, headers={"Authorization": f"token {token}"})
            assert right.status_code == 200, endpoint
    after = (await get_json(jp_fetch, "api", "status"))["last_activity"]
    assert after == before


@pytest.mark.parametrize(
    "jp_server_config",
    [{"memory_sample_seconds": 1.0, "memory_window_seconds": 60.0}],
    indirect=True,
)
async def test_memory_is_sampled_into_a_bounded_ring(
    jp_fetch: Fetch, jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEM_LIMIT", str(1536 * MIB))
    monkeypatch.setenv("MEM_GUARANTEE", str(450 * MIB))
    deadline = time.monotonic() + 20
    while True:
        memory = await get_json(jp_fetch, "binderfed", "memory")
        if len(memory["samples"]) >= 3 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    samples = memory["samples"]
    assert len(samples) >= 3
    times = [t for t, _ in samples]
    assert times == sorted(times)
    assert all(0 < used < 64 * 1024 * MIB for _, used in samples)
    assert memory["window"] == 60.0
    assert memory["interval"] == 1.0
    svg = memory["svg"]
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert 'class="used"' in svg
    # the ring holds one window of samples, no more
    app = jp_serverapp.extension_manager.extension_points["binderfed"].app
    assert app._memory_samples.maxlen == 61
