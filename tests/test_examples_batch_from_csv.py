"""
examples/batch_from_csv.py: a CSV of hundreds of rows through one journaled batch,
interrupted part-way and resumed, against the in-process emulator in virtual time on both
backends; and its ``--demo``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from a1art_async import AsyncClient, BatchOutcome
from a1art_async.testing import Emulator

from ._examples import load_example

KEY = "csv-test-key"
ROWS = 240
#: A RAM-backed directory when there is one: the journal commits durably on every write,
#: and a disk's fsyncs would dominate these tests' wall time.
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


example = load_example("batch_from_csv")


@pytest.fixture
def anyio_backend(virtual_backend: Any) -> Any:
    return virtual_backend


@pytest.fixture
def workdir() -> Iterator[Path]:
    """
    A fresh directory for the CSV and its journal.
    """
    with tempfile.TemporaryDirectory(dir=FAST_TMP) as directory:
        yield Path(directory)


@pytest.mark.anyio
async def test_an_interrupted_run_resumes_and_pays_once_per_row(workdir: Path) -> None:
    """
    A run cancelled after a third of the rows, then run again with the same journal,
    ends every row, and no row is generated twice: rows whose generate was in flight at
    the interruption end as outcome unknown instead of being resent.
    """
    emulator = Emulator(api_key=KEY, balance=ROWS * 2, seed=1)
    path, journal = workdir / "jobs.csv", workdir / "jobs.sqlite"
    example.write_sample(path, ROWS)
    first: list[BatchOutcome] = []
    async with AsyncClient(api_key=KEY, transport=emulator.transport()) as client:
        with anyio.CancelScope() as interruption:

            def interrupt(outcome: BatchOutcome) -> None:
                first.append(outcome)
                if len(first) == ROWS // 3:
                    interruption.cancel()

            await example.run_csv(client, path, journal=journal, on_outcome=interrupt)
        assert interruption.cancelled_caught
        second = await example.run_csv(client, path, journal=journal, concurrency=32)
    tasks = {record.task_id for record in emulator.tasks.values()}
    assert ROWS // 3 == len(first)
    assert ROWS == second.done + second.unknown
    assert 0 == second.failed
    assert second.earlier >= len(first)
    assert ROWS - second.unknown <= emulator.generate_calls() <= ROWS
    assert emulator.generate_calls() == len(tasks)


@pytest.mark.anyio
async def test_the_budget_stops_submitting_and_a_rerun_finishes(workdir: Path) -> None:
    """
    With a budget of 30 credits only the 15 rows it covers at their most are submitted
    (the app carries a `cost` of 2, so each reserves 2); the rest fail as over budget
    without a request, and a rerun with a larger budget finishes them.
    """
    emulator = Emulator(api_key=KEY, balance=1000, seed=2)
    path, journal = workdir / "jobs.csv", workdir / "jobs.sqlite"
    example.write_sample(path, 80)
    async with AsyncClient(api_key=KEY, transport=emulator.transport()) as client:
        capped = await example.run_csv(client, path, journal=journal, budget=30)
        rest = await example.run_csv(client, path, journal=journal, budget=200)
    assert (15, 65) == (capped.done, capped.failed)
    assert (80, 15, 130) == (rest.done, rest.earlier, rest.credits)
    assert 80 == emulator.generate_calls()


@pytest.mark.anyio
async def test_the_demo_interrupts_and_resumes(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    The example's ``--demo`` (here with 150 rows) interrupts its first run, resumes it,
    and sends at most one generate request per row.
    """
    await example.demo(150, workdir)
    out = capsys.readouterr().out
    assert "-- interrupted --" in out
    assert "first run: interrupted after 50 rows" in out
    assert "for 150 rows, none twice" in out
    sent = re.search(r"generate requests: (\d+) for 150 rows", out)
    assert sent is not None
    assert int(sent[1]) <= 150
