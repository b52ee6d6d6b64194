"""
Batches against the emulator, in virtual time: every job ends exactly once, nothing is
paid for twice, the budget holds, and a journal makes a batch resumable.
"""

from __future__ import annotations

import collections
import math
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import a1art_async as a1
from a1art_async._engine._journal import JobRecord, JobState, MemoryJournal, SQLiteJournal
from a1art_async.testing import Emulator, Faults, apps, png_bytes

from ._matrix import threads_take_no_time
from .conftest import API_KEY

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def _text_job(batch: a1.Batch, n: int, **extra: Any) -> str:
    return batch.add(
        apps.TEXT,
        key=f"job-{n}",
        prompt=f"lighthouse number {n}",
        style="Seaside Town",
        aspect="1:1",
        **extra,
    )


async def _run(client: a1.AsyncClient, jobs: int, **options: Any) -> list[a1.BatchOutcome]:
    async with client.batch(**options) as batch:
        for n in range(jobs):
            _text_job(batch, n)
        return [outcome async for outcome in batch]


async def test_every_job_ends_once_in_completion_order(
    client: a1.AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    """
    Twenty jobs across four kinds of app each yield one outcome, saved to disk, with one
    generate call per job.
    """
    outcomes: list[a1.BatchOutcome] = []
    async with client, client.batch(concurrency=4, download_to=tmp_path) as batch:
        for n in range(5):
            _text_job(batch, n, count=2)
            batch.add(
                apps.FORM,
                key=f"pet-{n}",
                image=png_bytes(),
                prompt="cat",
                style="High Quality Anmie",
                aspect="16:9",
            )
            batch.add(apps.NODE, key=f"node-{n}", image=png_bytes(), prompt="robot")
            batch.add(apps.VIDEO, key=f"video-{n}", image=png_bytes(), prompt="waves")
        outcomes = [outcome async for outcome in batch]
        summary = batch.summary
    assert 20 == len(outcomes) == len({o.key for o in outcomes})
    assert all(o.ok for o in outcomes)
    assert 20 == emulator.generate_calls()
    assert (20, 0, 0) == (summary.done, summary.failed, summary.unknown)
    assert 5 * (2 + 1 + 2 + 10) == emulator.charged()
    # The FORM app carries a cost, as in the docs, so its charge is only bounded.
    assert (5 * (2 + 1 + 1 + 1), 5 * (2 + 2 + 2 + 10)) == (
        summary.credits_low,
        summary.credits_spent,
    )
    suffixes = collections.Counter(Path(f).suffix for o in outcomes for f in o.files)
    assert {".png": 20, ".mp4": 5} == dict(suffixes)


async def test_budget_is_never_exceeded(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    With a budget of 7 credits and 2-credit jobs, three run and the rest are refused.
    """
    async with client, client.batch(budget=7) as batch:
        for n in range(6):
            _text_job(batch, n, count=2)
        outcomes = [outcome async for outcome in batch]
    refused = [o for o in outcomes if isinstance(o.error, a1.BudgetExceededError)]
    assert (3, 3) == (sum(o.ok for o in outcomes), len(refused))
    assert 6 == emulator.charged()


async def test_failures_do_not_stop_the_batch(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    A job with a bad style, one whose task fails and good ones all end, each once.
    """
    emulator.faults.task_failure_rate = 0.5
    async with client, client.batch() as batch:
        batch.add(apps.TEXT, key="bad", prompt="x", style="Nope", aspect="1:1")
        for n in range(10):
            _text_job(batch, n)
        outcomes = {o.key: o for o in [outcome async for outcome in batch]}
    assert 11 == len(outcomes)
    assert isinstance(outcomes["bad"].error, a1.ValidationError)
    failed = [o for o in outcomes.values() if isinstance(o.error, a1.TaskFailedError)]
    assert failed
    assert 10 == emulator.generate_calls()


async def test_rerun_with_the_journal_skips_what_is_done(
    client: a1.AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    """
    Running the same batch again with its journal sends no generate at all.
    """
    journal = tmp_path / "run.sqlite"
    async with client:
        first = await _run(client, 8, journal=journal)
        second = await _run(client, 8, journal=journal)
    assert all(o.ok and not o.from_journal for o in first)
    assert all(o.ok and o.from_journal for o in second)
    assert [o.task_id for o in sorted(first, key=lambda o: o.key)] == [
        o.task_id for o in sorted(second, key=lambda o: o.key)
    ]
    assert 8 == emulator.generate_calls()


async def test_submitted_jobs_are_polled_again_and_submitting_ones_not_resent(
    client: a1.AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    """
    A job recorded as submitted is awaited by its stored task id; one caught between
    sending and recording is reported as outcome-unknown and not resent.
    """
    journal = tmp_path / "run.sqlite"
    async with client:
        app = await client.apps.get(apps.TEXT)
        form = app.forms_of(a1.FormType.DESCRIPTION)[0]
        task_id = await client.images.generate(
            a1.GenerateRequest(
                app_id=app.id,
                version_id=app.version_id,
                description=[a1.DescriptionPart(form.id, "x")],
                style_id=app.styles[0].id,
                size="1:1",
            )
        )
        store = SQLiteJournal(journal)
        store.put(JobRecord("job-0", JobState.SUBMITTED, task_id=task_id, cost=1))
        store.put(JobRecord("job-1", JobState.SUBMITTING, cost=1))
        store.close()
        outcomes = {o.key: o for o in await _run(client, 3, journal=journal)}
    assert (JobState.DONE, task_id) == (outcomes["job-0"].state, outcomes["job-0"].task_id)
    assert JobState.UNKNOWN is outcomes["job-1"].state
    assert outcomes["job-2"].ok
    assert 2 == emulator.generate_calls()


async def test_a_500_job_batch_under_faults_pays_once_per_job(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    Under rate limits, dropped connections, server errors and failing tasks, 500 jobs
    across five kinds of app each end exactly once and no job creates more than one task.
    """
    faults = emulator.faults
    faults.rate_limit = 50.0
    faults.drop_before_rate = 0.05
    faults.drop_after_rate = 0.02
    faults.server_error_rate = 0.02
    faults.task_failure_rate = 0.05
    emulator.set_balance("test-key-0123456789abcdef", 100_000)
    client.retry = a1.RetryPolicy(max_retries=8, initial=0.2, cap=5.0)
    async with client, client.batch(concurrency=16) as batch:
        for n in range(500):
            kind = n % 5
            if kind == 0:
                _text_job(batch, n)
            elif kind == 1:
                batch.add(apps.NODE, key=f"node-{n}", image=png_bytes(), prompt="robot")
            elif kind == 2:
                batch.add(apps.VIDEO, key=f"video-{n}", image=png_bytes(), prompt="waves")
            elif kind == 3:
                batch.add(
                    apps.GROUP_PHOTO,
                    key=f"group-{n}",
                    images=[png_bytes(), png_bytes()],
                    style="Polaroid",
                    aspect="4:3",
                )
            else:
                batch.add(
                    apps.FORM,
                    key=f"pet-{n}",
                    image=png_bytes(),
                    prompt="cat",
                    style="High Quality Anmie",
                    aspect="1:1",
                    count=2,
                )
        outcomes = [outcome async for outcome in batch]
        summary = batch.summary
    assert 500 == len(outcomes) == len({o.key for o in outcomes})
    with_task = {o.task_id for o in outcomes if o.task_id}
    unknown = sum(o.state is JobState.UNKNOWN for o in outcomes)
    assert len(with_task) <= emulator.generate_calls() <= len(with_task) + unknown
    assert 500 == summary.done + summary.failed + summary.unknown
    assert summary.done > 400


async def test_keys_must_be_unique(client: a1.AsyncClient) -> None:
    """
    Adding the same key twice is refused.
    """
    async with client, client.batch() as batch:
        batch.add(apps.TEXT, key="same", prompt="x", style="Seaside Town", aspect="1:1")
        with pytest.raises(a1.ValidationError, match="twice"):
            batch.add(apps.TEXT, key="same", prompt="y", style="Seaside Town", aspect="1:1")
        assert 1 == len([outcome async for outcome in batch])


async def test_a_job_cancelled_before_its_generate_left_is_not_unknown(
    emulator: Emulator, tmp_path: Path
) -> None:
    """
    Cancelling a batch while generates still wait for the rate limiter leaves those jobs
    unjournaled, so the next run submits them instead of calling them outcome-unknown.
    """
    journal = tmp_path / "run.sqlite"
    slow = a1.RateLimit(initial=1.0, ceiling=1.0, floor=1.0, adaptive=False)
    # The journal writes in worker threads; keeping the virtual clock still while they
    # run puts the cancellation exactly between two permits, a second apart.
    with threads_take_no_time():
        client = a1.AsyncClient(api_key=API_KEY, transport=emulator.transport(), rate_limit=slow)
        async with client, anyio.create_task_group() as group:

            async def cancel_between_permits() -> None:
                while emulator.generate_calls() < 2:  # noqa: ASYNC110 - no event to wait on
                    await anyio.sleep(0.01)
                await anyio.sleep(0.5)
                group.cancel_scope.cancel()

            group.start_soon(cancel_between_permits)
            await _run(client, 6, journal=journal)
        states = [record.state for record in SQLiteJournal(journal).load().values()]
        calls_when_cancelled = emulator.generate_calls()
        client = a1.AsyncClient(api_key=API_KEY, transport=emulator.transport())
        async with client:
            outcomes = await _run(client, 6, journal=journal)
    assert 2 == calls_when_cancelled
    assert JobState.SUBMITTING not in states
    assert all(outcome.ok for outcome in outcomes)
    assert 6 == emulator.generate_calls()


async def test_rerun_summary_counts_unknown_jobs_as_unknown(
    client: a1.AsyncClient, tmp_path: Path
) -> None:
    """
    A job read back from the journal as outcome-unknown is counted as unknown, not skipped.
    """
    journal = tmp_path / "run.sqlite"
    store = SQLiteJournal(journal)
    store.put(JobRecord("job-0", JobState.SUBMITTING, cost=1))
    store.close()
    async with client, client.batch(journal=journal) as batch:
        _text_job(batch, 0)
        _text_job(batch, 1)
        outcomes = [outcome async for outcome in batch]
        summary = batch.summary
    assert {JobState.UNKNOWN, JobState.DONE} == {o.state for o in outcomes}
    assert (1, 1, 0) == (summary.done, summary.unknown, summary.skipped)


class _RefuseFirstGenerates(httpx.AsyncBaseTransport):
    """
    Answers the first *refusals* generate requests with code 20000 (nothing acted on)
    and passes everything else to the emulator, counting the generates it passed on.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, refusals: int) -> None:
        self.inner = inner
        self.refusals = refusals
        self.forwarded = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/images/generate"):
            if self.refusals > 0:
                self.refusals -= 1
                body = {"code": 20000, "msg": "too may request", "msg_cn": "", "data": None}
                return httpx.Response(200, json=body)
            self.forwarded += 1
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("stop_at", [round(0.05 * step, 2) for step in range(60)])
async def test_a_cancelled_refused_generate_is_unknown_only_if_it_was_sent(
    emulator: Emulator, stop_at: float
) -> None:
    """
    Cancelling a batch at any moment of a generate that is refused (20000) twice and then
    accepted leaves its job pending unless the generate really left, and never pending
    once it did.
    """
    journal = MemoryJournal()
    transport = _RefuseFirstGenerates(emulator.transport(), refusals=2)
    client = a1.AsyncClient(
        api_key=API_KEY,
        transport=transport,
        retry=a1.RetryPolicy(max_retries=5, initial=1.0, cap=1.0),
        rate_limit=a1.RateLimit(adaptive=False),
    )
    async with client:
        with anyio.move_on_after(stop_at):
            await _run(client, 1, journal=journal)
    record = journal.load().get("job-0")
    state = None if record is None else record.state
    may_have_been_charged = {JobState.SUBMITTING, JobState.UNKNOWN, JobState.SUBMITTED}
    assert (transport.forwarded == 1) == (state in may_have_been_charged | {JobState.DONE})
    assert transport.forwarded == emulator.generate_calls()


async def test_a_job_failed_by_the_rate_limit_is_run_again(
    emulator: Emulator, tmp_path: Path
) -> None:
    """
    A job whose generate was refused (20000) until its retries ran out failed in that
    run, but nothing was charged: its journal entry stays pending and the next run
    submits it.
    """
    journal = tmp_path / "run.sqlite"
    transport = _RefuseFirstGenerates(emulator.transport(), refusals=1)
    refusing = a1.AsyncClient(
        api_key=API_KEY, transport=transport, retry=a1.RetryPolicy(max_retries=0)
    )
    async with refusing:
        first = await _run(refusing, 1, journal=journal)
    states = [record.state for record in SQLiteJournal(journal).load().values()]
    async with a1.AsyncClient(api_key=API_KEY, transport=transport) as client:
        second = await _run(client, 1, journal=journal)
    assert isinstance(first[0].error, a1.RateLimitError)
    assert [JobState.PENDING] == states
    assert (JobState.DONE, False) == (second[0].state, second[0].from_journal)
    assert 1 == emulator.generate_calls()


@pytest.mark.parametrize(("share", "first_by"), [(0.5, 15.0), (0.0, math.inf)])
async def test_a_rate_limited_batch_yields_results_while_it_submits(
    share: float, first_by: float
) -> None:
    """
    Against a 3 requests/s limit, a 200-job batch yields its first result within seconds
    of that task finishing, because polls get a share of the budget while submissions
    wait; with no share (the old rule) nothing comes back until every job is submitted.
    """
    emulator = Emulator(
        api_key=API_KEY, balance=10_000, seed=4, time_scale=0.1, faults=Faults(rate_limit=3.0)
    )
    quick = a1.PollPolicy(first_delay=1.0, hint_fraction=0.0, interval=1.0)
    client = a1.AsyncClient(
        api_key=API_KEY,
        transport=emulator.transport(),
        poll_policy=quick,
        rate_limit=a1.RateLimit(poll_share=share),
        retry=a1.RetryPolicy(max_retries=20),
    )
    arrivals: list[float] = []
    async with client:
        start = anyio.current_time()
        async with client.batch(concurrency=16) as batch:
            for n in range(200):
                _text_job(batch, n)
            async for outcome in batch:
                assert outcome.ok, outcome.error
                arrivals.append(anyio.current_time() - start)
    submissions_done = max(e.time for e in emulator.journal if e.endpoint == "generate") - start
    if math.isfinite(first_by):
        assert arrivals[0] <= first_by
    else:
        assert arrivals[0] >= submissions_done
