"""
:func:`batch_status`: where a distributed batch stands, from the database alone.
"""

from __future__ import annotations

import attrs

from .._engine._journal import JobState
from ._database import Pool
from ._shards import queue_of


@attrs.frozen
class BatchStatus:
    """
    A batch's board: jobs by state, by worker (the worker that wrote each row last)
    and state, credits reserved against the budget, and shards by procrastinate status.

    Attributes:
        batch: Its name.
        jobs: Rows in the journal.
        states: Jobs by state (every state, zeros included).
        workers: For each worker, its jobs by state (``""``: no worker wrote the row).
        spent: Credits reserved by claims (the most the batch can have been charged).
        budget: The batch's budget, if any.
        shards: Shards by procrastinate status (``todo``, ``doing``, ``succeeded``...).
    """

    batch: str
    jobs: int
    states: dict[str, int]
    workers: dict[str, dict[str, int]]
    spent: int
    budget: int | None
    shards: dict[str, int]

    @property
    def finished(self) -> bool:
        """
        Whether no job can move any more without a new run (none pending, submitting,
        submitted or answered).
        """
        return all(self.states[state.value] == 0 for state in _MOVING)

    def as_json(self) -> dict[str, object]:
        """
        The status as ``--json`` prints it.
        """
        return attrs.asdict(self) | {"finished": self.finished}


_MOVING = (JobState.PENDING, JobState.SUBMITTING, JobState.SUBMITTED, JobState.ANSWERED)


async def batch_status(pool: Pool, batch: str) -> BatchStatus | None:
    """
    The batch's status, or ``None`` if the database has no such batch.
    """
    async with pool.connection() as connection:
        cursor = await connection.execute(
            "SELECT budget, spent FROM a1art_batches WHERE name = %s", (batch,)
        )
        head = await cursor.fetchone()
        if head is None:
            return None
        cursor = await connection.execute(
            "SELECT coalesce(worker, ''), state, count(*) FROM a1art_jobs"
            " WHERE batch = %s GROUP BY 1, 2 ORDER BY 1, 2",
            (batch,),
        )
        counts = await cursor.fetchall()
        cursor = await connection.execute(
            "SELECT status::text, count(*) FROM procrastinate_jobs WHERE queue_name = %s"
            " GROUP BY 1 ORDER BY 1",
            (queue_of(batch),),
        )
        shards = {status: int(n) for status, n in await cursor.fetchall()}
    states = {state.value: 0 for state in JobState}
    workers: dict[str, dict[str, int]] = {}
    for worker, state, n in counts:
        states[state] = states.get(state, 0) + int(n)
        workers.setdefault(worker, {})[state] = int(n)
    budget, spent = head
    return BatchStatus(
        batch=batch,
        jobs=sum(states.values()),
        states=states,
        workers=workers,
        spent=int(spent),
        budget=None if budget is None else int(budget),
        shards=shards,
    )
