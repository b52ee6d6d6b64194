"""
Batches past one machine: many workers, one PostgreSQL journal, one shared request
budget per API key (the ``postgres`` extra; asyncio only).

::

    async with AsyncClient() as client:
        async with client.batch(journal="postgresql://db/jobs", batch="nightly",
                                workers=2) as batch:
            for row in rows:
                batch.add(app_id, image=row.path, prompt=row.prompt, key=row.id)
            async for outcome in batch:
                ...

    # on any other machine
    await run_worker("postgresql://db/jobs", batch="nightly", api_key=...)

Jobs are rows of the journal (:class:`PostgresJournal`), moved by compare-and-set
transitions so that at most one worker anywhere sends a job's paid request; they go to
workers in shards of about a thousand (procrastinate jobs); the credit budget is
reserved in the database; requests draw from a budget per key shared through the
database (:class:`SharedTokenSource`).  See ``docs/distributed.md`` for how shards,
claims, the budgets and stalled-shard recovery work, and what is guaranteed.
"""

from ._batch import DistributedBatch as DistributedBatch
from ._database import AsyncioOnlyError as AsyncioOnlyError
from ._journal import PostgresJournal as PostgresJournal
from ._providers import Provider as Provider
from ._providers import register_provider as register_provider
from ._run import WorkerReport as WorkerReport
from ._run import run_worker as run_worker
from ._status import BatchStatus as BatchStatus
from ._status import batch_status as batch_status
from ._tokens import SharedTokenSource as SharedTokenSource

__all__ = [
    "AsyncioOnlyError",
    "BatchStatus",
    "DistributedBatch",
    "PostgresJournal",
    "Provider",
    "SharedTokenSource",
    "WorkerReport",
    "batch_status",
    "register_provider",
    "run_worker",
]
