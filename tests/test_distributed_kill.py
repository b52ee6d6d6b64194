"""
Worker processes on one distributed batch, killed with SIGKILL at random moments: every
job still ends exactly once, the emulator saw no job's generate twice, and the credits
reserved stay within the budget.
"""

from __future__ import annotations

import json
import random
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

JOBS = 60
A1ART = [sys.executable, "-m", "a1art_async"]


@pytest.fixture
def anyio_backend() -> str:
    # The workers are subprocesses; this test only starts, kills and waits for them.
    return "asyncio"


def _rows(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT state, count(*) FROM a1art_jobs GROUP BY state"
        ).fetchall()
    return {state: int(n) for state, n in rows}


@pytest.mark.slow
@pytest.mark.anyio
async def test_sigkilled_workers_lose_no_job_and_pay_for_none_twice(
    dsn: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """
    Three workers, two of them SIGKILLed mid-run, then one more: every job ends once,
    no generate was sent twice for a job, and the budget held.
    """
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        "".join(
            json.dumps(
                {
                    "key": f"job-{n}",
                    "app": apps.TEXT,
                    "prompt": f"lighthouse {n}",
                    "style": "Seaside Town",
                    "aspect": "1:1",
                }
            )
            + "\n"
            for n in range(JOBS)
        )
    )
    budget = JOBS + 10
    rng = random.Random()
    async with _serving("--time-scale", "0.05", "--balance", "1000") as (_, banner):
        common = ["--api-key", banner["api_key"], "--base-url", banner["base_url"]]
        enqueue = [*A1ART, "batch", str(jobs), "--journal", dsn, "--batch", "k"]
        enqueue += ["--workers", "0", "--budget", str(budget), *common]
        first = await anyio.run_process(enqueue, check=False)
        assert 0 == first.returncode, first.stderr.decode()
        again = await anyio.run_process(enqueue, check=False)
        assert 0 == again.returncode, again.stderr.decode()
        assert {"pending": JOBS} == _rows(dsn)

        work = [*A1ART, "worker", "--journal", dsn, "--batch", "k", "--until-done"]
        work += ["--concurrency", "4", "--heartbeat", "0.3", "--stalled-after", "1.5"]
        work += ["--time-scale", "0.05", *common]
        workers = [
            await anyio.open_process(work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        for victim in workers[:2]:
            await anyio.sleep(rng.uniform(0.3, 1.5))
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
        last = await anyio.open_process(work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with anyio.fail_after(90):
            for process in [workers[2], last]:
                await process.wait()
        for process in [workers[2], last]:
            assert process.stderr is not None
            assert 0 == process.returncode
        async with httpx.AsyncClient(base_url=banner["base_url"]) as http:
            stats = (await http.get("/_emulator/stats")).json()
            journal = (await http.get("/_emulator/journal")).json()
        status = await anyio.run_process(
            [*A1ART, "status", "--journal", dsn, "--batch", "k", "--json"], check=False
        )

    rows = _rows(dsn)
    board = json.loads(status.stdout)
    created = [
        entry["task_id"]
        for entry in journal
        if entry["endpoint"] == "generate" and entry["outcome"] == "ok"
    ]
    with psycopg.connect(dsn) as connection:
        done_tasks = [
            task
            for (task,) in connection.execute(
                "SELECT task_id FROM a1art_jobs WHERE state = 'done'"
            ).fetchall()
        ]
        spent, limit = connection.execute(
            "SELECT spent, budget FROM a1art_batches WHERE name = 'k'"
        ).fetchone()
    assert JOBS == rows.get("done", 0) + rows.get("unknown", 0) + rows.get("failed", 0)
    assert 0 == rows.get("failed", 0)
    assert len(created) == len(set(created)) == stats["generate_calls"]
    assert len(done_tasks) == len(set(done_tasks))
    assert set(done_tasks) <= set(created)
    assert rows.get("done", 0) <= len(created) <= rows.get("done", 0) + rows.get("unknown", 0)
    assert spent <= limit
    assert rows == {state: n for state, n in board["states"].items() if n}
    assert board["finished"]
