"""
A batch killed with SIGKILL part-way loses no job and pays for none twice when it is
run again with the same journal.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from .test_emulator_server import _serving

SCRIPT = Path(__file__).parent / "scripts" / "journaled_batch.py"
JOBS = 24


def _submitted(journal: Path) -> int:
    try:
        with sqlite3.connect(journal) as db:
            row = db.execute("SELECT COUNT(*) FROM jobs WHERE state != 'submitting'").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


@pytest.fixture
def anyio_backend() -> str:
    # One backend suffices: the batch runs in subprocesses; this test only waits on them.
    return "asyncio"


@pytest.mark.anyio
async def test_sigkill_then_resume_finishes_every_job_once(tmp_path: Path) -> None:
    """
    Kill the batch once a third of its jobs are recorded, run it again: every job ends
    exactly once and the server saw one generate per job at most.
    """
    journal = tmp_path / "run.sqlite"
    async with _serving("--time-scale", "0.05", "--balance", "1000") as (_, banner):
        command = [
            sys.executable,
            str(SCRIPT),
            banner["base_url"],
            banner["api_key"],
            str(journal),
            str(JOBS),
        ]
        first = await anyio.open_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        async with first:
            with anyio.fail_after(60):
                while _submitted(journal) < JOBS // 3:  # noqa: ASYNC110 - another process writes it
                    await anyio.sleep(0.01)
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert -signal.SIGKILL == first.returncode

        with anyio.fail_after(120):
            second = await anyio.run_process(command, check=False)
        assert 0 == second.returncode, second.stderr.decode()
        lines = [line.split() for line in second.stdout.decode().splitlines()]
        async with httpx.AsyncClient(base_url=banner["base_url"]) as http:
            stats = (await http.get("/_emulator/stats")).json()

    assert JOBS == len(lines) == len({key for key, _, _ in lines})
    states = [state for _, state, _ in lines]
    done = {task for _, state, task in lines if state == "done"}
    unknown = states.count("unknown")
    assert JOBS == len(done) + unknown
    assert len(done) <= stats["generate_calls"] <= len(done) + unknown
