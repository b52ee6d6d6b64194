"""
The command line of distributed batches (the ``postgres`` extra; asyncio only):

- ``a1art batch JOBS --journal postgresql://DSN [--batch NAME] [--workers N]`` enqueues
  the file (idempotently) and, with workers, works on it and reports every job;
- ``a1art worker --journal postgresql://DSN [--batch NAME] [--until-done]``;
- ``a1art status --journal postgresql://DSN --batch NAME`` shows the board from the
  database: jobs by state, by worker, credits, shards.

A job file may mix providers (``_jobs``, ``_providers``): each row is journaled with its
``provider``, and any worker rebuilds its job through that provider's client.  A
process opens a client per provider it needs (the enqueuing command: as the file's rows
name them; a worker: for the rows the journal still has to run, and for every provider
whose key it was given), each with its key's request budget shared through the
database (one per API key, as every worker with that key uses).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus
from rich.console import Console

from .._client import AsyncClient
from .._engine._batch import POSTGRES_SCHEMES
from .._engine._errors import A1ArtError, ValidationError
from .._engine._journal import JobState
from .._engine._limiter import RateLimit
from ._context import Context
from ._exit import ExitCode, UsageError, describe
from ._fields import COLUMNS
from ._jobs import PROVIDERS, BadRow, Job, check_readable, column_of, stream_jobs
from ._local import check_out
from ._output import table
from ._providers import APP_ERRORS, AnyClient, configured, credentials, new_client, unfit

if TYPE_CHECKING:
    from ..distributed._enqueue import Incoming
    from ..distributed._run import WorkerReport


def is_shared(journal: str | None) -> bool:
    """
    Whether ``--journal`` names a PostgreSQL database.
    """
    return journal is not None and journal.startswith(POSTGRES_SCHEMES)


def _require_extra() -> None:
    try:
        import procrastinate  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError:
        from .._main import install_hint

        raise UsageError(
            install_hint("A postgresql:// journal", "postgres", "procrastinate, psycopg").strip()
        ) from None


def _dsn(ctx: Context) -> str:
    journal: str | None = ctx.args.journal
    if not is_shared(journal):
        raise UsageError("--journal: give a postgresql:// URL for this command")
    _require_extra()
    assert journal is not None
    return journal


async def batch(ctx: Context) -> ExitCode:
    """
    ``a1art batch JOBS --journal postgresql://DSN [--batch NAME] [--workers N]``.

    The file is streamed into the journal (a row at a time, so a file of any size
    enqueues in constant memory); with workers, this process then works on the batch
    like ``a1art worker --until-done``, with the same request budget shared through the
    database, and prints each job as the journal records its end.
    """
    from ..distributed._database import open_pool
    from ..distributed._endings import last_ended
    from ..distributed._enqueue import enqueue
    from ..distributed._journal import worker_name
    from ..distributed._queue import make_app
    from ..distributed._shards import SHARD_SIZE
    from ..distributed._status import batch_status
    from ..distributed._worker import WorkerOptions, work

    args = ctx.args
    dsn = _dsn(ctx)
    if args.estimate:
        # Never run (and pay for) a batch the user only wanted priced.
        raise UsageError(
            "--estimate: not with a postgresql:// journal; estimate with the local journal "
            "(omit --journal), then enqueue"
        )
    jobs_file = Path(args.jobs)
    check_readable(jobs_file)  # read a line at a time later; refused now, before anything
    check_out(args.out)
    name: str = args.batch or jobs_file.stem
    workers: int = 1 if args.workers is None else args.workers
    console = ctx.progress_console()
    bad: list[str] = []
    failed_rows = 0

    def refuse(message: str, rows: int = 1) -> None:
        nonlocal failed_rows
        failed_rows += rows
        bad.append(message)
        console.print(f"a1art: {message} (this row fails; the others run)", markup=False)

    pool = await open_pool(dsn, size=2 * max(1, workers) + 3)
    try:
        async with SharedClients(ctx, pool) as clients:
            rows = _checked_rows(clients, jobs_file, args.language, refuse)
            app = make_app()
            async with app.open_async(pool=pool):
                cursor = await last_ended(pool)
                enqueued = await enqueue(
                    pool,
                    app,
                    name,
                    rows,
                    budget=args.budget,
                    resubmit_unknown=args.resubmit_unknown,
                    shard_size=args.shard_size or SHARD_SIZE,
                )
            for repeated in enqueued.repeated:
                refuse(
                    f"line {repeated.line}: key: {repeated.key!r} is used by line "
                    f"{repeated.first} too"
                )
            more = enqueued.repeats - len(enqueued.repeated)
            if more > 0:
                refuse(f"{more} more rows repeat a key", rows=more)
            counters = None
            if workers > 0:
                # Every provider whose rows the batch still has to run (an earlier
                # enqueue's too): without its client here, they would wait for ever.
                for provider in await moving_providers(pool, name):
                    await clients.get(provider)
                options = WorkerOptions(
                    batch=name,
                    until_done=True,
                    shards=workers,
                    concurrency=args.concurrency,
                    download_to=args.out,
                )
                async with anyio.create_task_group() as group:
                    stop = anyio.Event()
                    group.start_soon(_follow, pool, name, cursor, stop, console)
                    try:
                        counters = await work(pool, clients.opened, dsn, worker_name(), options)
                    finally:
                        stop.set()
            board = await batch_status(pool, name)
            before = await _ended_before(pool, name, cursor)
    finally:
        await pool.close()
    assert board is not None
    document: dict[str, Any] = {
        "batch": name,
        "journal": "postgresql",
        "enqueued": enqueued.added + enqueued.existing,
        "added": enqueued.added,
        "existing": enqueued.existing,
        "shards": enqueued.shards,
        "bad_rows": bad,
        "states": board.states,
    }
    if counters is not None:
        document["summary"] = {
            "jobs": board.jobs + failed_rows,
            "done": board.states["done"],
            "failed": board.states["failed"] + failed_rows,
            "unknown": board.states["unknown"],
            "ended_before": before,
            "done_here": counters.done,
        }

    def text(console: Console) -> None:
        console.print(
            f"batch {name}: {enqueued.added} jobs added, {enqueued.existing} in the journal "
            f"already",
            markup=False,
        )
        if "summary" in document:
            counts = document["summary"]
            console.print(
                f"done {counts['done']}, failed {counts['failed']}, unknown "
                f"{counts['unknown']} ({counts['ended_before']} had ended before this run)",
                markup=False,
            )
        else:
            console.print(
                f"workers run it: a1art worker --journal DSN --batch {name}", markup=False
            )

    ctx.out.emit(document, text)
    unfinished = counters is not None and (
        not board.finished or board.states["failed"] or board.states["unknown"]
    )
    return ExitCode.PARTIAL if failed_rows or unfinished else ExitCode.OK


class SharedClients:
    """
    A distributed command's clients, one per provider, opened when first needed, each
    on its key's request budget shared through the database (the row every worker
    with that key uses); all closed when the block ends.
    """

    def __init__(self, ctx: Context, pool: Any) -> None:
        self._ctx = ctx
        self._pool = pool
        self._stack = contextlib.AsyncExitStack()
        #: The clients opened so far, by provider.
        self.opened: dict[str, AnyClient] = {}

    async def __aenter__(self) -> SharedClients:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._stack.__aexit__(*exc_info)

    async def get(self, provider: str, line: int | None = None) -> AnyClient:
        """
        *provider*'s client, opened the first time.

        Raises:
            UsageError: Its key (or address) is missing; *line* is the row that needs it.
        """
        found = self.opened.get(provider)
        if found is not None:
            return found
        from ..distributed._tokens import SharedTokenSource

        key, _ = credentials(self._ctx, provider, line)
        budget = RateLimit()
        source = await self._stack.enter_async_context(SharedTokenSource(self._pool, key, budget))
        client = new_client(self._ctx, provider, line, rate_limit=budget, token_source=source)
        await self._stack.enter_async_context(client)
        self.opened[provider] = client
        return client


async def moving_providers(pool: Any, batch: str | None) -> list[str]:
    """
    The providers of the jobs that can still move in *batch* (in every batch for
    ``None``), in the order clients are opened.
    """
    async with pool.connection() as connection:
        found = await connection.execute(
            "SELECT DISTINCT provider FROM a1art_jobs WHERE state = ANY(%s)"
            " AND (%s::text IS NULL OR batch = %s)",
            (["pending", "submitting", "submitted", "answered"], batch, batch),
        )
        names = {str(name) for (name,) in await found.fetchall()}
    return [name for name in (*PROVIDERS, *sorted(names)) if name in names]


async def _checked_rows(
    clients: SharedClients,
    path: Path,
    language: str | None,
    refuse: Callable[[str], None],
) -> AsyncIterator[Incoming]:
    """
    The file's rows that can run, as journal rows, a line at a time; each provider's
    client is opened when a row first names it, each a1.art app's details are read once
    (free), when a row first names it, and a row that cannot run is refused alone
    (``refuse`` says why).
    """
    from .._models import App
    from ..distributed._enqueue import Incoming
    from ..distributed._providers import provider

    apps: dict[str, App] = {}
    refused: dict[str, A1ArtError] = {}
    for item in stream_jobs(path):
        if isinstance(item, BadRow):
            refuse(item.message)
            continue
        if not isinstance(item, Job):
            client = await clients.get(item.provider, item.line)
            spec = provider(item.provider)
            try:
                # Built as a worker will build it: what it refuses is refused now.
                spec.job(client, item.key, item.fields)
                _, params = spec.params(None, item.fields)
            except ValidationError as error:
                column = column_of(item.provider, error.field, item.fields)
                refuse(BadRow(item.line, item.key, f"{column}: {error.reason}").message)
                continue
            yield Incoming(item.key, item.provider, params, line=item.line, derived=item.derived)
            continue
        a1art = await clients.get("a1art", item.line)
        assert isinstance(a1art, AsyncClient)
        if item.app_id not in apps and item.app_id not in refused:
            try:
                apps[item.app_id] = await a1art.apps.get(item.app_id, language=language)
            except APP_ERRORS as error:
                refused[item.app_id] = error
        problem = unfit(item, apps, refused)
        if problem is not None:
            refuse(BadRow(item.line, item.key, problem, item.app_id).message)
            continue
        try:
            _, params = provider("a1art").params(item.app_id, item.add_arguments())
        except ValidationError as error:
            refuse(BadRow(item.line, item.key, describe(error, COLUMNS), item.app_id).message)
            continue
        if language is not None:
            params["language"] = language
        yield Incoming(item.key, "a1art", params, line=item.line, derived=item.derived)


async def _ended_before(pool: Any, batch: str, cursor: int) -> int:
    async with pool.connection() as connection:
        found = await connection.execute(
            "SELECT count(*) FROM a1art_jobs WHERE batch = %s AND ended <= %s", (batch, cursor)
        )
        row = await found.fetchone()
    return int(row[0]) if row else 0


async def _follow(pool: Any, batch: str, cursor: int, stop: anyio.Event, console: Console) -> None:
    """
    Print each job of *batch* as the journal records its end (any worker's), a page at a
    time, until *stop* is set and nothing is left to print.  A job that ends twice
    (unknown, then done when its task id arrived after all) is printed twice.
    """
    from ..distributed._endings import PAGE, Endings

    endings = Endings(pool, batch, cursor)
    while True:
        stopping = stop.is_set()
        rows = await endings.page()
        for key, state, _task_id, _files, error, _cost, _ended in rows:
            console.print(f"{key}  {state}" + (f"  {error}" if error else ""), markup=False)
        if len(rows) < PAGE:
            if stopping:
                return
            with anyio.move_on_after(0.5):
                await stop.wait()


async def worker(ctx: Context) -> ExitCode:
    """
    ``a1art worker --journal postgresql://DSN [--batch NAME] [--until-done]``.
    """
    args = ctx.args
    dsn = _dsn(ctx)
    check_out(args.out)
    stop = anyio.Event()
    async with anyio.create_task_group() as group:
        await group.start(_stop_on_sigterm, stop)
        report = await _run_worker(ctx, dsn, stop)
        group.cancel_scope.cancel()
    document = {
        "worker": report.name,
        "stopped": stop.is_set(),
        "done": report.done,
        "failed": report.failed,
        "unknown": report.unknown,
        "held_elsewhere": report.held,
        "shards": report.shards,
        "round_trips": report.round_trips,
    }

    def text(console: Console) -> None:
        stopped = (
            " (stopped by SIGTERM: its shards went back to the queue)" if stop.is_set() else ""
        )
        console.print(
            f"worker {report.name}: {report.shards} shards, done {report.done}, failed "
            f"{report.failed}, unknown {report.unknown}, held elsewhere {report.held}{stopped}",
            markup=False,
        )

    ctx.out.emit(document, text)
    return ExitCode.OK


async def _stop_on_sigterm(
    stop: anyio.Event, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """
    Turn SIGTERM (a service manager stopping the worker) into a stop that queues the
    running shards again and ends with the worker's report (Ctrl-C does the same
    through the command's interrupt, and ends with status 130).
    """
    with contextlib.ExitStack() as stack:
        try:
            signals = stack.enter_context(anyio.open_signal_receiver(signal.SIGTERM))
        except (NotImplementedError, ValueError, RuntimeError):  # not the main thread
            task_status.started()
            return
        task_status.started()
        async for _ in signals:
            stop.set()
            return


async def _run_worker(ctx: Context, dsn: str, stop: anyio.Event) -> WorkerReport:
    """
    One worker's life: a client for each provider whose jobs the journal still has to
    run (its key is then required) and for each other provider whose key was given,
    then shards until stopped (or, with ``--until-done``, until none is left).
    """
    from ..distributed._database import open_pool, require_asyncio
    from ..distributed._journal import worker_name
    from ..distributed._run import WorkerReport
    from ..distributed._worker import WorkerOptions, work

    require_asyncio("a1art worker")
    args = ctx.args
    options = WorkerOptions(
        batch=args.batch,
        until_done=args.until_done,
        shards=args.shards,
        concurrency=args.concurrency,
        download_to=args.out,
        heartbeat=args.heartbeat,
        stalled_after=args.stalled_after,
    )
    name = worker_name()
    pool = await open_pool(dsn, size=2 * args.shards + 3)
    try:
        async with SharedClients(ctx, pool) as clients:
            await _open_for_worker(ctx, clients, await moving_providers(pool, args.batch))
            counters = await work(pool, clients.opened, dsn, name, options, stop)
    finally:
        await pool.close()
    return WorkerReport.of(name, counters)


async def _open_for_worker(ctx: Context, clients: SharedClients, moving: Collection[str]) -> None:
    """
    Open the clients a worker needs: its jobs' providers must have their keys; any
    other provider whose key was given is opened too (a batch enqueued later may need
    it).

    Raises:
        UsageError: A provider of the journal's jobs has no key, or no key was given
            at all.
    """
    for provider in PROVIDERS:
        if provider in moving or configured(ctx, provider):
            await clients.get(provider)
    if not clients.opened:
        raise UsageError(
            "no API key: pass --api-key or set A1ART_API_KEY (AKOOL_API_KEY, "
            "GATEWAY_API_KEY with GATEWAY_BASE_URL for the other providers' jobs)"
        )


async def status(ctx: Context) -> ExitCode:
    """
    ``a1art status --journal postgresql://DSN --batch NAME``.
    """
    from ..distributed._database import open_pool
    from ..distributed._status import batch_status

    args = ctx.args
    dsn = _dsn(ctx)
    pool = await open_pool(dsn, size=1)
    try:
        found = await batch_status(pool, args.batch)
    finally:
        await pool.close()
    if found is None:
        raise UsageError(f"--batch: no batch {args.batch!r} in that journal")
    board = found
    states: Sequence[str] = [state.value for state in JobState]

    def text(console: Console) -> None:
        grid = table("worker", *(f">{state}" for state in states), title=f"batch {board.batch}")
        grid.add_row("all", *(str(board.states[state]) for state in states), style="bold")
        for name, counts in sorted(board.workers.items()):
            grid.add_row(name or "(none)", *(str(counts.get(state, 0)) for state in states))
        console.print(grid)
        budget = "no budget" if board.budget is None else f"budget {board.budget}"
        shards = ", ".join(f"{n} {status}" for status, n in sorted(board.shards.items()))
        console.print(
            f"{board.jobs} jobs; credits reserved {board.spent} ({budget}); "
            f"shards: {shards or 'none'}",
            markup=False,
        )

    ctx.out.emit(board.as_json(), text)
    return ExitCode.OK
