"""
:class:`DistributedBatch`: ``client.batch(journal="postgresql://...", batch="nightly")``.

The same ``add`` / ``async for`` API as a local batch, over the shared journal: each
``add`` stores the job's parameters as a row (rows go in a page at a time), shards go
to the queue, workers anywhere (``run_worker``, ``a1art worker``, and this process with
``workers > 0``) run them, and iterating yields each added job's outcome once, as the
journal records it (jobs that had ended before are yielded at once, ``from_journal``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Self

import anyio

from .._engine._batch import BatchOutcome, BatchSummary, OutcomeUnknownFromJournal
from .._engine._errors import A1ArtError, ValidationError
from .._engine._events import Listener
from .._engine._journal import JobState
from ._database import Pool, open_pool, require_asyncio
from ._endings import Endings, last_ended
from ._enqueue import Incoming, enqueue
from ._journal import PostgresJournal, worker_name
from ._providers import DEFAULT_PROVIDER, provider
from ._queue import make_app
from ._shards import SHARD_SIZE
from ._tokens import shared_budget
from ._worker import WorkerOptions, work

#: Rows sent to the journal at once.
PAGE = 1000


class DistributedBatch:
    """
    A batch shared by workers through PostgreSQL; see the module docstring.

    Args:
        client: The provider's client (its requests, for the in-process workers).
        journal: A ``postgresql://`` URL, or a :class:`PostgresJournal` (its URL and
            batch name are used).
        batch: The batch's name.
        workers: Shards this process works on at once (0: enqueue and wait only).
        concurrency: Jobs of a shard submitted at once, in this process.
        download_to: Where this process's workers save results.
        budget: The batch's credit budget, kept in the database for every worker.
        resubmit_unknown: Submit again jobs whose earlier paid request may have been
            charged.
        language: The language app details are read in (a1.art).
        poll_interval: Seconds between looks at the journal for ended jobs.
        on_event: Called with every event of the jobs this process's workers run, each
            with its job's key (submitted, running, retrying, done, failed, unknown),
            as a local batch's ``on_event``.  Jobs other processes run are not seen
            here: their outcomes come through iterating the batch.
        shard_size: Jobs per shard, the unit workers take.
    """

    def __init__(
        self,
        client: Any,
        *,
        journal: str | PostgresJournal,
        batch: str | None = None,
        workers: int = 1,
        concurrency: int = 8,
        download_to: str | os.PathLike[str] | None = None,
        budget: int | None = None,
        resubmit_unknown: bool = False,
        language: str | None = None,
        poll_interval: float = 0.2,
        on_event: Listener | None = None,
        shard_size: int = SHARD_SIZE,
    ) -> None:
        if on_event is not None and workers == 0:
            raise ValidationError(
                "on_event",
                "events come from the jobs this process runs, and workers=0 runs none: "
                "iterate the batch for every job's outcome",
            )
        if isinstance(journal, PostgresJournal):
            dsn, batch = journal.dsn, batch or journal.batch
        else:
            dsn = journal
        if not isinstance(batch, str) or not batch.strip():
            raise ValidationError("batch", "a postgresql:// journal needs batch=NAME")
        if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
            raise ValidationError("shard_size", f"must be a positive integer, got {shard_size!r}")
        for field, value in (("workers", workers), ("concurrency", concurrency)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(field, f"must be a non-negative integer, got {value!r}")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int) or budget < 0
        ):
            raise ValidationError("budget", f"must be a non-negative integer, got {budget!r}")
        self.dsn = dsn
        self.name = batch
        self._client = client
        self._workers = workers
        self._options = WorkerOptions(
            batch=batch,
            shards=max(1, workers),
            concurrency=max(1, concurrency),
            download_to=download_to,
            poll_interval=min(1.0, poll_interval * 5),
        )
        self._on_event = on_event
        self._shard_size = shard_size
        self._budget = budget
        self._resubmit = resubmit_unknown
        self._language = language
        self._poll = poll_interval
        self._pool: Pool | None = None
        self._shared = contextlib.AsyncExitStack()
        self._app: Any = None
        self._buffer: list[Incoming] = []
        self._keys: set[str] = set()
        self._yielded: set[str] = set()
        self._flushed = False
        self._group: Any = None
        self._stop = anyio.Event()
        self._started = 0.0
        self._counts = dict.fromkeys(("done", "failed", "unknown", "skipped", "spent"), 0)

    def __repr__(self) -> str:
        return f"<DistributedBatch {self.name!r} jobs={len(self._keys)}>"

    async def __aenter__(self) -> Self:
        require_asyncio("a distributed batch")
        self._started = anyio.current_time()
        self._pool = await open_pool(self.dsn, size=2 * max(1, self._workers) + 3)
        self._app = make_app()
        await self._app.open_async(pool=self._pool)
        if self._workers > 0:
            await self._shared.enter_async_context(shared_budget(self._pool, self._client))
            self._group = anyio.create_task_group()
            await self._group.__aenter__()
            self._group.start_soon(self._work)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None and self._buffer:
                await self._flush()
        finally:
            self._stop.set()
            if self._group is not None:
                if exc is not None:
                    self._group.cancel_scope.cancel()
                await self._group.__aexit__(exc_type, exc, tb)
            await self._shared.aclose()
            if self._app is not None:
                await self._app.close_async()
            if self._pool is not None:
                await self._pool.close()

    async def _work(self) -> None:
        assert self._pool is not None
        clients = {DEFAULT_PROVIDER: self._client}
        await work(
            self._pool,
            clients,
            self.dsn,
            worker_name(),
            self._options,
            self._stop,
            on_event=self._on_event,
        )

    # Adding ---------------------------------------------------------------------------

    def add(self, app: Any, *, key: str | None = None, **options: Any) -> str:
        """
        Queue one job of the default provider (a1.art: as ``client.generate`` takes
        it); images must be paths every worker can read, or URLs.

        Returns:
            The job's key.

        Raises:
            ValidationError: An argument the journal cannot hold (bytes, a file
                object), or a key used twice.
        """
        spec = provider(DEFAULT_PROVIDER)
        derived, params = spec.params(app, options)
        if self._language is not None:
            params["language"] = self._language
        return self.add_row(key if key is not None else derived, params, DEFAULT_PROVIDER)

    def add_row(self, key: str, params: Mapping[str, Any], provider_name: str) -> str:
        """
        Queue one job given as its journal row: its key, JSON parameters and provider.
        """
        if not isinstance(key, str) or not key:
            raise ValidationError("key", f"must be a non-empty string, got {key!r}")
        if key in self._keys:
            raise ValidationError("key", f"job key {key!r} was added twice")
        self._keys.add(key)
        self._buffer.append(Incoming(key, provider_name, params))
        return key

    async def _flush(self) -> None:
        assert self._pool is not None
        rows, self._buffer = self._buffer, []
        for start in range(0, max(1, len(rows)), PAGE):
            await enqueue(
                self._pool,
                self._app,
                self.name,
                rows[start : start + PAGE],
                budget=self._budget,
                resubmit_unknown=self._resubmit,
                shard_size=self._shard_size,
            )
        self._flushed = True

    # Iterating --------------------------------------------------------------------------

    async def __aiter__(self) -> AsyncIterator[BatchOutcome]:
        assert self._pool is not None
        journal = PostgresJournal(self.dsn, self.name, pool=self._pool)
        cursor = await last_ended(self._pool)
        await self._flush()
        # Jobs that had ended before this run are yielded from the journal at once.
        keys = list(self._keys)
        for start in range(0, len(keys), PAGE):
            rows = await journal._execute(
                "SELECT key, state, task_id, files, error, cost FROM a1art_jobs"
                " WHERE batch = %s AND key = ANY(%s) AND ended IS NOT NULL AND ended <= %s",
                (self.name, keys[start : start + PAGE], cursor),
            )
            for row in rows:
                outcome = self._outcome(row, from_journal=True)
                if outcome is not None:
                    yield outcome
        endings = Endings(self._pool, self.name, cursor)
        while len(self._yielded) < len(self._keys):
            rows = await endings.page()
            for row in rows:
                outcome = self._outcome(row, from_journal=False)
                if outcome is not None:
                    yield outcome
            if len(rows) < PAGE:
                await anyio.sleep(self._poll)

    def _outcome(self, row: Any, *, from_journal: bool) -> BatchOutcome | None:
        key, state, task_id, files, error, cost = row[:6]
        if key not in self._keys or key in self._yielded:
            return None
        self._yielded.add(key)
        job_state = JobState(state)
        failure: A1ArtError | None = None
        if job_state is JobState.UNKNOWN:
            failure = OutcomeUnknownFromJournal(error or "")
        elif error:
            failure = A1ArtError(error)
        if from_journal and job_state is not JobState.UNKNOWN:
            self._counts["skipped"] += 1
        else:
            self._counts[job_state.value if job_state.is_final else "failed"] += 1
            self._counts["spent"] += cost or 0
        return BatchOutcome(
            key,
            job_state,
            task_id=task_id,
            files=tuple(files or ()),
            error=failure,
            cost=cost or 0,
            from_journal=from_journal,
        )

    @property
    def summary(self) -> BatchSummary:
        """
        What has ended so far (as this process saw it in the journal).
        """
        return BatchSummary(
            done=self._counts["done"],
            failed=self._counts["failed"],
            unknown=self._counts["unknown"],
            skipped=self._counts["skipped"],
            credits_spent=self._counts["spent"],
            wall_time=anyio.current_time() - self._started,
            credits_low=self._counts["spent"],
        )
