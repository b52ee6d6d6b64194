"""
The PostgreSQL journal's compare-and-set transitions and atomic budget, against a real
throwaway server.
"""

from __future__ import annotations

import anyio
import pytest

from a1art_async import BudgetExceededError, JobRecord, JobState
from a1art_async.distributed import PostgresJournal
from a1art_async.distributed._tokens import key_hash

from ._postgres import dsn, postgres_cluster  # noqa: F401 - fixtures

PENDING = (None, JobState.PENDING)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_only_one_of_many_workers_claims_a_job(dsn: str) -> None:  # noqa: F811
    """
    Twenty journals racing pending -> submitting on one job: exactly one wins.
    """
    journals = [PostgresJournal(dsn, "race", worker=f"w{n}") for n in range(20)]
    wins: list[bool] = []
    for journal in journals:
        await journal.open()

    async def claim(journal: PostgresJournal) -> None:
        wins.append(await journal.transition(JobRecord("job", JobState.SUBMITTING), PENDING))

    async with anyio.create_task_group() as group:
        for journal in journals:
            group.start_soon(claim, journal)
    for journal in journals:
        await journal.close()
    assert [True] == [won for won in wins if won]


@pytest.mark.anyio
async def test_only_the_claimant_records_the_answer(dsn: str) -> None:  # noqa: F811
    """
    A worker that did not claim a job cannot move it out of submitting, except to
    unknown; the claimant may still record its task after that.
    """
    owner, other = PostgresJournal(dsn, "b", worker="a"), PostgresJournal(dsn, "b", worker="o")
    await owner.open()
    await other.open()
    assert await owner.transition(JobRecord("k", JobState.SUBMITTING, cost=1), PENDING)
    sent = (JobState.SUBMITTING, JobState.UNKNOWN)
    submitted = JobRecord("k", JobState.SUBMITTED, task_id="t1", cost=1)
    assert not await other.transition(submitted, sent)
    assert await other.transition(JobRecord("k", JobState.UNKNOWN, cost=1), sent)
    assert await owner.transition(submitted, sent)
    assert "t1" == (await other.fetch(["k"]))["k"].task_id
    await owner.close()
    await other.close()


@pytest.mark.anyio
async def test_claims_never_pass_the_budget_together(dsn: str) -> None:  # noqa: F811
    """
    Forty claims of 3 credits from four workers against a budget of 31: ten win, the
    others are refused with BudgetExceededError, and unpaid attempts give credits back.
    """
    journals = [PostgresJournal(dsn, "money", worker=f"w{n}") for n in range(4)]
    for journal in journals:
        await journal.open()
    await journals[0]._execute("UPDATE a1art_batches SET budget = 31 WHERE name = 'money'", ())
    won: list[str] = []
    refused: list[str] = []

    async def claim(journal: PostgresJournal, key: str) -> None:
        try:
            if await journal.transition(JobRecord(key, JobState.SUBMITTING, cost=3), PENDING):
                won.append(key)
        except BudgetExceededError:
            refused.append(key)

    async with anyio.create_task_group() as group:
        for n in range(40):
            group.start_soon(claim, journals[n % 4], f"k{n}")
    first = won[0]
    holder = journals[int(first[1:]) % 4]
    assert await holder.transition(JobRecord(first, JobState.PENDING), (JobState.SUBMITTING,))
    spent = await journals[0]._execute("SELECT spent FROM a1art_batches WHERE name='money'", ())
    for journal in journals:
        await journal.close()
    assert (10, 30) == (len(won), len(refused))
    assert 27 == spent[0][0]


def test_the_key_never_reaches_the_database() -> None:
    """
    The shared budget's row is named by a salted hash of the key, never the key.
    """
    key = "secret-api-key-123"
    assert key not in key_hash(key)
    assert 64 == len(key_hash(key))
    assert key_hash(key) != key_hash(key + "x")


@pytest.mark.anyio
async def test_writes_at_the_same_moment_go_in_one_statement(dsn: str) -> None:  # noqa: F811
    """
    Fifty answers recorded at once take fewer statements than writes, and each caller
    learns whether its own transition took place.
    """
    journal = PostgresJournal(dsn, "group", worker="w")
    await journal.open()
    keys = [f"k{n}" for n in range(50)]
    for key in keys:
        assert await journal.transition(JobRecord(key, JobState.SUBMITTING, cost=1), PENDING)
    before = journal.round_trips
    results: dict[str, bool] = {}
    sent = (JobState.SUBMITTING, JobState.UNKNOWN)

    async def answer(key: str) -> None:
        record = JobRecord(key, JobState.SUBMITTED, task_id=f"t-{key}", cost=1)
        results[key] = await journal.transition(record, sent)

    async def wrong() -> None:
        # k0 is not done yet, so it cannot go from done to failed.
        results["wrong"] = await journal.transition(
            JobRecord("k0", JobState.FAILED), (JobState.DONE,)
        )

    async with anyio.create_task_group() as group:
        for key in keys:
            group.start_soon(answer, key)
        group.start_soon(wrong)
    statements = journal.round_trips - before
    stored = await journal.fetch(keys)
    await journal.close()
    assert {**dict.fromkeys(keys, True), "wrong": False} == results
    assert {f"t-{key}" for key in keys} == {record.task_id for record in stored.values()}
    assert statements < 10
