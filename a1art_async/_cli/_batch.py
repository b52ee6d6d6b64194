"""
``a1art batch JOBS.jsonl|JOBS.csv``: every job of a file through one journaled batch.

A row's ``provider`` (``a1art`` when it names none, ``akool``, ``gateway``) says which
API runs it; a run opens only the clients its rows need (``_providers``) and runs every
row through one engine batch: one journal, one credit budget, one board, one summary,
each job submitted and polled through its own provider's client.

The journal (``JOBS.journal.sqlite`` beside the file unless ``--journal``) records each
job before and after every step that could spend credits, so running the same command
again skips what ended, polls what was submitted (through the right provider), saves
what was answered, and pays for no job twice.  ``--estimate`` checks every row as the
run would, prints what the jobs would cost (and what is left of a journaled run), and
spends nothing.
"""

from __future__ import annotations

import collections
import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console

from .._engine._batch import BatchOutcome, BatchSummary
from .._engine._cost import CostEstimate
from .._engine._journal import JobRecord, JobState, SQLiteJournal
from .._exceptions import ValidationError
from ._context import Context
from ._exit import ExitCode, UsageError, describe, naming
from ._fields import COLUMNS
from ._jobs import PROVIDERS, BadRow, Row, read_jobs
from ._local import check_journal, check_out
from ._output import table
from ._progress import Board, shown_file
from ._providers import AnyClient, Planned, check_rows, credentials, needed, new_client
from ._runner import RunResult, journal_path, run_planned

#: Failed jobs listed by name in the text output; the rest are counted.
LISTED_FAILURES = 20


def outcome_json(
    outcome: BatchOutcome,
    job: Planned | BadRow | None = None,
    *,
    error: str | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """
    One job's outcome as ``--json`` prints it (*error*: the error's line, if not the
    default one; *group*: its group on the board).  An image that came inline is shown
    as ``inline image (N bytes)``, never as its base64 text.
    """
    if error is None and outcome.error is not None:
        error = describe(outcome.error)
    body: dict[str, Any] = {
        "key": outcome.key,
        "state": outcome.state.value,
        "task_id": outcome.task_id,
        "files": [shown_file(file) for file in outcome.files],
        "cost": outcome.cost,
        "from_journal": outcome.from_journal,
        "error": error,
    }
    if isinstance(job, Planned):
        body["line"] = job.line
        body["provider"] = job.provider
        body["app_id"] = job.detail if job.provider == "a1art" else None
    elif job is not None:
        body["line"] = job.line
        body["provider"] = "a1art" if job.group is None else job.group.split()[0]
        body["app_id"] = job.app_id
    if group is not None:
        body["group"] = group
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
    The summary's lines by group (app, akool kind, gateway model), in the order of the
    jobs.
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
    label: str = "app",
) -> None:
    """
    The summary table: a row per group (headed *label*) and a total, then the failed
    jobs, each with what *explain* says of it (its error's line by default).
    """
    summary = result.summary
    grid = table(
        label,
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
    if summary.credits_low < summary.credits_spent:
        # An app whose kind the docs leave open is priced as a range (CostEstimate).
        console.print(
            f"credits are the most each job can cost: this run was charged between "
            f"{summary.credits_low} and {summary.credits_spent}",
            markup=False,
        )
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


def _estimate(
    ctx: Context,
    planned: Sequence[Planned],
    journal: Path,
    bad: Sequence[BadRow],
    label: str,
) -> ExitCode:
    """
    What running the file would cost, checked row by row as the run would (nothing is
    spent): what earlier runs of the journal already paid, what is left to run, which
    rows would fail, and whether ``--budget`` covers what is left.  Credits are each
    API's own; the budget counts them together, as the run does.
    """
    args = ctx.args
    zero = CostEstimate.exactly(0)
    records = _journal_records(journal)
    keys = {item.key for item in planned}
    paid = {key: r for key, r in records.items() if key in keys and _paid_before(r)}
    ended_unpaid = {
        key for key, r in records.items() if key in keys and key not in paid and r.state.is_final
    }
    per_group: dict[tuple[str, str], tuple[str, int, CostEstimate]] = {}
    per_provider: dict[str, tuple[int, CostEstimate]] = {}
    left_jobs, left = 0, zero
    for item in planned:
        group, n, so_far = per_group.get((item.provider, item.detail), (item.group, 0, zero))
        per_group[item.provider, item.detail] = (group, n + 1, so_far + item.estimate)
        jobs, spent = per_provider.get(item.provider, (0, zero))
        per_provider[item.provider] = (jobs + 1, spent + item.estimate)
        if item.key not in paid and item.key not in ended_unpaid:
            left_jobs += 1
            left += item.estimate
    total = sum((credits for _, _, credits in per_group.values()), zero)
    paid_credits = sum(record.cost for record in paid.values())
    budget = args.budget
    # The run reserves each job's most (see CostEstimate), after what earlier runs spent.
    short = None if budget is None else max(0, paid_credits + left.high - budget)
    document: dict[str, Any] = {
        "jobs": len(planned),
        "credits": total.high,
        "credits_low": total.low,
        "apps": [
            {
                "app_id": detail,
                "name": group,
                "jobs": n,
                "credits": credits.high,
                "credits_low": credits.low,
            }
            for (provider, detail), (group, n, credits) in per_group.items()
            if provider == "a1art"
        ],
        "groups": [
            {
                "provider": provider,
                "group": group,
                "id": detail,
                "jobs": n,
                "credits": credits.high,
                "credits_low": credits.low,
            }
            for (provider, detail), (group, n, credits) in per_group.items()
        ],
        "providers": {
            provider: {"jobs": n, "credits": credits.high, "credits_low": credits.low}
            for provider, (n, credits) in sorted(
                per_provider.items(), key=lambda item: PROVIDERS.index(item[0])
            )
        },
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
        heading = "app id" if label == "app" else "id"
        grid = table(label, heading, ">jobs", ">credits", title="Estimate (nothing spent)")
        for (_, detail), (group, n, credits) in per_group.items():
            grid.add_row(group, detail, str(n), str(credits))
        grid.add_row("total", "", str(len(planned)), str(total), style="bold", end_section=True)
        console.print(grid)
        if len(per_provider) > 1:
            parts = [
                f"{name} {n} jobs, {credits} credits" for name, (n, credits) in per_provider.items()
            ]
            console.print("by API (each its own credits): " + "; ".join(parts), markup=False)
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


def _journaled_error(text: str) -> str:
    """
    An error read back from the journal (``ValidationError: size: ...``), in the job
    file's words.
    """
    found = re.fullmatch(r"ValidationError: (\w+): (.*)", text, re.S)
    if found is None:
        return text
    return describe(ValidationError(found[1], found[2]), COLUMNS)


def _empty_result(title: str, label: str) -> RunResult:
    """
    The result of running no job (every row was bad).
    """
    summary = BatchSummary(done=0, failed=0, unknown=0, skipped=0, credits_spent=0, wall_time=0)
    return RunResult((), summary, Board(title, label=label))


async def batch(ctx: Context) -> ExitCode:
    """
    ``a1art batch JOBS --concurrency N --journal FILE --out DIR [--budget N] [--estimate]``.

    Rows that cannot run (malformed, a missing image, an app that cannot be used, an
    akool or gateway row its provider refuses) fail alone, each named by its line and
    field; the others run.
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
    # A file of a1.art rows only reads as before: its groups are apps.
    others = any(isinstance(row, Row) for row in job_file.jobs) or any(
        row.group is not None for row in job_file.bad
    )
    label = "group" if others else "app"

    def warn(rows: Sequence[BadRow]) -> None:
        for row in rows:
            console.print(f"a1art: {row.message} (this row fails; the others run)", markup=False)

    warn(job_file.bad)
    providers = needed(job_file.jobs)
    for provider, line in providers.items():
        credentials(ctx, provider, line)  # every key before any client is opened
    planned: list[Planned] = []
    unfit: list[BadRow] = []
    result = _empty_result(title, label)
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, AnyClient] = {}
        for provider, line in providers.items():
            client = new_client(ctx, provider, line)
            await stack.enter_async_context(client)
            clients[provider] = client
        if clients:
            planned, unfit = await check_rows(
                clients,
                job_file.jobs,
                base=jobs_file.parent,
                language=args.language,
                bad_rows=job_file.bad,
            )
        warn(unfit)
        if args.estimate:
            failing = sorted([*job_file.bad, *unfit], key=lambda row: row.line)
            return _estimate(ctx, planned, journal, failing, label)
        if planned:
            with naming(COLUMNS):  # the progress lines name a row's fields by column
                result = await run_planned(
                    planned,
                    list(clients.values()),
                    title=title,
                    console=console,
                    journal=SQLiteJournal(journal),
                    concurrency=args.concurrency,
                    download_to=args.out,
                    budget=args.budget,
                    resubmit_unknown=args.resubmit_unknown,
                    board=Board(title, label=label),
                    interrupts=ctx.interrupts,
                )
    return _report(ctx, journal, result, planned, [*job_file.bad, *unfit], label)


def _group_of(row: BadRow, apps: Mapping[str, str]) -> str:
    if row.group is not None:
        return row.group
    if row.app_id is None:
        return "(no app)"
    return apps.get(row.app_id, row.app_id)


def _report(
    ctx: Context,
    journal: Path,
    result: RunResult,
    planned: Sequence[Planned],
    bad: Sequence[BadRow],
    label: str,
) -> ExitCode:
    """
    Print what the batch did, every row of the file in its order (the rows that could
    not run count as failed), and return the exit status.
    """
    rows: list[Planned | BadRow] = sorted([*planned, *bad], key=lambda row: row.line)
    lines = {row.key: row.line for row in rows}
    summary = attrs.evolve(result.summary, failed=result.summary.failed + len(bad))
    outcomes = sorted(
        [*(row.outcome() for row in bad), *result.outcomes],
        key=lambda outcome: lines.get(outcome.key, 0),
    )
    result = attrs.evolve(result, outcomes=tuple(outcomes), summary=summary)
    by_key = {outcome.key: outcome for outcome in result.outcomes}
    apps = {item.detail: item.group for item in planned if item.provider == "a1art"}
    groups = {
        row.key: row.group if isinstance(row, Planned) else _group_of(row, apps) for row in rows
    }
    kinds = {item.group: item.kind for item in planned}
    for row in bad:
        if row.group is not None:  # an akool or gateway row: its group names its provider
            kinds.setdefault(row.group, row.group.split()[0])

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
                group=groups[row.key],
            )
            for row in rows
            if row.key in by_key
        ],
    }

    def text(console: Console) -> None:
        print_summary(console, result, groups, kinds=kinds, explain=explain, label=label)
        console.print(f"journal: {journal} (run the same command again to resume)", markup=False)
        if ctx.args.out:
            console.print(f"results: {ctx.args.out}", markup=False)

    ctx.out.emit(document, text)
    failed = any(outcome.state is not JobState.DONE for outcome in result.outcomes)
    return ExitCode.PARTIAL if failed else ExitCode.OK
