"""
Gateway batches: synchronous and asynchronous models mixed in one journaled batch, each
job paid once; a synchronous answer journaled ``answered`` with its files (URLs and
inline bytes) before they are saved; budgets from the credit table; a SIGKILL part-way
and a resume.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from a1art_async import JobRecord, JobState, MemoryJournal, RetryPolicy, gateway
from a1art_async.testing.gateway import Emulator, models

KEY = "batch-key-0123456789"
SCRIPT = Path(__file__).parent / "scripts" / "gateway_batch.py"


def _params(model: str, n: int) -> dict[str, Any]:
    if model in (models.WANX, models.WAN_PLUS):
        return {"input": {"prompt": f"harbour {n}"}}
    return {"prompt": f"harbour {n}"}


def _client(emulator: Emulator, **options: Any) -> gateway.AsyncClient:
    return gateway.AsyncClient(
        api_key=KEY,
        base_url=emulator.api_origin,
        transport=emulator.transport(),
        credits=emulator.prices(),
        retry=RetryPolicy(max_retries=3, initial=0.1, cap=1.0),
        **options,
    )


class _Recording(MemoryJournal):
    """
    An in-memory journal that remembers every record in order, and can stop the run
    right after one is stored (as a process that dies there would).
    """

    def __init__(self, records: list[JobRecord] | None = None) -> None:
        super().__init__()
        self.puts: list[JobRecord] = []
        self.stop_after: JobState | None = None
        self.scope: anyio.CancelScope | None = None
        for record in records or []:
            MemoryJournal.put(self, record)

    def put(self, record: JobRecord) -> None:
        self.puts.append(record)
        super().put(record)
        if record.state is self.stop_after and self.scope is not None:
            self.scope.cancel()


async def _run(client: gateway.AsyncClient, jobs: list[tuple[str, str]], **options: Any) -> Any:
    outcomes = []
    async with client.batch(**options) as batch:
        for key, model in jobs:
            batch.add(model, key=key, **_params(model, len(outcomes)))
        async for outcome in batch:
            outcomes.append(outcome)
    return outcomes, batch.summary


class TestInProcess:
    """
    Batches against the emulator in process, on virtual time.
    """

    @pytest.fixture
    def anyio_backend(self, virtual_backend: object) -> object:
        return virtual_backend

    @pytest.mark.anyio
    async def test_a_mixed_batch_pays_each_job_once(self, tmp_path: Path) -> None:
        """
        Every model of the catalog in one batch: each job done, one generation each,
        synchronous ones journaled ``answered`` before ``done``, asynchronous ones
        ``submitted`` first, and the saved files are the pictures served.
        """
        emulator = Emulator(KEY, seed=2)
        journal = _Recording()
        every = [*models.SYNCHRONOUS, *models.ASYNCHRONOUS]
        jobs = [(f"job-{n}", model) for n, model in enumerate(every)]
        async with _client(emulator) as client:
            outcomes, summary = await _run(
                client, jobs, journal=journal, download_to=tmp_path, concurrency=3
            )
        states: dict[str, list[JobState]] = {}
        for record in journal.puts:
            states.setdefault(record.key, []).append(record.state)
        answered = [JobState.SUBMITTING, JobState.ANSWERED, JobState.DONE]
        submitted = [JobState.SUBMITTING, JobState.SUBMITTED, JobState.DONE]
        expected = {key: answered if n < 4 else submitted for n, (key, _) in enumerate(jobs)}
        assert expected == states
        assert {JobState.DONE} == {outcome.state for outcome in outcomes}
        assert len(jobs) == emulator.generation_calls() == summary.done
        assert emulator.charged() == summary.credits_spent == sum(emulator.prices().values())
        for outcome in outcomes:
            assert [Path(path).read_bytes()[:4] for path in outcome.files] == [b"\x89PNG"]

    @pytest.mark.anyio
    async def test_a_second_run_sends_nothing(self, tmp_path: Path) -> None:
        """
        The same batch run again with its journal skips every job that ended; the
        journal holds the results and never the key.
        """
        emulator = Emulator(KEY, seed=2)
        jobs = [("a", models.GPT_IMAGE), ("b", models.FLUX)]
        journal = tmp_path / "run.sqlite"
        async with _client(emulator) as client:
            await _run(client, jobs, journal=journal)
        sent = len(emulator.journal)
        async with _client(emulator) as client:
            outcomes, summary = await _run(client, jobs, journal=journal)
        assert sent == len(emulator.journal)
        assert (2, 0) == (summary.skipped, summary.done)
        assert all(outcome.from_journal for outcome in outcomes)
        inline = next(outcome for outcome in outcomes if outcome.key == "a")
        assert inline.files[0].startswith("data:image/png;base64,")
        written = [path for path in tmp_path.iterdir() if path.is_file()]
        assert written
        assert [] == [path for path in written if KEY.encode() in path.read_bytes()]

    @pytest.mark.anyio
    @pytest.mark.parametrize("model", [models.SEEDREAM, models.GPT_IMAGE])
    async def test_an_answer_journaled_before_a_crash_is_saved_next_time(
        self, tmp_path: Path, model: str
    ) -> None:
        """
        A run that stops right after journaling a synchronous answer (a URL or inline
        bytes) loses nothing: the next run saves that answer's picture without sending
        the generation again.
        """
        emulator = Emulator(KEY, seed=4)
        journal = _Recording()
        journal.stop_after = JobState.ANSWERED
        async with _client(emulator) as client:
            with anyio.CancelScope() as scope:
                journal.scope = scope
                await _run(client, [("only", model)], journal=journal, download_to=tmp_path)
        assert JobState.ANSWERED == journal.load()["only"].state
        assert [] == list(tmp_path.iterdir())
        journal.stop_after = None
        async with _client(emulator) as client:
            outcomes, _ = await _run(
                client, [("only", model)], journal=journal, download_to=tmp_path
            )
        saved = Path(outcomes[0].files[0])
        assert (JobState.DONE, 1) == (outcomes[0].state, emulator.generation_calls())
        assert saved.read_bytes().startswith(b"\x89PNG")
        assert saved.name == "only-0.png"

    @pytest.mark.anyio
    async def test_the_budget_counts_the_credit_table(self) -> None:
        """
        With a budget of 3 credits, two 2-credit generations cannot both run.
        """
        emulator = Emulator(KEY)
        async with _client(emulator) as client:
            outcomes, _ = await _run(
                client, [("a", models.GPT_IMAGE), ("b", models.GPT_IMAGE)], budget=3
            )
        errors = [type(outcome.error).__name__ for outcome in outcomes if outcome.error]
        assert (["BudgetExceededError"], 2) == (errors, emulator.charged())

    @pytest.mark.anyio
    async def test_a_slow_answer_is_unknown_and_not_paid_again(self, tmp_path: Path) -> None:
        """
        A synchronous answer past the read timeout leaves the job outcome-unknown; the
        next run reports it from the journal and sends nothing, unless asked to.
        """
        emulator = Emulator(KEY)
        emulator.faults.sync_latency = 1000.0
        journal = tmp_path / "run.sqlite"
        async with _client(emulator) as client:
            first, _ = await _run(client, [("slow", models.SEEDREAM)], journal=journal)
        emulator.faults.sync_latency = 0.0
        async with _client(emulator) as client:
            again, _ = await _run(client, [("slow", models.SEEDREAM)], journal=journal)
            assert 1 == emulator.generation_calls()
            forced, _ = await _run(
                client, [("slow", models.SEEDREAM)], journal=journal, resubmit_unknown=True
            )
        assert [JobState.UNKNOWN, JobState.UNKNOWN, JobState.DONE] == [
            outcome.state for outcome in (*first, *again, *forced)
        ]
        assert isinstance(first[0].error, gateway.GenerationOutcomeUnknown)
        assert 2 == emulator.generation_calls()

    @pytest.mark.anyio
    async def test_failed_and_empty_generations_end_failed(self) -> None:
        """
        A task that fails, and one whose state no spelling covers, end failed with
        their typed errors; neither is paid twice.
        """
        emulator = Emulator(KEY)
        emulator.faults.task_failure_rate = 1.0
        async with _client(emulator) as client:
            failed, _ = await _run(client, [("f", models.FLUX)])
            emulator.faults.task_failure_rate = 0.0
            emulator.faults.unknown_state_rate = 1.0
            odd, _ = await _run(client, [("o", models.KOLORS)])
        assert [gateway.TaskFailedError, gateway.UnknownStateError] == [
            type(outcome.error) for outcome in (*failed, *odd)
        ]
        assert 2 == emulator.generation_calls()

    @pytest.mark.anyio
    async def test_an_answer_without_images_ends_failed_and_paid(self) -> None:
        """
        A synchronous answer that holds no image ends its job failed with
        ``NoImageError``, journaled with its cost, and is not sent again.
        """
        sent: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            body = {"success": True, "code": "200", "message": "successful", "data": {"data": []}}
            return httpx.Response(200, json=body)

        journal = _Recording()
        async with gateway.AsyncClient(
            api_key=KEY, base_url="https://gw.test", transport=httpx.MockTransport(handler)
        ) as client:
            outcomes, _ = await _run(client, [("empty", "any-model")], journal=journal)
            again, _ = await _run(client, [("empty", "any-model")], journal=journal)
        assert isinstance(outcomes[0].error, gateway.NoImageError)
        assert (JobState.FAILED, 1) == (journal.load()["empty"].state, journal.load()["empty"].cost)
        assert (JobState.FAILED, True, 1) == (again[0].state, again[0].from_journal, len(sent))


async def _banner(process: anyio.abc.Process) -> dict[str, str]:
    assert process.stdout is not None
    text = ""
    with anyio.fail_after(20):
        while text.count("\n") < 3:
            text += (await process.stdout.receive()).decode()
    return dict(line.split("=", 1) for line in text.splitlines())


def _recorded(journal: Path) -> int:
    try:
        with sqlite3.connect(journal) as db:
            row = db.execute("SELECT COUNT(*) FROM jobs WHERE state != 'submitting'").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


@pytest.fixture
async def server() -> AsyncIterator[dict[str, str]]:
    command = [
        sys.executable,
        "-m",
        "a1art_async.testing.gateway",
        "serve",
        "--time-scale",
        "0.02",
        "--api-key",
        KEY,
    ]
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    async with process:
        try:
            yield await _banner(process)
        finally:
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()


class TestKilled:
    """
    A real process, killed with SIGKILL part-way, against a loopback emulator.
    """

    @pytest.fixture
    def anyio_backend(self) -> str:
        # The batch runs in subprocesses; this test only waits on them.
        return "asyncio"

    JOBS = 24

    @pytest.mark.anyio
    async def test_sigkill_then_resume_ends_every_job_once(
        self, server: dict[str, str], tmp_path: Path
    ) -> None:
        """
        Kill a mixed batch once a third of its jobs are recorded, run it again: every job
        ends exactly once, no generation was sent twice, and every done job's pictures
        are saved, from URLs and from inline bytes alike.
        """
        journal, out = tmp_path / "run.sqlite", tmp_path / "out"
        command = [
            sys.executable,
            str(SCRIPT),
            server["base_url"],
            KEY,
            str(journal),
            str(out),
            str(self.JOBS),
        ]
        first = await anyio.open_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        async with first:
            with anyio.fail_after(60):
                while _recorded(journal) < self.JOBS // 3:  # noqa: ASYNC110 - another process writes it
                    await anyio.sleep(0.01)
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert -signal.SIGKILL == first.returncode
        with anyio.fail_after(120):
            second = await anyio.run_process(command, check=False)
        assert 0 == second.returncode, second.stderr.decode()
        lines = [line.split(" ", 2) for line in second.stdout.decode().splitlines()]
        async with httpx.AsyncClient(base_url=server["base_url"]) as admin:
            stats = (await admin.get("/_emulator/stats")).json()
            generations = [
                entry
                for entry in (await admin.get("/_emulator/journal")).json()
                if entry["endpoint"] == "generations"
            ]

        assert self.JOBS == len(lines) == len({key for key, _, _ in lines})
        done = [files.split() for _, state, files in lines if state == "done"]
        unknown = sum(1 for _, state, _ in lines if state == "unknown")
        assert self.JOBS == len(done) + unknown
        assert len(done) <= stats["generations"] <= len(done) + unknown
        assert len(generations) == stats["generations"]  # nothing was sent twice
        for files in done:
            assert 1 == len(files)
            assert Path(files[0]).read_bytes().startswith(b"\x89PNG")
