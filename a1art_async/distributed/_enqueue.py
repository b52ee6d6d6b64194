"""
:func:`enqueue`: a batch's jobs into the journal, and its shards into the queue.

Idempotent: a job whose key the batch has already is left as it is (running the same
enqueue twice adds nothing).  Rows are streamed in with ``COPY`` (from an iterable or
an async iterable: nothing is held in memory, so a file of any size can be enqueued)
and go into the journal with one ``INSERT ... ON CONFLICT DO NOTHING``, under a lock on
the batch's row, so that the new rows' ``seq`` numbers are consecutive among the
batch's; they are cut into shards of :data:`~._shards.SHARD_SIZE`.  Keys are compared
in the database too: identical derived keys are numbered apart (``-2``, ``-3``...), and
a row whose key an earlier row of the same enqueue has is not added but reported
(:attr:`Enqueued.repeated`).  When no shard of the batch is queued or running, every
row that can still move is queued again in fresh shards: that is how running the same
batch again resumes it after a shard gave up or every worker stopped.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any, Final

import attrs
import procrastinate
from procrastinate.types import JSONValue

from ._database import Pool
from ._shards import SHARD_SIZE, TASK, queue_of

_BOUNDS: Final = """
SELECT min(seq), max(seq) + 1 FROM (
    SELECT seq, (row_number() OVER (ORDER BY seq) - 1) / %(size)s AS shard FROM ({rows}) r
) numbered GROUP BY shard ORDER BY 1
"""


@attrs.frozen
class Incoming:
    """
    One job to enqueue.

    Attributes:
        key: Its key in the batch.
        provider: The provider that runs it.
        params: Its JSON parameters (what rebuilds the job on any worker).
        line: Where it came from (a job file's line), to report a repeated key.
        derived: The key was derived from the parameters: identical jobs are numbered
            apart instead of being refused as repeated.
    """

    key: str
    provider: str
    params: Mapping[str, Any]
    line: int | None = None
    derived: bool = False


@attrs.frozen
class Repeated:
    """
    A row not added because an earlier row of the same enqueue has its key.
    """

    line: int
    key: str
    first: int


@attrs.frozen
class Enqueued:
    """
    What an enqueue did: jobs added, jobs the batch had already, shards queued, and
    the rows refused for a key an earlier row has (``repeats`` of them; the first
    :data:`MAX_REPEATED` in ``repeated``).
    """

    added: int
    existing: int
    shards: int
    repeated: tuple[Repeated, ...] = ()
    repeats: int = 0


# Identical derived keys numbered apart in file order, as the local batch does.
_NUMBER_DERIVED: Final = """
UPDATE a1art_incoming i SET key = i.key || '-' || n.rn
  FROM (SELECT ord, row_number() OVER (PARTITION BY key ORDER BY ord) AS rn
          FROM a1art_incoming WHERE derived) n
 WHERE i.ord = n.ord AND n.rn > 1
"""

_REPEATED: Final = """
SELECT line, key, first FROM (
    SELECT ord, line, key, first_value(line) OVER (PARTITION BY key ORDER BY ord) AS first,
           row_number() OVER (PARTITION BY key ORDER BY ord) AS rn
      FROM a1art_incoming) r
 WHERE rn > 1 ORDER BY ord LIMIT %s
"""

#: Repeated rows reported at most (the first ones, in file order).
MAX_REPEATED: Final = 1000


async def enqueue(
    pool: Pool,
    app: procrastinate.App,
    batch: str,
    rows: Iterable[Incoming] | AsyncIterable[Incoming],
    *,
    budget: int | None = None,
    resubmit_unknown: bool = False,
    shard_size: int = SHARD_SIZE,
) -> Enqueued:
    """
    Add ``(key, provider, params)`` rows to *batch* and queue their shards.

    Args:
        pool: An open pool (the schema in place).
        app: The procrastinate app, open on that pool.
        batch: The batch's name.
        rows: The jobs.
        budget: The batch's credit budget (``None`` leaves it as it is).
        resubmit_unknown: Shards of this batch submit again jobs whose earlier paid
            request may have been charged.
        shard_size: Jobs per shard (smaller shards spread a small batch over more
            workers; larger ones keep the queue smaller).
    """
    settings = json.dumps({"resubmit_unknown": resubmit_unknown})
    async with pool.connection() as connection, connection.transaction():
        await connection.execute(
            "INSERT INTO a1art_batches (name) VALUES (%s) ON CONFLICT DO NOTHING", (batch,)
        )
        await connection.execute("SELECT 1 FROM a1art_batches WHERE name = %s FOR UPDATE", (batch,))
        await connection.execute(
            "UPDATE a1art_batches SET settings = %s::jsonb,"
            " budget = CASE WHEN %s THEN %s ELSE budget END WHERE name = %s",
            (settings, budget is not None, budget, batch),
        )
        await connection.execute(
            "CREATE TEMP TABLE a1art_incoming (ord bigint, line bigint, key text,"
            " provider text, params jsonb, derived boolean) ON COMMIT DROP"
        )
        total = 0
        async with connection.cursor().copy(
            "COPY a1art_incoming (ord, line, key, provider, params, derived) FROM STDIN"
        ) as copy:
            async for row in _each(rows):
                line = total + 1 if row.line is None else row.line
                await copy.write_row(
                    (total, line, row.key, row.provider, json.dumps(row.params), row.derived)
                )
                total += 1
        await connection.execute(_NUMBER_DERIVED)
        cursor = await connection.execute(_REPEATED, (MAX_REPEATED,))
        repeated = tuple(Repeated(int(a), str(b), int(c)) for a, b, c in await cursor.fetchall())
        cursor = await connection.execute(
            "SELECT count(*) - count(DISTINCT key) FROM a1art_incoming"
        )
        repeats_row = await cursor.fetchone()
        repeats = int(repeats_row[0]) if repeats_row else 0
        cursor = await connection.execute(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE queue_name = %s AND status IN ('todo', 'doing')",
            (queue_of(batch),),
        )
        live_row = await cursor.fetchone()
        live = bool(live_row and live_row[0])
        # New rows, in file order; their seqs come from one sequence, in that order.
        await connection.execute(
            "CREATE TEMP TABLE a1art_added ON COMMIT DROP AS WITH added AS ("
            " INSERT INTO a1art_jobs (batch, key, provider, params, updated)"
            " SELECT %s, key, provider, params, extract(epoch FROM clock_timestamp())"
            " FROM (SELECT DISTINCT ON (key) key, provider, params, ord FROM a1art_incoming"
            " ORDER BY key, ord) i"
            " ORDER BY ord ON CONFLICT (batch, key) DO NOTHING RETURNING seq)"
            " SELECT seq FROM added",
            (batch,),
        )
        cursor = await connection.execute("SELECT count(*) FROM a1art_added")
        added_row = await cursor.fetchone()
        added = int(added_row[0]) if added_row else 0
        if live:
            source = "SELECT seq FROM a1art_added"
            bounds_params: dict[str, Any] = {"size": shard_size}
        else:
            states = ["pending", "submitting", "submitted", "answered"]
            if resubmit_unknown:
                states.append("unknown")
            source = (
                "SELECT seq FROM a1art_jobs WHERE batch = %(batch)s AND state = ANY(%(states)s)"
            )
            bounds_params = {"size": shard_size, "batch": batch, "states": states}
        cursor = await connection.execute(_BOUNDS.format(rows=source), bounds_params)
        bounds = await cursor.fetchall()
    shards: list[dict[str, JSONValue]] = [
        {"batch": batch, "lo": int(lo), "hi": int(hi)} for lo, hi in bounds
    ]
    if shards:
        await app.configure_task(TASK, queue=queue_of(batch)).batch_defer_async(*shards)
    return Enqueued(
        added=added,
        existing=total - added - repeats,
        shards=len(shards),
        repeated=repeated,
        repeats=repeats,
    )


async def _each(rows: Iterable[Incoming] | AsyncIterable[Incoming]) -> AsyncIterable[Incoming]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row
