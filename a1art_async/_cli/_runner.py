"""
Running a list of jobs through ``client.batch`` while a :class:`Board` shows where each
stands.  Used by ``a1art batch`` and ``a1art demo``.

The batch reports each job once, when it ends.  To show the steps before that without
a single extra request, the runner reads the journal as the batch writes it (a job is
*submitted* once its task id is recorded) and, for each submitted task, joins the
client's polling scheduler as one more waiter: waiters on a task share its polls, so
the board sees every state the batch's own polls see (*running* is state 30).
"""

from __future__ import annotations

import contextlib
import os
import queue
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import attrs
from anyio.abc import TaskGroup
from rich.console import Console

from .._client import AsyncClient
from .._engine._batch import BatchOutcome, BatchSummary
from .._engine._journal import JobRecord, JobState, JournalStore
from .._engine._limiter import Priority, request_priority
from .._generation import GenerateOptions
from .._handles import TaskHandle
from .._models import App
from ._progress import REFRESH, Board, BoardDisplay


@attrs.frozen
class RunJob:
    """
    One job for :func:`run_jobs`.

    Attributes:
        key: Its key in the journal.
        app: The app (details, so nothing is fetched again) or its id.
        group: The row of the board it is counted in.
        arguments: Keyword arguments for ``batch.add``.
    """

    key: str
    app: App | str
    group: str
    arguments: GenerateOptions


@attrs.frozen
class RunResult:
    """
    What a run ended with: every outcome in completion order, and the batch's summary.
    """

    outcomes: tuple[BatchOutcome, ...]
    summary: BatchSummary
    board: Board


class ObservedJournal:
    """
    A :class:`JournalStore` that passes every record it stores on to the event loop.

    The batch calls ``put`` from a worker thread; records wait in a thread-safe queue
    until the loop drains it.
    """

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self.loaded: dict[str, JobRecord] = {}
        self.records: queue.SimpleQueue[JobRecord] = queue.SimpleQueue()

    def load(self) -> dict[str, JobRecord]:
        self.loaded = self.store.load()
        return self.loaded

    def put(self, record: JobRecord) -> None:
        self.store.put(record)
        self.records.put(record)

    def close(self) -> None:
        self.store.close()


class _Tracker:
    """
    Moves jobs on the board as the journal records them, and follows submitted tasks.
    """

    def __init__(
        self,
        client: AsyncClient,
        board: Board,
        journal: ObservedJournal,
        apps: Mapping[str, App | str],
        group: TaskGroup,
    ) -> None:
        self.client = client
        self.board = board
        self.journal = journal
        self.apps = apps
        self.group = group
        self.scopes: dict[str, anyio.CancelScope] = {}

    def resume(self) -> None:
        """
        Follow the tasks an earlier run submitted.
        """
        for record in self.journal.loaded.values():
            if record.state is JobState.SUBMITTED and record.task_id:
                self._follow(record, paid_before=True)

    def pump(self) -> None:
        """
        Apply what the journal recorded since the last call.
        """
        while True:
            try:
                record = self.journal.records.get_nowait()
            except queue.Empty:
                return
            if record.state is JobState.SUBMITTED and record.task_id:
                self._follow(record, paid_before=False)
            elif record.state is JobState.UNKNOWN:
                self.board.spent(record.key, record.cost)

    def forget(self, key: str) -> None:
        """
        The job ended: stop following its task.
        """
        scope = self.scopes.pop(key, None)
        if scope is not None:
            scope.cancel()

    async def refresh(self, display: BoardDisplay) -> None:
        """
        Keep the board current until cancelled.
        """
        while True:
            self.pump()
            display.refresh()
            await anyio.sleep(REFRESH)

    def _follow(self, record: JobRecord, *, paid_before: bool) -> None:
        assert record.task_id is not None
        app = self.apps.get(record.key)
        handle = self.client.tasks.track(record.task_id, app=app if isinstance(app, App) else None)
        self.board.submitted(record.key, cost=record.cost, handle=handle, paid_before=paid_before)
        if record.key in self.scopes:
            return
        scope = anyio.CancelScope()
        self.scopes[record.key] = scope
        self.group.start_soon(self._watch, scope, handle)

    @staticmethod
    async def _watch(scope: anyio.CancelScope, handle: TaskHandle) -> None:
        # One more waiter on a task the batch already waits for: it shares the batch's
        # polls, at bulk priority, and only keeps `handle.state` current.
        with scope, request_priority(Priority.BULK), contextlib.suppress(Exception):
            await handle.result()


def journal_path(path: str | os.PathLike[str] | None, jobs_file: Path) -> Path:
    """
    The journal for a jobs file: *path*, or ``JOBS.journal.sqlite`` beside it.
    """
    if path is not None:
        return Path(path)
    return jobs_file.with_name(jobs_file.name + ".journal.sqlite")


async def run_jobs(
    client: AsyncClient,
    jobs: Sequence[RunJob],
    *,
    title: str,
    console: Console,
    journal: JournalStore,
    concurrency: int = 8,
    download_to: str | os.PathLike[str] | None = None,
    budget: int | None = None,
    resubmit_unknown: bool = False,
    language: str | None = None,
    board: Board | None = None,
) -> RunResult:
    """
    Run *jobs* as one batch, with progress on *console*.

    Args:
        client: An open client (``async with``).
        jobs: The jobs, in the order they are added.
        title: The board's title.
        console: Where progress is shown (stderr).
        journal: The batch's journal.
        concurrency: Jobs checked, uploaded and submitted at once.
        download_to: Save results here.
        budget: The batch's credit budget.
        resubmit_unknown: Resubmit jobs whose earlier generate may have been charged.
        language: The language app details are read in.
        board: The board to keep current (a new one titled *title* by default).
    """
    observed = ObservedJournal(journal)
    board = board or Board(title)
    for job in jobs:
        board.add(job.key, job.group)
    apps = {job.key: job.app for job in jobs}
    outcomes: list[BatchOutcome] = []
    with BoardDisplay(board, console) as display:
        async with anyio.create_task_group() as group:
            tracker = _Tracker(client, board, observed, apps, group)
            async with client.batch(
                concurrency=concurrency,
                journal=observed,
                download_to=download_to,
                budget=budget,
                resubmit_unknown=resubmit_unknown,
                language=language,
            ) as batch:
                tracker.resume()
                group.start_soon(tracker.refresh, display)
                for job in jobs:
                    batch.add(job.app, key=job.key, **job.arguments)
                async for outcome in batch:
                    tracker.pump()
                    tracker.forget(outcome.key)
                    board.finish(outcome)
                    display.outcome(outcome)
                    outcomes.append(outcome)
                summary = batch.summary
            group.cancel_scope.cancel()
    return RunResult(tuple(outcomes), summary, board)
