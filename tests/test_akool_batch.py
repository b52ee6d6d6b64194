"""
akool batches: creates and presses (a press runs after the row whose image it presses
on), journaled, budgeted, resumed, and killed with SIGKILL part-way; JSONL rows through
``batch_job``.
"""

from __future__ import annotations

import contextlib
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

from a1art_async import BudgetExceededError, JobState, ValidationError, akool
from a1art_async._engine._batch import PrerequisiteFailedError
from a1art_async.akool._cli import batch_job
from a1art_async.testing.akool import Emulator

from ._akool import make_client, requests_to
from ._matrix import threads_take_no_time

pytestmark = pytest.mark.anyio


class TestInVirtualTime:
    @pytest.fixture
    def anyio_backend(self, virtual_backend: object) -> object:
        return virtual_backend

    async def test_presses_run_after_their_parent_even_queued_first_with_one_worker(
        self, tmp_path: Path
    ) -> None:
        """
        With one worker and each press queued before its parent, every job ends done:
        a waiting press never holds the slot its parent needs; results are saved.
        """
        emulator = Emulator(seed=1)
        async with (
            make_client(emulator) as client,
            client.batch(
                concurrency=1, journal=tmp_path / "j.sqlite", download_to=tmp_path / "out"
            ) as batch,
        ):
            batch.press("sea", "U2")
            batch.press("sea", "V1", key="sea-variation")
            batch.add("a calm sea", key="sea", scale="3:2")
            outcomes = {o.key: o async for o in batch}
        assert {"sea", "sea-U2", "sea-variation"} == set(outcomes)
        assert all(o.state is JobState.DONE for o in outcomes.values())
        parent = emulator.image_record(outcomes["sea"].task_id or "")
        assert ["U2", "V1"] == sorted(parent.used_buttons)
        assert all(Path(o.files[0]).read_bytes().startswith(b"\x89PNG") for o in outcomes.values())
        assert 6 == emulator.charged() == sum(o.cost for o in outcomes.values())

    async def test_a_press_on_a_failed_parent_is_never_sent(self) -> None:
        """
        When the parent fails, its press ends failed (PrerequisiteFailedError) without a
        createbybutton request.
        """
        emulator = Emulator(seed=2)
        emulator.faults.task_failure_rate = 1.0
        async with make_client(emulator) as client, client.batch() as batch:
            batch.add("doomed", key="p")
            batch.press("p", "U1")
            outcomes = {o.key: o async for o in batch}
        assert isinstance(outcomes["p"].error, akool.ImageFailedError)
        assert isinstance(outcomes["p-U1"].error, PrerequisiteFailedError)
        assert [] == requests_to(emulator, "createbybutton")

    async def test_the_budget_counts_the_documented_price(self) -> None:
        """
        With a budget of 5 credits and images priced 2, two run and the third is refused
        before it is sent.
        """
        emulator = Emulator(seed=3)
        async with make_client(emulator) as client, client.batch(budget=5) as batch:
            for n in range(3):
                batch.add(f"budget {n}", key=f"b{n}")
            outcomes = [o async for o in batch]
        over = [o for o in outcomes if isinstance(o.error, BudgetExceededError)]
        assert (1, 4) == (len(over), emulator.charged())
        assert 2 == client.images.estimate("prompt").high

    async def test_a_resumed_batch_pays_for_nothing_twice(self, tmp_path: Path) -> None:
        """
        A batch left after its creates were submitted, run again with the same journal,
        polls what was submitted, presses on the results, and creates nothing again.
        """
        emulator = Emulator(seed=4)
        journal = tmp_path / "resume.sqlite"
        rows: list[dict[str, Any]] = [
            {"provider": "akool", "key": "a", "prompt": "first"},
            {"provider": "akool", "key": "b", "prompt": "second", "scale": "9:16"},
            {"provider": "akool", "press": "a", "button": "V3"},
        ]
        with threads_take_no_time():
            async with make_client(emulator) as client:
                with anyio.move_on_after(3.0):
                    async with client.batch(journal=journal) as batch:
                        for row in rows:
                            batch.add_job(batch_job(client, row, tmp_path))
                        async for _ in batch:
                            pass
            assert 2 == len(requests_to(emulator, "createbyprompt"))
            async with make_client(emulator) as client, client.batch(journal=journal) as batch:
                for row in rows:
                    batch.add_job(batch_job(client, row, tmp_path))
                outcomes = {o.key: o async for o in batch}
        assert all(o.state is JobState.DONE for o in outcomes.values())
        assert 2 == len(requests_to(emulator, "createbyprompt"))
        assert 1 == len(requests_to(emulator, "createbybutton"))
        assert 6 == emulator.charged()


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"provider": "a1art", "prompt": "x"}, "provider"),
        ({"prompt": ""}, "prompt"),
        ({"scale": "1:1"}, "prompt"),
        ({"prompt": "x", "scale": "5:4"}, "scale"),
        ({"prompt": "x", "source_image": "cat.png"}, "source_image"),
        ({"prompt": "x", "style": "Watercolor"}, "style"),
        ({"prompt": 3}, "prompt"),
        ({"press": "a", "button": "U9"}, "button"),
        ({"press": "a"}, "button"),
        ({"press": "a", "button": "U1", "prompt": "x"}, "prompt"),
    ],
)
def test_a_bad_row_names_its_field(row: dict[str, Any], field: str) -> None:
    """
    Each bad JSONL row raises ValidationError naming the field at fault.
    """
    client = akool.AsyncClient(api_key="k" * 24)  # sends nothing: rows are checked locally
    with pytest.raises(ValidationError) as refused:
        batch_job(client, row, Path())
    assert field == refused.value.field


def test_rows_become_jobs_with_documented_keys() -> None:
    """
    A create row without a key gets a stable key from what it asks for; a press row's
    is <press>-<button>, and it runs after that row.
    """
    client = akool.AsyncClient(api_key="k" * 24)
    one = batch_job(client, {"provider": "akool", "prompt": "p", "scale": "4:3"}, Path())
    two = batch_job(client, {"prompt": "p", "scale": "4:3"}, Path())
    press: Any = batch_job(client, {"press": one.key, "button": "U4"}, Path())
    assert one.key == two.key
    assert (f"{one.key}-U4", one.key) == (press.key, press.after)


# Killed part-way, over loopback HTTP ----------------------------------------------------

SCRIPT = Path(__file__).parent / "scripts" / "akool_batch.py"
SERVE = [sys.executable, "-m", "a1art_async.testing.akool", "serve", "--port", "0"]
CREATES = 12
JOBS = CREATES + CREATES // 2


@contextlib.asynccontextmanager
async def _serving(*arguments: str) -> AsyncIterator[dict[str, str]]:
    process = await anyio.open_process([*SERVE, *arguments], stdout=subprocess.PIPE)
    async with process:
        try:
            assert process.stdout is not None
            buffer = b""
            with anyio.fail_after(30):
                while buffer.count(b"\n") < 4:
                    buffer += await process.stdout.receive()
            yield dict(line.split("=", 1) for line in buffer.decode().splitlines()[:4])
        finally:
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()


def _recorded(journal: Path) -> int:
    try:
        with sqlite3.connect(journal) as db:
            row = db.execute("SELECT COUNT(*) FROM jobs WHERE state != 'submitting'").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


class TestKilled:
    @pytest.fixture
    def anyio_backend(self) -> str:
        # The batch runs in subprocesses; this test only waits on them.
        return "asyncio"

    async def test_sigkill_then_resume_ends_every_job_once_paid_once(self, tmp_path: Path) -> None:
        """
        Kill the batch once a third of its jobs are recorded, run it again: every create
        and press ends exactly once and the server made one image per job at most.
        """
        journal = tmp_path / "akool.sqlite"
        async with _serving("--time-scale", "0.05") as banner:
            command = [sys.executable, str(SCRIPT), banner["base_url"], banner["api_key"]]
            command += [str(journal), str(CREATES)]
            first = await anyio.open_process(command, stdout=subprocess.DEVNULL)
            async with first:
                with anyio.fail_after(60):
                    while _recorded(journal) < JOBS // 3:  # noqa: ASYNC110 - another process writes it
                        await anyio.sleep(0.01)
                first.send_signal(signal.SIGKILL)
                await first.wait()
            assert -signal.SIGKILL == first.returncode
            with anyio.fail_after(120):
                second = await anyio.run_process(command, check=False)
            assert 0 == second.returncode, second.stderr.decode()
            async with httpx.AsyncClient(base_url=banner["base_url"]) as http:
                stats = (await http.get("/_emulator/stats")).json()
        lines = [line.split() for line in second.stdout.decode().splitlines()]
        assert JOBS == len(lines) == len({key for key, _, _ in lines})
        done = sum(1 for _, state, _ in lines if state == "done")
        unknown = sum(1 for _, state, _ in lines if state == "unknown")
        assert JOBS == done + unknown
        assert done <= stats["paid_requests"] <= done + unknown
