"""
A worker's loop: procrastinate's worker running shards, beside the policy code that
puts the shards of dead workers back in the queue, until told to stop (or, with
``until_done``, until no shard of its batches is queued or running).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs
import procrastinate
from procrastinate.app import WorkerOptions as ProcrastinateOptions

from .._engine._events import Event, EventKind, Listener, Listeners
from ._database import Pool
from ._providers import provider
from ._queue import CONTEXT, make_app, requeue_stalled
from ._shards import Counters, WorkerContext, queue_of

logger = logging.getLogger("a1art_async.distributed")


@attrs.frozen
class WorkerOptions:
    """
    How a worker runs.

    Attributes:
        batch: Work on this batch's shards only (every batch's by default).
        until_done: Stop once no shard of the batch (of any batch) is queued or running.
        shards: Shards run at once (each its own engine batch on the one client).
        concurrency: Jobs of a shard checked, uploaded and submitted at once.
        download_to: Save results here (a folder on this worker's machine).
        name: The worker's name in the journal's rows.
        heartbeat: Seconds between the worker's heartbeats.
        stalled_after: Seconds without a heartbeat after which a worker is taken for
            dead and its shards are queued again.
        poll_interval: Seconds between looks at the queue besides notifications.
    """

    batch: str | None = None
    until_done: bool = False
    shards: int = 2
    concurrency: int = 8
    download_to: str | os.PathLike[str] | None = None
    name: str | None = None
    heartbeat: float = 2.0
    stalled_after: float = 10.0
    poll_interval: float = 1.0


async def _busy(pool: Pool, batch: str | None) -> bool:
    async with pool.connection() as connection:
        cursor = await connection.execute(
            "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            " AND (queue_name = %s OR (%s::text IS NULL AND queue_name LIKE 'a1art.%%')))",
            (None if batch is None else queue_of(batch), batch),
        )
        row = await cursor.fetchone()
    return bool(row and row[0])


async def work(
    pool: Pool,
    clients: Mapping[str, Any],
    dsn: str,
    name: str,
    options: WorkerOptions,
    stop: anyio.Event | None = None,
    on_event: Listener | None = None,
) -> Counters:
    """
    Run shards until *stop* is set, the caller is cancelled, or (``until_done``) the
    queue is empty; return what this worker did.  *on_event* is called with every
    event of the jobs this worker runs (each with its job's key).
    """
    app = make_app()
    queue = None if options.batch is None else queue_of(options.batch)
    context = WorkerContext(
        pool=pool,
        clients=clients,
        name=name,
        dsn=dsn,
        concurrency=options.concurrency,
        download_to=None if options.download_to is None else Path(options.download_to),
        on_event=on_event,
    )
    with contextlib.ExitStack() as relays:
        for provider_name, client in clients.items():
            relays.callback(_relay_retries(provider_name, client, on_event))
        await _run(app, pool, queue, context, options, stop)
    return context.counters


async def _run(
    app: procrastinate.App,
    pool: Pool,
    queue: str | None,
    context: WorkerContext,
    options: WorkerOptions,
    stop: anyio.Event | None,
) -> None:
    async with app.open_async(pool=pool):
        settings: ProcrastinateOptions = {
            "concurrency": options.shards,
            "name": context.name,
            "wait": True,
            "additional_context": {CONTEXT: context},
            "install_signal_handlers": False,
            "update_heartbeat_interval": options.heartbeat,
            # Stopping (Ctrl-C, SIGTERM, the caller done) aborts the running shards at
            # once: each goes back to the queue, its rows say where each job is.
            "shutdown_graceful_timeout": 0.0,
            "stalled_worker_timeout": options.stalled_after,
            "fetch_job_polling_interval": options.poll_interval,
            "abort_job_polling_interval": options.poll_interval,
        }
        if queue is not None:  # else every queue (procrastinate's own default)
            settings["queues"] = [queue]
        task = asyncio.create_task(app.run_worker_async(**settings))
        # Wakes the loop as soon as the caller says stop.
        stopping = None if stop is None else asyncio.ensure_future(stop.wait())
        try:
            while not task.done():
                await requeue_stalled(app, options.stalled_after, queue)
                if stop is not None and stop.is_set():
                    break
                if options.until_done and not await _busy(pool, options.batch):
                    break
                waits: list[asyncio.Future[Any]] = [task]
                if stopping is not None:
                    waits.append(stopping)
                await asyncio.wait(
                    waits, timeout=options.poll_interval, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            if stopping is not None:
                stopping.cancel()
            if not task.done():
                task.cancel()
            # Shielded: the aborted shards requeue themselves and procrastinate records
            # their status through this pool, which must outlive them.
            with anyio.CancelScope(shield=True):
                await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                logger.warning("the worker stopped with an error", exc_info=task.exception())


def _relay_retries(name: str, client: Any, on_event: Listener | None) -> Callable[[], None]:
    """
    Pass the client's events about no job (a request being retried) to *on_event*,
    once, however many shards run; how to stop.
    """
    if on_event is None:
        return lambda: None
    listeners: Listeners = provider(name).engine(client)["listeners"]

    def relay(event: Event) -> None:
        if event.task_id is None and event.kind is EventKind.RETRYING:
            on_event(event)

    return listeners.add(relay)
