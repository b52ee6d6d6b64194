"""
Shards: a batch's jobs go to workers a page at a time.

A shard is one procrastinate job naming a range of a batch's ``seq`` numbers (about
:data:`SHARD_SIZE` jobs), so the queue holds a thousandth of the rows while the journal
holds them all.  A worker runs a shard through one engine batch, over the provider's
client (its one polling scheduler, so polls stay multiplexed across the shard and
across the shards the worker runs at once), with the journal rows as the truth: it
reads the shard's rows in one page, and

- ``pending`` jobs are claimed (compare-and-set) and submitted;
- ``submitting`` ones become ``unknown`` (a worker died between sending and
  recording): they are not resubmitted unless the batch was run with
  ``resubmit_unknown``;
- ``submitted`` ones are polled, ``answered`` ones saved;
- ended ones are left alone.

A shard whose jobs could not all end for reasons that pass (the API unreachable or
rate limited before anything was sent, a wait that ran out) raises
:class:`ShardUnfinished`, and procrastinate runs it again later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import anyio
import attrs

from .._engine._batch import Batch as EngineBatch
from .._engine._batch import BatchOutcome, JobHeldElsewhere, PrerequisitePendingError
from .._engine._errors import A1ArtError, DownloadError, TaskTimeoutError, is_transient
from .._engine._events import Event, Listener
from .._engine._journal import JobRecord, JobState
from ._database import Pool
from ._journal import COLUMNS, PostgresJournal, record_of
from ._providers import provider

logger = logging.getLogger("a1art_async.distributed")

#: Jobs per shard.
SHARD_SIZE: Final = 1000
#: The procrastinate task that runs a shard.
TASK: Final = "a1art_shard"


def queue_of(batch: str) -> str:
    """
    The procrastinate queue of a batch's shards.
    """
    return f"a1art.{batch}"


def lock_of(batch: str, lo: int) -> str:
    """
    The queueing lock of a shard: one waiting copy at most.
    """
    return f"a1art.{batch}.{lo}"


class ShardUnfinished(Exception):
    """
    Some of the shard's jobs can still end: procrastinate runs the shard again later.
    """


@attrs.define
class Counters:
    """
    What a worker did: jobs by how they ended in this process, shards run, and the
    journal's round trips.
    """

    done: int = 0
    failed: int = 0
    unknown: int = 0
    held: int = 0
    shards: int = 0
    round_trips: int = 0

    def add(self, outcome: BatchOutcome) -> None:
        if isinstance(outcome.error, JobHeldElsewhere):
            self.held += 1
        elif outcome.state is JobState.DONE:
            self.done += 1
        elif outcome.state is JobState.UNKNOWN:
            self.unknown += 1
        else:
            self.failed += 1


@attrs.define
class WorkerContext:
    """
    What a worker's shards share: the pool, the providers' open clients, its name and
    options, the listener of its jobs' events, and its counters.
    """

    pool: Pool
    clients: Mapping[str, Any]
    name: str
    dsn: str
    concurrency: int = 8
    download_to: Path | None = None
    on_event: Listener | None = None
    counters: Counters = attrs.Factory(Counters)


@attrs.frozen
class Row:
    """
    A journal row with what rebuilds its job.
    """

    seq: int
    record: JobRecord
    provider: str
    params: Mapping[str, Any]


async def read_page(journal: PostgresJournal, lo: int, hi: int) -> list[Row]:
    """
    The rows of the batch in ``[lo, hi)`` that have not ended (one round trip).
    """
    rows = await journal._execute(
        f"SELECT {COLUMNS}, seq, provider, params FROM a1art_jobs"  # noqa: S608 - constants
        " WHERE batch = %s AND seq >= %s AND seq < %s"
        " AND state NOT IN ('done', 'failed') ORDER BY seq",
        (journal.batch, lo, hi),
    )
    return [Row(row[10], record_of(row), row[11], row[12]) for row in rows]


async def batch_settings(journal: PostgresJournal) -> dict[str, Any]:
    """
    How the batch's shards run (``resubmit_unknown``), as the last enqueue set it.
    """
    rows = await journal._execute(
        "SELECT settings FROM a1art_batches WHERE name = %s", (journal.batch,)
    )
    return dict(rows[0][0]) if rows else {}


async def run_shard(context: WorkerContext, batch: str, lo: int, hi: int) -> None:
    """
    Run the jobs of one shard to their ends (see the module docstring).

    Raises:
        ShardUnfinished: Some jobs can still end in a later run of the shard.
    """
    journal = PostgresJournal(context.dsn, batch, worker=context.name, pool=context.pool)
    try:
        await _run(context, journal, lo, hi)
    finally:
        context.counters.round_trips += journal.round_trips


async def _run(context: WorkerContext, journal: PostgresJournal, lo: int, hi: int) -> None:
    settings = await batch_settings(journal)
    resubmit = bool(settings.get("resubmit_unknown", False))
    rows = [
        row
        for row in await read_page(journal, lo, hi)
        if resubmit or row.record.state is not JobState.UNKNOWN
    ]
    context.counters.shards += 1
    if not rows:
        return
    by_provider: dict[str, list[Row]] = {}
    for row in rows:
        by_provider.setdefault(row.provider, []).append(row)
    # Each provider's rows through its own client, all at once: a shard of a mixed file
    # takes as long as its slowest provider, not the sum of them.  Each engine batch has
    # a journal of its own (on the same pool): a batch closes its journal when it ends.
    unfinished: list[bool] = []

    async def run(name: str, group: list[Row]) -> None:
        own = PostgresJournal(context.dsn, journal.batch, worker=context.name, pool=context.pool)
        try:
            unfinished.append(await _run_provider(context, own, name, group, resubmit))
        finally:
            context.counters.round_trips += own.round_trips

    async with anyio.create_task_group() as tasks:
        for name, group in by_provider.items():
            tasks.start_soon(run, name, group)
    if any(unfinished):
        raise ShardUnfinished(f"shard {journal.batch}[{lo}, {hi}) has jobs that can still end")


async def _run_provider(
    context: WorkerContext,
    journal: PostgresJournal,
    name: str,
    rows: Sequence[Row],
    resubmit: bool,
) -> bool:
    """
    Run one provider's rows of a shard; whether some can still end later.
    """
    try:
        spec = provider(name)
        client = context.clients[spec.name]
    except (A1ArtError, KeyError) as error:
        # No client here for this provider: another worker may have one.
        logger.warning("shard rows of provider %r cannot run here: %s", name, error)
        return True
    engine = EngineBatch(
        **spec.engine(client),
        concurrency=context.concurrency,
        journal=journal,
        download_to=context.download_to,
        resubmit_unknown=resubmit,
        on_event=None if context.on_event is None else _keyed(context.on_event),
    )
    retry = False
    async with engine:
        engine.prime([row.record for row in rows])
        for row in rows:
            try:
                job = spec.job(client, row.record.key, row.params)
            except A1ArtError as error:
                await _refuse(journal, row, error)
                context.counters.failed += 1
                continue
            engine.add_job(job)
        async for outcome in engine:
            context.counters.add(outcome)
            if _can_end_later(outcome):
                retry = True
    return retry


def _keyed(listener: Listener) -> Listener:
    """
    A shard's events about its own jobs (each has its key).  Events about no job (a
    request being retried) reach every batch on the client, so the worker relays those
    once itself (see ``_worker.work``), not once per shard running.
    """

    def relay(event: Event) -> None:
        if event.key is not None:
            listener(event)

    return relay


def _can_end_later(outcome: BatchOutcome) -> bool:
    """
    Whether a run of the shard later may end this job: it failed for a reason that
    passes, before anything was sent, or while waiting for its task, or the job it runs
    after (in another shard) has not ended yet.
    """
    if outcome.state is not JobState.FAILED or outcome.from_journal:
        return False
    error = outcome.error
    if isinstance(error, A1ArtError) and is_transient(error):
        return True
    if isinstance(error, PrerequisitePendingError):
        return True  # the job it runs after is still on its way elsewhere
    # A wait that ended with an error leaves the job submitted: poll it again.
    return outcome.task_id is not None and not outcome.files and _still_submitted(error)


def _still_submitted(error: BaseException | None) -> bool:
    return isinstance(error, TaskTimeoutError | DownloadError)


async def _refuse(journal: PostgresJournal, row: Row, error: A1ArtError) -> None:
    """
    A row no job can be built from fails alone; nothing was sent for it.
    """
    record = JobRecord(
        key=row.record.key,
        state=JobState.FAILED,
        error=f"{type(error).__name__}: {error}"[:500],
    )
    await journal.transition(record, (JobState.PENDING,))


async def defer_again(app: Any, batch: str, lo: int, hi: int) -> None:
    """
    Queue a shard once more (a worker stopping in the middle of it).
    """
    with anyio.CancelScope(shield=True):
        try:
            await app.configure_task(TASK, queue=queue_of(batch)).defer_async(
                batch=batch, lo=lo, hi=hi
            )
        except Exception:  # the next enqueue of the batch requeues it anyway
            logger.warning("could not requeue shard %s[%d, %d)", batch, lo, hi, exc_info=True)
