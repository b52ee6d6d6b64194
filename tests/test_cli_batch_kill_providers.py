"""
``a1art batch`` on a job file of a1.art, akool and gateway rows, killed with SIGKILL
part-way and run again: every row ends once, and no API is paid twice for a row.  The
three emulators are served on loopback and the command runs in a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from a1art_async.testing import apps
from a1art_async.testing.gateway import models

from ._mixed import A1ART_KEY, AKOOL_KEY, GATEWAY_KEY, KEYS

SCALE = "0.05"
SERVERS = {
    "a1art": ("a1art_async.testing", A1ART_KEY, ["--balance", "1000"]),
    "akool": ("a1art_async.testing.akool", AKOOL_KEY, []),
    "gateway": ("a1art_async.testing.gateway", GATEWAY_KEY, []),
}
TEXT = {"app": apps.TEXT, "style": "Summer Meadow", "aspect": "1:1"}
GATEWAY_MODELS = (models.SEEDREAM, models.GPT_IMAGE, models.WANX, models.FLUX, models.KOLORS)
A1ART_ROWS = [{"key": f"a{n}", **TEXT, "prompt": f"hills {n}"} for n in range(6)]
AKOOL_ROWS: list[dict[str, Any]] = [
    *({"provider": "akool", "key": f"k{n}", "prompt": f"a sea {n}"} for n in range(4)),
    {"provider": "akool", "press": "k0", "button": "U1"},
    {"provider": "akool", "press": "k1", "button": "V2"},
]
GATEWAY_ROWS: list[dict[str, Any]] = [
    *(
        {"provider": "gateway", "key": f"g{n}", "model": model, "prompt": f"a harbour {n}"}
        for n, model in enumerate(GATEWAY_MODELS)
    ),
    {"provider": "gateway", "key": "g5", "model": models.WAN_PLUS,
     "params": {"input": {"prompt": "a pier"}}},
]  # fmt: skip
#: The providers' rows in turn, so that each has jobs on their way when the kill comes.
ROWS = [row for rows in zip(A1ART_ROWS, AKOOL_ROWS, GATEWAY_ROWS, strict=True) for row in rows]


@pytest.fixture
def anyio_backend() -> str:
    # One backend suffices: the batch runs in subprocesses; this test only waits on them.
    return "asyncio"


async def _banner(process: anyio.abc.Process) -> dict[str, str]:
    assert process.stdout is not None
    buffer = b""
    with anyio.fail_after(30):
        while b"api_key=" not in buffer or not buffer.endswith(b"\n"):
            buffer += await process.stdout.receive()
    return dict(line.split("=", 1) for line in buffer.decode().splitlines() if "=" in line)


@contextlib.asynccontextmanager
async def _served() -> AsyncIterator[dict[str, dict[str, str]]]:
    """
    The three emulators on loopback, each with its banner (``base_url=`` and so on).
    """
    banners: dict[str, dict[str, str]] = {}
    async with contextlib.AsyncExitStack() as stack:
        for name, (module, key, extra) in SERVERS.items():
            command = [sys.executable, "-m", module, "serve", "--port", "0", "--api-key", key]
            command += ["--time-scale", SCALE, "--seed", str(len(banners)), *extra]
            process = await anyio.open_process(
                command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
            await stack.enter_async_context(process)
            stack.push_async_callback(_kill, process)
            banners[name] = await _banner(process)
        yield banners


async def _kill(process: anyio.abc.Process) -> None:
    if process.returncode is None:
        process.kill()
        with anyio.CancelScope(shield=True):
            await process.wait()


async def _paid(banners: dict[str, dict[str, str]]) -> dict[str, int]:
    """
    Paid requests each emulator acted on.
    """
    fields = {"a1art": "generate_calls", "akool": "paid_requests", "gateway": "generations"}
    paid = {}
    async with httpx.AsyncClient() as http:
        for name, field in fields.items():
            stats = (await http.get(f"{banners[name]['base_url']}/_emulator/stats")).json()
            paid[name] = int(stats[field])
    return paid


def _recorded(journal: Path) -> list[str]:
    """
    The keys of the jobs whose paid request was answered (or refused) so far.
    """
    try:
        with contextlib.closing(sqlite3.connect(journal)) as db:
            rows = db.execute("SELECT key FROM jobs WHERE state != 'submitting'").fetchall()
    except sqlite3.Error:
        return []
    return [key for (key,) in rows]


def _part_way(journal: Path) -> bool:
    """
    A third of the rows journaled, some of each provider.
    """
    keys = _recorded(journal)
    return len(keys) >= len(ROWS) // 3 and 3 == len({_provider(key) for key in keys})


def _provider(key: str) -> str:
    return {"a": "a1art", "k": "akool", "g": "gateway"}[key[0]]


@pytest.mark.anyio
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
async def test_a_stopped_mixed_batch_resumes_ending_every_row_once_paying_for_none_twice(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """
    Stopped (SIGKILL, or Ctrl-C: status 130 and how to resume) once a third of a mixed
    file's rows, some of each API's, are journaled, the same command again ends every
    row exactly once, each API paid at most once per row and for every row done, with
    every done row's files saved, and no key in what it prints; after Ctrl-C, which
    waits for the answers of paid requests on their way, every row ends done.
    """
    jobs = tmp_path / "mixed.jsonl"
    jobs.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    journal = tmp_path / "mixed.jsonl.journal.sqlite"
    out = tmp_path / "out"
    async with _served() as banners:
        environment = {
            **os.environ,
            "A1ART_API_KEY": A1ART_KEY,
            "AKOOL_API_KEY": AKOOL_KEY,
            "GATEWAY_API_KEY": GATEWAY_KEY,
            "GATEWAY_BASE_URL": banners["gateway"]["base_url"],
        }
        command = [
            sys.executable, "-m", "a1art_async",
            "--base-url", banners["a1art"]["base_url"], "--time-scale", SCALE,
            "batch", str(jobs), "--akool-base-url", banners["akool"]["base_url"],
            "--concurrency", "4", "--out", str(out), "--json",
        ]  # fmt: skip
        first = await anyio.open_process(
            command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        async with first:
            with anyio.fail_after(60):
                while not _part_way(journal):  # noqa: ASYNC110 - another process writes it
                    await anyio.sleep(0.01)
            first.send_signal(stop)
            assert first.stderr is not None
            stopped = b"".join([chunk async for chunk in first.stderr]).decode()
            await first.wait()
        if stop is signal.SIGKILL:
            assert -signal.SIGKILL == first.returncode
        else:
            assert 130 == first.returncode, stopped
            assert "a1art: interrupted; run the same command again to resume" in stopped
        killed_at = await _paid(banners)

        with anyio.fail_after(60):
            second = await anyio.run_process(command, env=environment, check=False)
        paid = await _paid(banners)

    printed = stopped + (second.stdout + second.stderr).decode()
    assert second.returncode in (0, 6), printed
    assert not any(key in printed for key in KEYS)
    outcomes = {job["key"]: job for job in json.loads(second.stdout)["jobs"]}
    assert len(ROWS) == len(outcomes)
    for key, job in outcomes.items():
        if job["state"] == "failed":  # only a press on an image whose outcome is unknown
            assert "runs after" in job["error"], job
            assert "unknown" == outcomes[key.split("-")[0]]["state"]
        if job["state"] == "done":
            assert job["files"]
            assert all(Path(file).parent == out and Path(file).exists() for file in job["files"])
    assert {"done", "unknown", "failed"} >= {job["state"] for job in outcomes.values()}
    if stop is signal.SIGINT:
        # Ctrl-C let every paid request on its way bring its answer into the journal.
        assert {"done"} == {job["state"] for job in outcomes.values()}, outcomes
    for provider in ("a1art", "akool", "gateway"):
        mine = [job for key, job in outcomes.items() if _provider(key) == provider]
        done = sum(job["state"] == "done" for job in mine)
        unknown = sum(job["state"] == "unknown" for job in mine)
        assert done <= paid[provider] <= done + unknown, (provider, paid, outcomes)
    assert 0 < sum(killed_at.values()) < sum(paid.values())
