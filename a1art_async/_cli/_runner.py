"""
Running a list of jobs through one batch while a :class:`Board` shows where each stands:
a1.art jobs through ``client.batch`` (``a1art demo``), or the checked rows of a job file
of any providers through one engine batch (``a1art batch``), each job submitted and
polled through its own provider's client.

The board follows the batch's events (``on_event``): a job is *submitted* when its task
is created (or picked up from the journal), *running* when its polls see it leave the
queue, and ends with its outcome; failed requests that will be tried again show as
trouble.  It sends no request of its own: the events come from the batch's own polls.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import attrs
from rich.console import Console

from .._client import AsyncClient
from .._engine._batch import Batch, BatchOutcome, BatchSummary, ResultFile
from .._engine._download import safe_stem, save_bytes
from .._engine._events import Listeners
from .._engine._journal import JournalStore
from .._generation import GenerateOptions
from .._models import App
from ._interrupt import Interrupts
from ._progress import REFRESH, Board, BoardDisplay
from ._providers import AnyClient, Planned


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
    board = board or Board(title)
    for job in jobs:
        board.add(job.key, job.group)
    batch = client.batch(
        concurrency=concurrency,
        journal=journal,
        download_to=download_to,
        budget=budget,
        resubmit_unknown=resubmit_unknown,
        language=language,
        on_event=board.on_event,
    )

    def add() -> None:
        for job in jobs:
            batch.add(job.app, key=job.key, **job.arguments)

    return await _drive(batch, add, board, console)


async def run_planned(
    planned: Sequence[Planned],
    clients: Sequence[AnyClient],
    *,
    title: str,
    console: Console,
    journal: JournalStore,
    concurrency: int = 8,
    download_to: str | os.PathLike[str] | None = None,
    budget: int | None = None,
    resubmit_unknown: bool = False,
    board: Board | None = None,
    interrupts: Interrupts | None = None,
) -> RunResult:
    """
    Run checked rows of any providers as one engine batch (one journal, one budget, one
    board), with progress on *console*.

    Each job is submitted and polled through its own provider's client; the batch
    follows the events of every client (its jobs' polls, and requests being retried).
    Downloads go through the first client's connection pool, which carries no
    credentials (each client sends its key to its own API only).

    Args:
        planned: The checked rows, in the order they are added.
        clients: The open clients of the rows' providers (at least one).
        title, console, journal, concurrency, download_to, budget, resubmit_unknown,
            board: As for :func:`run_jobs`.
        interrupts: The command's: Ctrl-C stops the batch (see ``_interrupt``).
    """
    board = board or Board(title, label="group")
    for item in planned:
        board.add(item.key, item.group)
    relay = Listeners()
    with contextlib.ExitStack() as stack:
        for client in clients:
            stack.enter_context(client.listening(relay.emit))
        batch = Batch(
            http=clients[0].http,
            retry=clients[0].retry,
            listeners=relay,
            durations={
                name: learned
                for client in clients
                for name, learned in client._batch_engine()["durations"].items()
            },
            concurrency=concurrency,
            journal=journal,
            download_to=download_to,
            budget=budget,
            resubmit_unknown=resubmit_unknown,
            on_event=board.on_event,
        )

        def add() -> None:
            for item in planned:
                batch.add_job(item.job)

        save_to = None if download_to is None else Path(download_to)
        return await _drive(batch, add, board, console, save_to=save_to, interrupts=interrupts)


class _Stopper:
    """
    The batch as Ctrl-C stops it (see ``_interrupt``), saying on the progress console
    what it waits for.
    """

    def __init__(self, batch: Batch, console: Console) -> None:
        self._batch = batch
        self._console = console

    def stop(self) -> None:
        flying = self._batch.in_flight
        self._batch.stop()
        if flying:
            self._console.print(
                f"a1art: stopping; {_requests(flying)} on their way first bring their "
                "answers into the journal (Ctrl-C again to give them up)",
                markup=False,
            )

    def abandon(self) -> None:
        flying = self._batch.in_flight
        self._batch.abandon()
        if flying:
            self._console.print(
                f"a1art: gave up the answers of {_requests(flying)}: they may have been "
                "charged, and the next run reports them as outcome unknown",
                markup=False,
            )


def _requests(count: int) -> str:
    return "1 paid request" if count == 1 else f"{count} paid requests"


async def _drive(
    batch: Batch,
    add: Callable[[], None],
    board: Board,
    console: Console,
    *,
    save_to: Path | None = None,
    interrupts: Interrupts | None = None,
) -> RunResult:
    """
    Open *batch*, *add* its jobs, and follow it to the end on the board; with *save_to*,
    inline images that earlier runs journaled without saving are saved there too (see
    :func:`save_inline`).  With *interrupts*, Ctrl-C stops the batch without losing what
    was paid for, and the run ends with what had ended by then.
    """
    outcomes: list[BatchOutcome] = []
    with BoardDisplay(board, console) as display:
        async with anyio.create_task_group() as group:
            async with batch:
                group.start_soon(_redraw, display)
                add()
                if interrupts is not None:
                    interrupts.stopper = _Stopper(batch, console)
                try:
                    async for outcome in batch:
                        if save_to is not None:
                            outcome = await save_inline(outcome, save_to)
                        board.finish(outcome)
                        display.outcome(outcome)
                        outcomes.append(outcome)
                finally:
                    if interrupts is not None:
                        interrupts.stopper = None
                summary = batch.summary
            group.cancel_scope.cancel()
    return RunResult(tuple(outcomes), summary, board)


async def save_inline(outcome: BatchOutcome, directory: Path) -> BatchOutcome:
    """
    A job that was done in an earlier run without a folder to save to keeps the images
    that came inline (a gateway's bytes) only in the journal, as ``data:`` URLs: with a
    folder now, they are saved there (``<key>-<n>``, as the batch names files), and the
    outcome names the files.  Anything else is returned as it is: a result URL of an
    earlier run is not downloaded again (it may have expired; the journal keeps it).

    The journal keeps the ``data:`` URLs (a batch writes no record of a job that had
    ended), so every such run writes the same files again, in place.
    """
    if not outcome.from_journal or not outcome.ok:
        return outcome
    if not any(file.startswith("data:") for file in outcome.files):
        return outcome
    files: list[str] = []
    for index, file in enumerate(outcome.files):
        if file.startswith("data:"):
            inline = ResultFile.from_url(file)
            stem = f"{safe_stem(outcome.key)}-{index}"
            path = await save_bytes(inline.data or b"", directory, stem, inline.content_type)
            file = str(path)
        files.append(file)
    return attrs.evolve(outcome, files=tuple(files))


async def _redraw(display: BoardDisplay) -> None:
    while True:
        display.refresh()
        await anyio.sleep(REFRESH)
