"""
The command line of distributed batches (the ``postgres`` extra; asyncio only):

- ``a1art batch JOBS --journal postgresql://DSN [--batch NAME] [--workers N]`` enqueues
  the file (idempotently) and, with workers, works on it and reports every job;
- ``a1art worker --journal postgresql://DSN [--batch NAME] [--until-done]``;
- ``a1art status --journal postgresql://DSN --batch NAME`` shows the board from the
  database: jobs by state, by worker, credits, shards.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from .._engine._batch import POSTGRES_SCHEMES
from .._engine._journal import JobState
from ._context import Context, scaled_policy
from ._exit import ExitCode, UsageError, describe
from ._fields import COLUMNS
from ._jobs import BadRow, Job, read_jobs
from ._local import check_out
from ._output import table


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
    """
    from ..distributed._batch import DistributedBatch
    from ._batch import _unfit, fetch_apps, outcome_json

    args = ctx.args
    dsn = _dsn(ctx)
    jobs_file = Path(args.jobs)
    job_file = read_jobs(jobs_file)
    check_out(args.out)
    name: str = args.batch or jobs_file.stem
    workers: int = 1 if args.workers is None else args.workers
    console = ctx.progress_console()
    bad: list[BadRow] = list(job_file.bad)
    for row in bad:
        console.print(f"a1art: {row.message} (this row fails; the others run)", markup=False)
    jobs: list[Job] = []
    outcomes: list[Any] = []
    async with ctx.client() as client:
        apps, refused = await fetch_apps(client, job_file.jobs, args.language)
        for job in job_file.jobs:
            problem = _unfit(job, apps, refused)
            if problem is None:
                jobs.append(job)
            else:
                row = BadRow(job.line, job.key, problem, job.app_id)
                bad.append(row)
                console.print(f"a1art: {row.message} (this row fails; the others run)")
        shared = DistributedBatch(
            client,
            journal=dsn,
            batch=name,
            workers=workers,
            concurrency=args.concurrency,
            download_to=args.out,
            budget=args.budget,
            resubmit_unknown=args.resubmit_unknown,
            language=args.language,
        )
        async with shared:
            for job in jobs:
                shared.add(job.app_id, key=job.key, **job.add_arguments())
            if workers > 0:
                async for outcome in shared:
                    outcomes.append(outcome)
                    console.print(
                        f"{outcome.key}  {outcome.state.value}"
                        + (f"  {describe(outcome.error, COLUMNS)}" if outcome.error else ""),
                        markup=False,
                    )
    document: dict[str, Any] = {
        "batch": name,
        "journal": "postgresql",
        "enqueued": len(jobs),
        "bad_rows": [row.message for row in bad],
    }
    if workers > 0:
        summary = shared.summary
        document["summary"] = {
            "jobs": len(jobs) + len(bad),
            "done": summary.done,
            "failed": summary.failed + len(bad),
            "unknown": summary.unknown,
            "skipped": summary.skipped,
        }
        document["jobs"] = [outcome_json(outcome) for outcome in outcomes]

    def text(console: Console) -> None:
        console.print(f"batch {name}: {len(jobs)} jobs in the journal", markup=False)
        if "summary" in document:
            counts = document["summary"]
            console.print(
                f"done {counts['done']}, failed {counts['failed']}, unknown "
                f"{counts['unknown']}, ended before {counts['skipped']}",
                markup=False,
            )
        else:
            console.print(
                f"workers run it: a1art worker --journal DSN --batch {name}", markup=False
            )

    ctx.out.emit(document, text)
    failed = bad or any(outcome.state is not JobState.DONE for outcome in outcomes)
    return ExitCode.PARTIAL if failed else ExitCode.OK


async def worker(ctx: Context) -> ExitCode:
    """
    ``a1art worker --journal postgresql://DSN [--batch NAME] [--until-done]``.
    """
    from ..distributed._run import run_worker

    args = ctx.args
    dsn = _dsn(ctx)
    check_out(args.out)
    key = ctx.api_key
    ctx.configure_logging(key)
    report = await run_worker(
        dsn,
        batch=args.batch,
        until_done=args.until_done,
        shards=args.shards,
        concurrency=args.concurrency,
        download_to=args.out,
        heartbeat=args.heartbeat,
        stalled_after=args.stalled_after,
        api_key=key,
        base_url=args.base_url,
        region=args.region,
        poll_policy=scaled_policy(args.time_scale),
        transport=ctx.transport,
    )
    document = {
        "worker": report.name,
        "done": report.done,
        "failed": report.failed,
        "unknown": report.unknown,
        "held_elsewhere": report.held,
        "shards": report.shards,
        "round_trips": report.round_trips,
    }

    def text(console: Console) -> None:
        console.print(
            f"worker {report.name}: {report.shards} shards, done {report.done}, failed "
            f"{report.failed}, unknown {report.unknown}, held elsewhere {report.held}",
            markup=False,
        )

    ctx.out.emit(document, text)
    return ExitCode.OK


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
