"""
``a1art batch JOBS.jsonl|JOBS.csv``: every job of a file through one journaled batch.

The journal (``JOBS.journal.sqlite`` beside the file unless ``--journal``) records each
job before and after every step that could spend credits, so running the same command
again skips what ended, polls what was submitted and pays for no job twice.
``--estimate`` reads the apps, prints what the jobs would cost (and what is left of a
journaled run), and spends nothing.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console

from .._client import AsyncClient
from .._engine._batch import BatchOutcome
from .._engine._cost import CostEstimate
from .._engine._journal import JobState, SQLiteJournal
from .._exceptions import APIError
from .._models import App
from ._context import Context
from ._exit import ExitCode, InContext, describe
from ._jobs import Job, read_jobs
from ._output import app_kind, table
from ._runner import RunJob, RunResult, journal_path, run_jobs

#: Failed jobs listed by name in the text output; the rest are counted.
LISTED_FAILURES = 20


async def fetch_apps(
    client: AsyncClient, jobs: Sequence[Job], language: str | None
) -> dict[str, App]:
    """
    The details of every app the jobs use, read once each, before anything is spent.

    Raises:
        InContext: An app could not be read (unknown, not API-enabled, ...), naming the
            first line that uses it.
    """
    first_line: dict[str, int] = {}
    for job in jobs:
        first_line.setdefault(job.app_id, job.line)
    apps: dict[str, App] = {}
    for app_id, line in first_line.items():
        try:
            apps[app_id] = await client.apps.get(app_id, language=language)
        except APIError as error:
            raise InContext(f"app {app_id} (line {line})", error) from error
    return apps


def _label(app: App) -> str:
    return app.name or app.id


def outcome_json(outcome: BatchOutcome, job: Job | None = None) -> dict[str, Any]:
    """
    One job's outcome as ``--json`` prints it.
    """
    body: dict[str, Any] = {
        "key": outcome.key,
        "state": outcome.state.value,
        "task_id": outcome.task_id,
        "files": list(outcome.files),
        "cost": outcome.cost,
        "from_journal": outcome.from_journal,
        "error": None if outcome.error is None else describe(outcome.error),
    }
    if job is not None:
        body["line"] = job.line
        body["app_id"] = job.app_id
    return body


@attrs.define
class SummaryRow:
    """
    One app's line of the summary: jobs, done, failed (or unknown), credits spent in
    this run, files saved.
    """

    jobs: int = 0
    done: int = 0
    failed: int = 0
    credits: int = 0
    files: int = 0

    def cells(self) -> list[str]:
        return [str(value) for value in attrs.astuple(self)]


def summary_rows(result: RunResult, groups: Mapping[str, str]) -> dict[str, SummaryRow]:
    """
    The summary's lines by group (app), in the order of the jobs.
    """
    rows: dict[str, SummaryRow] = collections.defaultdict(SummaryRow)
    for group in groups.values():
        rows[group].jobs += 1
    for outcome in result.outcomes:
        row = rows[groups.get(outcome.key, "?")]
        if outcome.ok:
            row.done += 1
            row.files += len(outcome.files)
        else:
            row.failed += 1
    for group, _, credits in result.board.rows():
        rows[group].credits = credits
    return rows


def print_summary(
    console: Console, result: RunResult, groups: Mapping[str, str], *, kinds: Mapping[str, str]
) -> None:
    """
    The summary table: a row per app and a total, then the failed jobs.
    """
    summary = result.summary
    grid = table(
        "app",
        "kind",
        ">jobs",
        ">done",
        ">failed",
        ">credits",
        ">files",
        title=f"{len(groups)} jobs in {summary.wall_time:.1f} s",
    )
    total = SummaryRow()
    for group, row in summary_rows(result, groups).items():
        grid.add_row(group, kinds.get(group, ""), *row.cells())
        pairs = zip(attrs.astuple(total), attrs.astuple(row), strict=True)
        total = SummaryRow(*(a + b for a, b in pairs))
    grid.add_row("total", "", *total.cells(), style="bold", end_section=True)
    console.print(grid)
    if summary.skipped:
        console.print(f"{summary.skipped} jobs had ended in an earlier run (journal)")
    failures = [outcome for outcome in result.outcomes if not outcome.ok]
    if failures:
        console.print()
        console.print("[bold]Failed jobs[/bold]")
        for outcome in failures[:LISTED_FAILURES]:
            error = describe(outcome.error) if outcome.error is not None else outcome.state.value
            console.print(f"  {outcome.key}  {outcome.state.value}  {error}", markup=False)
        if len(failures) > LISTED_FAILURES:
            console.print(f"  ... and {len(failures) - LISTED_FAILURES} more (--json lists all)")


def _ended_in_journal(path: Path, jobs: Sequence[Job]) -> set[str]:
    """
    The keys of jobs that had ended in the journal at *path* (it is not created).
    """
    if not path.exists():
        return set()
    store = SQLiteJournal(path)
    try:
        records = store.load()
    finally:
        store.close()
    keys = {job.key for job in jobs}
    return {key for key, record in records.items() if key in keys and record.state.is_final}


async def _estimate(
    ctx: Context, client: AsyncClient, jobs: Sequence[Job], apps: Mapping[str, App], journal: Path
) -> ExitCode:
    zero = CostEstimate.exactly(0)
    per_app: dict[str, tuple[int, CostEstimate]] = {app_id: (0, zero) for app_id in apps}
    ended = _ended_in_journal(journal, jobs)
    remaining_jobs, remaining = 0, zero
    for job in jobs:
        credits = await client.estimate_cost(apps[job.app_id], count=job.count)
        n, sum_so_far = per_app[job.app_id]
        per_app[job.app_id] = (n + 1, sum_so_far + credits)
        if job.key not in ended:
            remaining_jobs += 1
            remaining += credits
    total = sum((credits for _, credits in per_app.values()), zero)
    document = {
        "jobs": len(jobs),
        "credits": total.high,
        "credits_low": total.low,
        "apps": [
            {
                "app_id": app_id,
                "name": apps[app_id].name,
                "jobs": n,
                "credits": credits.high,
                "credits_low": credits.low,
            }
            for app_id, (n, credits) in per_app.items()
        ],
        "journal": str(journal),
        "ended": len(ended),
        "remaining_jobs": remaining_jobs,
        "remaining_credits": remaining.high,
        "remaining_credits_low": remaining.low,
    }

    def text(console: Console) -> None:
        grid = table("app", "app id", ">jobs", ">credits", title="Estimate (nothing spent)")
        for app_id, (n, credits) in per_app.items():
            grid.add_row(_label(apps[app_id]), app_id, str(n), str(credits))
        grid.add_row("total", "", str(len(jobs)), str(total), style="bold", end_section=True)
        console.print(grid)
        if ended:
            console.print(
                f"{len(ended)} jobs had ended in {journal}: {remaining_jobs} jobs and "
                f"{remaining} credits left to run",
                markup=False,
            )

    ctx.out.emit(document, text)
    return ExitCode.OK


async def batch(ctx: Context) -> ExitCode:
    """
    ``a1art batch JOBS --concurrency N --journal FILE --out DIR [--budget N] [--estimate]``.
    """
    args = ctx.args
    jobs_file = Path(args.jobs)
    jobs = read_jobs(jobs_file)
    journal = journal_path(args.journal, jobs_file)
    async with ctx.client() as client:
        apps = await fetch_apps(client, jobs, args.language)
        if args.estimate:
            return await _estimate(ctx, client, jobs, apps, journal)
        groups = {job.key: _label(apps[job.app_id]) for job in jobs}
        result = await run_jobs(
            client,
            [
                RunJob(job.key, apps[job.app_id], groups[job.key], job.add_arguments())
                for job in jobs
            ],
            title=f"a1art batch {jobs_file.name}",
            console=ctx.progress_console(),
            journal=SQLiteJournal(journal),
            concurrency=args.concurrency,
            download_to=args.out,
            budget=args.budget,
            resubmit_unknown=args.resubmit_unknown,
            language=args.language,
        )
    by_key = {outcome.key: outcome for outcome in result.outcomes}
    summary = result.summary
    document = {
        "summary": {
            "jobs": len(jobs),
            "done": summary.done,
            "failed": summary.failed,
            "unknown": summary.unknown,
            "skipped": summary.skipped,
            "credits_spent": summary.credits_spent,
            "credits_low": summary.credits_low,
            "wall_time": round(summary.wall_time, 3),
        },
        "journal": str(journal),
        "out": args.out,
        "jobs": [outcome_json(by_key[job.key], job) for job in jobs if job.key in by_key],
    }
    kinds = {_label(app): app_kind(app) for app in apps.values()}

    def text(console: Console) -> None:
        print_summary(console, result, groups, kinds=kinds)
        console.print(f"journal: {journal} (run the same command again to resume)", markup=False)
        if args.out:
            console.print(f"results: {args.out}", markup=False)

    ctx.out.emit(document, text)
    failed = any(outcome.state is not JobState.DONE for outcome in result.outcomes)
    return ExitCode.PARTIAL if failed else ExitCode.OK
