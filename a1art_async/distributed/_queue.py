"""
The procrastinate app: one task, :data:`~._shards.TASK`, that runs a shard.

procrastinate keeps the shards in ``procrastinate_jobs``, hands each to one worker
(``FOR UPDATE SKIP LOCKED``), retries a shard that raised
:class:`~._shards.ShardUnfinished` with a growing wait, and by default never re-delivers
the shards of a worker that died: that is left to policy code, which here is
:func:`requeue_stalled` (the shards of workers whose heartbeat stopped go back to the
queue, and their rows decide what happens to each job).
"""

from __future__ import annotations

from typing import Any

import procrastinate

from ._shards import TASK, ShardUnfinished, WorkerContext, defer_again, run_shard

#: Where the worker's context travels in procrastinate's job context.
CONTEXT = "a1art"


def make_app() -> procrastinate.App:
    """
    A procrastinate app with the shard task; open it with ``app.open_async(pool=...)``.
    """
    app = procrastinate.App(connector=procrastinate.PsycopgConnector())

    @app.task(
        name=TASK,
        pass_context=True,
        retry=procrastinate.RetryStrategy(
            max_attempts=20, wait=2, exponential_wait=2, retry_exceptions={ShardUnfinished}
        ),
    )
    async def run(job_context: procrastinate.JobContext, batch: str, lo: int, hi: int) -> None:
        extra: Any = job_context.additional_context
        context: WorkerContext = extra[CONTEXT]
        try:
            await run_shard(context, batch, lo, hi)
        except BaseException as error:
            if not isinstance(error, Exception):
                # Stopped in the middle (Ctrl-C, SIGTERM): the shard goes back to the
                # queue for another worker, its rows say where each job stands.
                await defer_again(app, batch, lo, hi)
            raise

    return app


async def requeue_stalled(app: procrastinate.App, seconds: float, queue: str | None) -> int:
    """
    Put the shards of workers without a heartbeat for *seconds* back in the queue, and
    forget those workers; how many shards went back.
    """
    manager = app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=seconds, queue=queue))
    for job in stalled:
        await manager.retry_job(job)
    await manager.prune_stalled_workers(seconds)
    return len(stalled)
