"""
:func:`run_worker`: one worker process's whole life, from a DSN.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

import anyio
import attrs

from .._client import AsyncClient
from .._engine._errors import ValidationError
from .._engine._events import Listener
from .._engine._limiter import RateLimit
from ._database import open_pool, require_asyncio
from ._journal import worker_name
from ._providers import DEFAULT_PROVIDER, provider
from ._shards import Counters
from ._tokens import SharedTokenSource, shared_budget
from ._worker import WorkerOptions, work


@attrs.frozen
class WorkerReport:
    """
    What a worker did before it stopped.

    Attributes:
        name: Its name in the journal.
        done: Jobs it ended done.
        failed: Jobs it ended failed (or that failed here and may end later).
        unknown: Jobs it ended outcome-unknown.
        held: Jobs another worker held when this one reached them.
        shards: Shard runs.
        round_trips: Journal statements it sent (bookkeeping, not API requests).
    """

    name: str
    done: int
    failed: int
    unknown: int
    held: int
    shards: int
    round_trips: int

    @classmethod
    def of(cls, name: str, counters: Counters) -> WorkerReport:
        """
        The report of the worker *name*, from what it counted.
        """
        return cls(
            name=name,
            done=counters.done,
            failed=counters.failed,
            unknown=counters.unknown,
            held=counters.held,
            shards=counters.shards,
            round_trips=counters.round_trips,
        )


async def run_worker(
    dsn: str,
    client: AsyncClient | None = None,
    *,
    clients: Mapping[str, Any] | None = None,
    batch: str | None = None,
    until_done: bool = False,
    shards: int = 2,
    concurrency: int = 8,
    download_to: str | os.PathLike[str] | None = None,
    name: str | None = None,
    heartbeat: float = 2.0,
    stalled_after: float = 10.0,
    poll_interval: float = 1.0,
    on_event: Listener | None = None,
    stop: anyio.Event | None = None,
    **client_options: Any,
) -> WorkerReport:
    """
    Work on the shards of distributed batches until cancelled (or, with
    ``until_done``, until none is queued or running); asyncio only.

    Without *client*, the worker makes one from *client_options* (``api_key``,
    ``base_url``, ``rate_limit``, ``poll_policy``, ... as for ``AsyncClient``) whose
    request budget is shared, through the database, with every worker using the same
    key.  A *client* given (open it first) is used as it is, its request budget shared
    the same way unless it was given a token source of its own.

    Jobs of other providers (rows of a mixed job file) run through *clients*: open
    clients by provider name, such as ``{"akool": akool.AsyncClient(...), "gateway":
    gateway.AsyncClient(...)}``, each one's budget shared the same way.  With *clients*
    and no a1.art key (no *client*, no ``api_key``, no ``A1ART_API_KEY``), the worker
    runs without a1.art: a shard with a1.art rows goes back to the queue for a worker
    that has it.

    Args:
        dsn: The ``postgresql://`` URL of the journal.
        client: An open a1.art client, or ``None``.
        clients: Open clients of the other providers, by provider name.
        batch: Only this batch's shards (every batch's by default).
        until_done: Stop once no shard is queued or running.
        shards: Shards run at once.
        concurrency: Jobs of a shard submitted at once.
        download_to: Save results here, on this machine.
        name: The worker's name in the journal (host:pid:random by default).
        heartbeat: Seconds between heartbeats.
        stalled_after: Seconds without a heartbeat before a worker's shards are queued
            again.
        poll_interval: Seconds between looks at the queue.
        on_event: Called with every event of the jobs this worker runs (each with its
            job's key), as a local batch's ``on_event``.
        stop: Set it to stop the worker: its running shards go back to the queue (the
            jobs in ``submitting`` become unknown when the next worker reaches them),
            and it returns its report.  Cancelling the worker does the same, without
            the report.

    Raises:
        AsyncioOnlyError: On trio.
        ValidationError: Bad options, or no API key.
    """
    require_asyncio("run_worker")
    others = dict(clients or {})
    for named in others:
        if named == DEFAULT_PROVIDER:
            raise ValidationError("clients", "pass the a1.art client as client=")
        provider(named)  # a provider the journal knows, or a ValidationError
    for field, value in (("shards", shards), ("concurrency", concurrency)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(field, f"must be a positive integer, got {value!r}")
    options = WorkerOptions(
        batch=batch,
        until_done=until_done,
        shards=shards,
        concurrency=concurrency,
        download_to=download_to,
        name=name,
        heartbeat=heartbeat,
        stalled_after=stalled_after,
        poll_interval=poll_interval,
    )
    label = name or worker_name()
    pool = await open_pool(dsn, size=2 * shards + 3)
    try:
        async with contextlib.AsyncExitStack() as stack:
            key = client_options.pop("api_key", None) or os.environ.get("A1ART_API_KEY", "")
            if client is None and (not key or not key.strip()) and not others:
                raise ValidationError("api_key", "no API key: pass api_key= or set A1ART_API_KEY")
            if client is None and key and key.strip():
                try:
                    budget = RateLimit.of(client_options.pop("rate_limit", None))
                except ValueError as error:
                    raise ValidationError("rate_limit", str(error)) from None
                source = await stack.enter_async_context(
                    SharedTokenSource(pool, key.strip(), budget)
                )
                client = await stack.enter_async_context(
                    AsyncClient(
                        api_key=key, rate_limit=budget, token_source=source, **client_options
                    )
                )
            if client is not None:
                others[DEFAULT_PROVIDER] = client
            for given in others.values():
                # Each key's budget is shared with every worker using it (a client made
                # here has its shared source already).
                await stack.enter_async_context(shared_budget(pool, given))
            counters = await work(pool, others, dsn, label, options, stop, on_event=on_event)
    finally:
        await pool.close()
    return WorkerReport.of(label, counters)
