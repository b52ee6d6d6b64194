"""
A worker stopped with Ctrl-C (SIGINT) or SIGTERM in the middle of a shard: the shard
goes back to the queue at once, the jobs whose paid request was on its way become unknown when the
next worker reaches them and are never sent again, and the others end done.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import psycopg
import pytest

from a1art_async.testing import apps

from ._postgres import dsn, postgres_cluster  # noqa: F401 - fixtures
from .test_emulator_server import _serving

JOBS = 24
A1ART = [sys.executable, "-m", "a1art_async"]


@pytest.fixture
def anyio_backend() -> str:
    # The workers are subprocesses; this test only starts, interrupts and waits for them.
    return "asyncio"


def _states(url: str) -> dict[str, str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT key, state FROM a1art_jobs").fetchall()
    return dict(rows)


def _queued(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize(("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
async def test_a_stopped_worker_requeues_its_shard_and_never_resends_what_was_in_flight(
    dsn: str,  # noqa: F811
    tmp_path: Path,
    stop: signal.Signals,
    status: int,
) -> None:
    """
    Ctrl-C (exit 130) or SIGTERM (exit 0) while generates are in flight: the worker's
    shard is queued again at once, and a second worker ends every in-flight job unknown
    and every other done, with one generate per job that ever left.
    """
    jobs = tmp_path / "jobs.jsonl"
    row = {"app": apps.TEXT, "prompt": "tide", "style": "Seaside Town", "aspect": "1:1"}
    jobs.write_text("".join(json.dumps({**row, "key": f"j{n}"}) + "\n" for n in range(JOBS)))
    slow_generates = ["--fault", "latency=3", "--fault", 'endpoints=["generate"]']
    async with _serving("--time-scale", "0.02", *slow_generates) as (_, banner):
        common = ["--api-key", banner["api_key"], "--base-url", banner["base_url"]]
        enqueue = [*A1ART, "batch", str(jobs), "--journal", dsn, "--batch", "i"]
        done = await anyio.run_process([*enqueue, "--workers", "0", *common], check=False)
        assert 0 == done.returncode, done.stderr.decode()
        work = [*A1ART, "worker", "--journal", dsn, "--batch", "i", "--until-done"]
        work += ["--concurrency", "4", "--time-scale", "0.02", *common]
        first = await anyio.open_process(work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(600):  # until a generate is on its way (30 s at most)
            if "submitting" in _states(dsn).values():
                break
            await anyio.sleep(0.05)
        first.send_signal(stop)
        with anyio.fail_after(30):
            await first.wait()
        in_flight = {key for key, state in _states(dsn).items() if state == "submitting"}
        requeued = _queued(dsn)
        async with httpx.AsyncClient(base_url=banner["base_url"]) as http:
            await http.post("/_emulator/faults", json={"latency": 0.0})
            second = await anyio.run_process(work, check=False)
            journal = (await http.get("/_emulator/journal")).json()
    states = _states(dsn)
    created = [e for e in journal if e["endpoint"] == "generate" and e["outcome"] == "ok"]
    assert status == first.returncode
    assert 0 == second.returncode, second.stderr.decode()
    assert in_flight
    assert 1 == requeued
    assert dict.fromkeys(in_flight, "unknown") == {k: s for k, s in states.items() if s != "done"}
    assert JOBS == len(states)
    assert len(created) == JOBS
