"""
:func:`enqueue`: a batch's jobs into the journal, and its shards into the queue.

Idempotent: a job whose key the batch has already is left as it is (running the same
enqueue twice adds nothing).  Rows go in with ``COPY`` and one ``INSERT ... ON
CONFLICT DO NOTHING``, under a lock on the batch's row, so that the new rows' ``seq``
numbers are consecutive among the batch's; they are cut into shards of
:data:`~._shards.SHARD_SIZE`.  When no shard of the batch is queued or running, every
row that can still move is queued again in fresh shards: that is how running the same
batch again resumes it after a shard gave up or every worker stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
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
class Enqueued:
    """
    What an enqueue did: jobs added, jobs the batch had already, shards queued.
    """

    added: int
    existing: int
    shards: int


async def enqueue(
    pool: Pool,
    app: procrastinate.App,
    batch: str,
    rows: Iterable[tuple[str, str, Mapping[str, Any]]],
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
            "CREATE TEMP TABLE a1art_incoming (ord bigint, key text, provider text,"
            " params jsonb) ON COMMIT DROP"
        )
        total = 0
        async with connection.cursor().copy(
            "COPY a1art_incoming (ord, key, provider, params) FROM STDIN"
        ) as copy:
            for key, provider, params in rows:
                await copy.write_row((total, key, provider, json.dumps(params)))
                total += 1
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
            " FROM (SELECT DISTINCT ON (key) * FROM a1art_incoming ORDER BY key, ord) i"
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
    return Enqueued(added=added, existing=total - added, shards=len(shards))
