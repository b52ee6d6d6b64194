"""
A distributed batch in one process: jobs through the PostgreSQL journal, shards through
procrastinate, results from the journal; and the clear error on trio.
"""

from __future__ import annotations

from typing import Any

import pytest

from a1art_async import AsyncClient, PollPolicy
from a1art_async.testing import Emulator, apps

from ._postgres import dsn, postgres_cluster  # noqa: F401 - fixtures

API_KEY = "dist-key-0123456789"
POLICY = PollPolicy(first_delay=0.02, hint_fraction=0.0, interval=0.02, coalesce=0.005)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _client(emulator: Emulator) -> AsyncClient:
    return AsyncClient(api_key=API_KEY, transport=emulator.transport(), poll_policy=POLICY)


@pytest.mark.anyio
async def test_every_added_job_ends_once_through_the_journal(dsn: str) -> None:  # noqa: F811
    """
    Jobs added to a postgresql:// batch run in shards and each is yielded exactly once.
    """
    emulator = Emulator(api_key=API_KEY, balance=1000, time_scale=0.001)
    async with (
        _client(emulator) as client,
        client.batch(journal=dsn, batch="b1", workers=2) as batch,
    ):
        for n in range(30):
            batch.add(
                apps.TEXT, key=f"k{n}", prompt=f"hill {n}", style="Summer Meadow", aspect="1:1"
            )
        outcomes = [outcome async for outcome in batch]
    assert [f"k{n}" for n in range(30)] == sorted(
        (o.key for o in outcomes), key=lambda k: int(k[1:])
    )
    assert {"done"} == {o.state.value for o in outcomes}
    assert 30 == emulator.generate_calls()


@pytest.mark.anyio
async def test_running_the_same_batch_again_pays_for_nothing(dsn: str) -> None:  # noqa: F811
    """
    A second run of a finished batch yields every job from the journal and sends nothing.
    """
    emulator = Emulator(api_key=API_KEY, balance=1000, time_scale=0.001)
    async with _client(emulator) as client:
        for _ in range(2):
            async with client.batch(journal=dsn, batch="again", workers=1) as batch:
                for n in range(5):
                    batch.add(
                        apps.TEXT, key=f"k{n}", prompt="sea", style="Summer Meadow", aspect="1:1"
                    )
                outcomes: list[Any] = [outcome async for outcome in batch]
    assert [True] * 5 == [o.from_journal for o in outcomes]
    assert 5 == emulator.generate_calls()


@pytest.fixture
def trio_backend() -> str:
    return "trio"


def test_distributed_batches_refuse_trio_clearly(dsn: str) -> None:  # noqa: F811
    """
    On trio, a distributed batch raises AsyncioOnlyError naming asyncio before any work.
    """
    import trio

    from a1art_async.distributed import AsyncioOnlyError

    emulator = Emulator(api_key=API_KEY, balance=10)

    async def main() -> None:
        async with _client(emulator) as client, client.batch(journal=dsn, batch="t"):
            pass

    with pytest.raises(AsyncioOnlyError, match="asyncio only"):
        trio.run(main)
    assert 0 == emulator.generate_calls()


def test_the_distributed_package_exports_exactly_its_public_names() -> None:
    """
    a1art_async.distributed's __all__ is sorted and names its public attributes only.
    """
    import a1art_async.distributed as distributed

    public = {
        name
        for name in dir(distributed)
        if not name.startswith("_") and not isinstance(getattr(distributed, name), type(pytest))
    }
    assert sorted(distributed.__all__) == distributed.__all__
    assert public == set(distributed.__all__)


@pytest.mark.anyio
async def test_events_of_the_jobs_this_process_runs_carry_their_keys(dsn: str) -> None:  # noqa: F811
    """
    on_event sees, for every job this process's workers run, its submission and its
    end, each with the job's key.
    """
    from a1art_async import Event, EventKind

    emulator = Emulator(api_key=API_KEY, balance=1000, time_scale=0.001)
    events: list[Event] = []
    async with (
        _client(emulator) as client,
        client.batch(journal=dsn, batch="ev", workers=1, on_event=events.append) as batch,
    ):
        for n in range(8):
            batch.add(apps.TEXT, key=f"e{n}", prompt="fog", style="Summer Meadow", aspect="1:1")
        outcomes = [outcome async for outcome in batch]
    submitted = sorted(e.key or "" for e in events if e.kind is EventKind.SUBMITTED)
    done = sorted(e.key or "" for e in events if e.kind is EventKind.DONE)
    assert [f"e{n}" for n in range(8)] == submitted == done == sorted(o.key for o in outcomes)


def test_events_need_a_worker_in_this_process() -> None:
    """
    A distributed batch that runs no job here (workers=0) refuses on_event up front.
    """
    from a1art_async import ValidationError
    from a1art_async.distributed import DistributedBatch

    with pytest.raises(ValidationError, match="on_event"):
        DistributedBatch(None, journal="postgresql://db/x", batch="b", workers=0, on_event=print)


@pytest.mark.anyio
async def test_the_batchs_own_workers_draw_on_the_keys_shared_budget(dsn: str) -> None:  # noqa: F811
    """
    While a distributed batch with workers is open, its client sends on the key's
    shared budget (a row in the database); afterwards, on its own again.
    """
    import psycopg

    from a1art_async._engine._limiter import LocalTokenSource
    from a1art_async.distributed import SharedTokenSource
    from a1art_async.distributed._tokens import key_hash

    emulator = Emulator(api_key=API_KEY, balance=1000, time_scale=0.001)
    async with _client(emulator) as client:
        limiter = client._session.limiter
        async with client.batch(journal=dsn, batch="budget", workers=1) as batch:
            during = limiter.source
            batch.add(apps.TEXT, key="one", prompt="moss", style="Summer Meadow", aspect="1:1")
            outcomes = [outcome async for outcome in batch]
        after = limiter.source
    with psycopg.connect(dsn) as connection:
        rows = connection.execute("SELECT key_hash FROM a1art_rates").fetchall()
    assert ["done"] == [o.state.value for o in outcomes]
    assert (SharedTokenSource, LocalTokenSource) == (type(during), type(after))
    assert [(key_hash(API_KEY),)] == rows


@pytest.mark.anyio
async def test_a_retried_request_is_one_event_however_many_shards_run(dsn: str) -> None:  # noqa: F811
    """
    With two shards running at once, each retried poll reaches on_event once, not once
    per shard.
    """
    from a1art_async import Event, EventKind, RetryPolicy
    from a1art_async.testing import Faults

    faults = Faults(server_error_rate=0.5, endpoints=frozenset({"tasks"}))
    emulator = Emulator(api_key=API_KEY, balance=1000, time_scale=0.001, faults=faults)
    events: list[Event] = []
    retry = RetryPolicy(max_retries=8, initial=0.001, cap=0.01)
    async with (
        AsyncClient(
            api_key=API_KEY, transport=emulator.transport(), poll_policy=POLICY, retry=retry
        ) as client,
        client.batch(
            journal=dsn, batch="twice", workers=2, shard_size=4, on_event=events.append
        ) as batch,
    ):
        for n in range(8):
            batch.add(apps.TEXT, key=f"r{n}", prompt="rain", style="Summer Meadow", aspect="1:1")
        outcomes = [outcome async for outcome in batch]
    retried = [e for e in events if e.kind is EventKind.RETRYING]
    assert {"done"} == {o.state.value for o in outcomes}
    assert retried
    assert len(retried) == len({id(e) for e in retried})
