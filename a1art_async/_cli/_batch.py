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
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console

from .._client import AsyncClient
from .._engine._batch import BatchOutcome, BatchSummary
from .._engine._cost import CostEstimate
from .._engine._journal import JobRecord, JobState, SQLiteJournal
from .._exceptions import A1ArtError, AppError, ValidationError
from .._generation import GenerateArgs
from .._models import App
from ._context import Context
from ._exit import ExitCode, UsageError, describe, naming
from ._fields import COLUMNS
from ._jobs import BadRow, Job, read_jobs
from ._local import check_journal, check_out
from ._output import app_kind, table
from ._progress import Board
from ._runner import RunJob, RunResult, journal_path, run_jobs

#: Failed jobs listed by name in the text output; the rest are counted.
LISTED_FAILURES = 20


#: Errors reading an app that concern that app alone: the rows that use it fail, the
#: others run.  Anything else (a bad key, the network) stops the batch.
_APP_ERRORS = (AppError, ValidationError)


async def fetch_apps(
    client: AsyncClient, jobs: Sequence[Job], language: str | None
) -> tuple[dict[str, App], dict[str, A1ArtError]]:
    """
    The details of every app the jobs use, read once each, before anything is spent,
    and why each app that cannot be used was refused (unknown, not API-enabled, ...).

    Raises:
        A1ArtError: Reading an app failed for a reason that is not the app's own.
    """
    apps: dict[str, App] = {}
    refused: dict[str, A1ArtError] = {}
    for app_id in dict.fromkeys(job.app_id for job in jobs):
        try:
            apps[app_id] = await client.apps.get(app_id, language=language)
        except _APP_ERRORS as error:
            refused[app_id] = error
    return apps, refused


def _label(app: App) -> str:
    return app.name or app.id


def outcome_json(
    outcome: BatchOutcome, job: Job | BadRow | None = None, *, error: str | None = None
) -> dict[str, Any]:
    """
    One job's outcome as ``--json`` prints it (*error*: the error's line, if not the
    default one).
    """
    if error is None and outcome.error is not None:
        error = describe(outcome.error)
    body: dict[str, Any] = {
        "key": outcome.key,
        "state": outcome.state.value,
        "task_id": outcome.task_id,
        "files": list(outcome.files),
        "cost": outcome.cost,
        "from_journal": outcome.from_journal,
        "error": error,
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
    console: Console,
    result: RunResult,
    groups: Mapping[str, str],
    *,
    kinds: Mapping[str, str],
    explain: Callable[[BatchOutcome], str] | None = None,
) -> None:
    """
    The summary table: a row per app and a total, then the failed jobs, each with what
    *explain* says of it (its error's line by default).
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
            if explain is not None:
                error = explain(outcome)
            elif outcome.error is not None:
                error = describe(outcome.error)
            else:
                error = outcome.state.value
            console.print(f"  {outcome.key}  {outcome.state.value}  {error}", markup=False)
        if len(failures) > LISTED_FAILURES:
            console.print(f"  ... and {len(failures) - LISTED_FAILURES} more (--json lists all)")


def _journal_records(path: Path) -> dict[str, JobRecord]:
    """
    What the journal at *path* holds (it is not created).
    """
    if not path.exists():
        return {}
    store = SQLiteJournal(path)
    try:
        return store.load()
    finally:
        store.close()


#: Journal states whose job's paid request was sent (or may have been) in an earlier run.
_PAID_STATES = frozenset(
    {JobState.SUBMITTING, JobState.SUBMITTED, JobState.ANSWERED, JobState.DONE, JobState.UNKNOWN}
)


def _paid_before(record: JobRecord) -> bool:
    return record.state in _PAID_STATES or (
        record.state is JobState.FAILED and record.task_id is not None
    )


async def _estimate(
    ctx: Context,
    client: AsyncClient,
    jobs: Sequence[Job],
    apps: Mapping[str, App],
    journal: Path,
    bad: Sequence[BadRow],
) -> ExitCode:
    """
    What running the file would cost, checked row by row as the run would (nothing is
    spent): what earlier runs of the journal already paid, what is left to run, which
    rows would fail, and whether ``--budget`` covers what is left.
    """
    args = ctx.args
    zero = CostEstimate.exactly(0)
    records = _journal_records(journal)
    keys = {job.key for job in jobs}
    paid = {key: r for key, r in records.items() if key in keys and _paid_before(r)}
    ended_unpaid = {
        key for key, r in records.items() if key in keys and key not in paid and r.state.is_final
    }
    per_app: dict[str, tuple[int, CostEstimate]] = {app_id: (0, zero) for app_id in apps}
    left_jobs, left = 0, zero
    for job in jobs:
        credits = await client.estimate_cost(apps[job.app_id], count=job.count)
        n, sum_so_far = per_app[job.app_id]
        per_app[job.app_id] = (n + 1, sum_so_far + credits)
        if job.key not in paid and job.key not in ended_unpaid:
            left_jobs += 1
            left += credits
    total = sum((credits for _, credits in per_app.values()), zero)
    paid_credits = sum(record.cost for record in paid.values())
    budget = args.budget
    # The run reserves each job's most (see CostEstimate), after what earlier runs spent.
    short = None if budget is None else max(0, paid_credits + left.high - budget)
    document: dict[str, Any] = {
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
        "paid_before": {"jobs": len(paid), "credits": paid_credits},
        "ended": len(paid) + len(ended_unpaid),
        "remaining_jobs": left_jobs,
        "remaining_credits": left.high,
        "remaining_credits_low": left.low,
        "failing_rows": [{"line": row.line, "key": row.key, "error": row.message} for row in bad],
        "budget": None
        if budget is None
        else {"budget": budget, "suffices": short == 0, "short_by": short},
    }

    def text(console: Console) -> None:
        grid = table("app", "app id", ">jobs", ">credits", title="Estimate (nothing spent)")
        for app_id, (n, credits) in per_app.items():
            grid.add_row(_label(apps[app_id]), app_id, str(n), str(credits))
        grid.add_row("total", "", str(len(jobs)), str(total), style="bold", end_section=True)
        console.print(grid)
        if paid or ended_unpaid:
            console.print(
                f"earlier runs ({journal}): {len(paid)} jobs paid for, up to "
                f"{paid_credits} credits; {len(ended_unpaid)} ended unpaid",
                markup=False,
            )
        console.print(f"left to run: {left_jobs} jobs, {left} credits", markup=False)
        if bad:
            console.print(f"{len(bad)} rows would fail:", markup=False)
            for row in bad:
                console.print(f"  {row.message}", markup=False)
        if budget is not None:
            verdict = (
                f"the budget of {budget} suffices"
                if short == 0
                else f"the budget of {budget} is short by up to {short} credits: "
                "some jobs would not be submitted"
            )
            console.print(verdict, markup=False)

    ctx.out.emit(document, text)
    fails = bool(bad) or bool(short)
    return ExitCode.PARTIAL if fails else ExitCode.OK


def _unfit(job: Job, apps: Mapping[str, App], refused: Mapping[str, A1ArtError]) -> str | None:
    """
    Why *job* cannot run with its app (the app was refused, or the row does not fit the
    app's forms), in the job file's words; ``None`` if it can.

    Checked here rather than by the batch, so that nothing is journaled for the row:
    once the row is fixed, running the same command again runs it.
    """
    if job.app_id in refused:
        return f"app {job.app_id}: {describe(refused[job.app_id], COLUMNS)}"
    try:
        GenerateArgs(**job.add_arguments()).plan(apps[job.app_id])
    except ValidationError as error:
        names = {**COLUMNS, "image": "images"} if job.images is not None else COLUMNS
        return describe(error, names)
    return None


def _journaled_error(text: str) -> str:
    """
    An error read back from the journal (``ValidationError: size: ...``), in the job
    file's words.
    """
    found = re.fullmatch(r"ValidationError: (\w+): (.*)", text, re.S)
    if found is None:
        return text
    return describe(ValidationError(found[1], found[2]), COLUMNS)


def _empty_result(title: str) -> RunResult:
    """
    The result of running no job (every row was bad).
    """
    summary = BatchSummary(done=0, failed=0, unknown=0, skipped=0, credits_spent=0, wall_time=0)
    return RunResult((), summary, Board(title))


async def batch(ctx: Context) -> ExitCode:
    """
    ``a1art batch JOBS --concurrency N --journal FILE --out DIR [--budget N] [--estimate]``.

    Rows that cannot run (malformed, a missing image, an app that cannot be used) fail
    alone, each named by its line and field; the others run.
    """
    args = ctx.args
    if args.batch is not None or args.workers is not None or args.shard_size is not None:
        raise UsageError("--batch, --workers and --shard-size need a postgresql:// --journal")
    jobs_file = Path(args.jobs)
    job_file = read_jobs(jobs_file)
    journal = journal_path(args.journal, jobs_file)
    check_out(args.out)
    check_journal(journal, given=args.journal is not None)
    console = ctx.progress_console()
    title = f"a1art batch {jobs_file.name}"

    def warn(rows: Sequence[BadRow]) -> None:
        for row in rows:
            console.print(f"a1art: {row.message} (this row fails; the others run)", markup=False)

    warn(job_file.bad)
    apps: dict[str, App] = {}
    unfit: list[BadRow] = []
    jobs: list[Job] = []
    result = _empty_result(title)
    if job_file.jobs or args.estimate:
        async with ctx.client() as client:
            apps, refused = await fetch_apps(client, job_file.jobs, args.language)
            for job in job_file.jobs:
                problem = _unfit(job, apps, refused)
                if problem is None:
                    jobs.append(job)
                else:
                    unfit.append(BadRow(job.line, job.key, problem, job.app_id))
            warn(unfit)
            if args.estimate:
                bad_rows = [*job_file.bad, *unfit]
                return await _estimate(ctx, client, jobs, apps, journal, bad_rows)
            if jobs:
                planned = [
                    RunJob(job.key, apps[job.app_id], _label(apps[job.app_id]), job.add_arguments())
                    for job in jobs
                ]
                with naming(COLUMNS):  # the progress lines name a row's fields by column
                    result = await run_jobs(
                        client,
                        planned,
                        title=title,
                        console=console,
                        journal=SQLiteJournal(journal),
                        concurrency=args.concurrency,
                        download_to=args.out,
                        budget=args.budget,
                        resubmit_unknown=args.resubmit_unknown,
                        language=args.language,
                    )
    return _report(ctx, journal, result, jobs, [*job_file.bad, *unfit], apps)


def _report(
    ctx: Context,
    journal: Path,
    result: RunResult,
    jobs: Sequence[Job],
    bad: Sequence[BadRow],
    apps: Mapping[str, App],
) -> ExitCode:
    """
    Print what the batch did, every row of the file in its order (the rows that could
    not run count as failed), and return the exit status.
    """
    rows: list[Job | BadRow] = sorted([*jobs, *bad], key=lambda row: row.line)
    lines = {row.key: row.line for row in rows}
    summary = attrs.evolve(result.summary, failed=result.summary.failed + len(bad))
    outcomes = sorted(
        [*(row.outcome() for row in bad), *result.outcomes],
        key=lambda outcome: lines.get(outcome.key, 0),
    )
    result = attrs.evolve(result, outcomes=tuple(outcomes), summary=summary)
    by_key = {outcome.key: outcome for outcome in result.outcomes}
    groups: dict[str, str] = {}
    for row in rows:
        app = apps.get(row.app_id or "")
        groups[row.key] = _label(app) if app else row.app_id or "(no app)"

    def explain(outcome: BatchOutcome) -> str:
        text = outcome.state.value if outcome.error is None else describe(outcome.error, COLUMNS)
        if outcome.from_journal:
            text = _journaled_error(text)
        line = lines.get(outcome.key)
        return text if line is None or text.startswith("line ") else f"line {line}: {text}"

    document = {
        "summary": {
            "jobs": len(rows),
            "done": summary.done,
            "failed": summary.failed,
            "unknown": summary.unknown,
            "skipped": summary.skipped,
            "credits_spent": summary.credits_spent,
            "credits_low": summary.credits_low,
            "wall_time": round(summary.wall_time, 3),
        },
        "journal": str(journal),
        "out": ctx.args.out,
        "jobs": [
            outcome_json(
                by_key[row.key],
                row,
                error=None if by_key[row.key].error is None else explain(by_key[row.key]),
            )
            for row in rows
            if row.key in by_key
        ],
    }
    kinds = {_label(app): app_kind(app) for app in apps.values()}

    def text(console: Console) -> None:
        print_summary(console, result, groups, kinds=kinds, explain=explain)
        console.print(f"journal: {journal} (run the same command again to resume)", markup=False)
        if ctx.args.out:
            console.print(f"results: {ctx.args.out}", markup=False)

    ctx.out.emit(document, text)
    failed = any(outcome.state is not JobState.DONE for outcome in result.outcomes)
    return ExitCode.PARTIAL if failed else ExitCode.OK
