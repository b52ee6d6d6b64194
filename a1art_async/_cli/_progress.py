"""
Progress, on stderr: a board of where every job of a batch stands, and a spinner for a
single task.

On a terminal the board is a live table redrawn a few times a second; anywhere else
(a pipe, a file, CI logs, ``TERM=dumb``) nothing is animated: a line is printed when
the work starts and one when each job ends.

The board counts jobs in five phases: *queued* (not submitted yet: waiting for a slot,
uploading), *submitted* (the API accepted the task; state 0 on the server), *running*
(state 30), *done* and *failed* (failed, outcome unknown, or over budget).  Requests that
fail and are tried again (the API unreachable, say) show as a ``retrying:`` line within
seconds; off a terminal that line is printed once per spell of trouble.
"""

from __future__ import annotations

import collections
import enum
import time
import urllib.parse
from collections.abc import Iterator
from typing import TextIO

import anyio
import attrs
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .._engine._batch import BatchOutcome
from .._engine._events import Event, EventKind
from .._engine._journal import JobState
from .._handles import TaskHandle
from .._models import Task
from ._exit import describe

#: How often the live display is redrawn, in seconds.
REFRESH = 0.1
#: Lines of recent outcomes under the live table.
RECENT = 4


class Phase(enum.Enum):
    """
    Where a job stands, as the board shows it.
    """

    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_STYLES = {
    Phase.QUEUED: "dim",
    Phase.SUBMITTED: "cyan",
    Phase.RUNNING: "yellow",
    Phase.DONE: "green",
    Phase.FAILED: "red",
}


@attrs.define
class _Job:
    key: str
    group: str
    phase: Phase = Phase.QUEUED
    cost: int = 0
    earlier: bool = False
    paid_before: bool = False


#: How long a failed request keeps showing as trouble once nothing new failed, seconds.
TROUBLE_SHOWN = 10.0


def elapsed_text(seconds: float) -> str:
    """
    ``m:ss.s`` for the elapsed time.
    """
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}"


class Board:
    """
    Where every job of a batch stands, by group (an a1.art app, an akool kind, a gateway
    model), and the credits spent.

    Args:
        title: The first line of the live display.
        label: The heading of the groups' column.
    """

    def __init__(self, title: str, *, label: str = "app") -> None:
        self.title = title
        self.label = label
        self.started = time.monotonic()
        self.stopped: float | None = None
        self._jobs: dict[str, _Job] = {}
        self._groups: dict[str, None] = {}
        self.recent: collections.deque[Text] = collections.deque(maxlen=RECENT)
        #: The latest failed request that is being tried again, and when it failed:
        #: the API unreachable, rate limited or failing.  Cleared by any progress.
        self.trouble: tuple[float, BaseException] | None = None

    def add(self, key: str, group: str) -> None:
        """
        A queued job.
        """
        self._jobs[key] = _Job(key, group)
        self._groups.setdefault(group, None)

    def on_event(self, event: Event) -> None:
        """
        Follow one of the batch's events (a listener for ``client.batch(on_event=...)``).
        """
        if event.kind is EventKind.RETRYING:
            if event.error is not None:
                self.trouble = (time.monotonic(), event.error)
            return
        if event.kind not in (EventKind.SENDING, EventKind.UNPAID):
            self.trouble = None  # something went through: the API answers again
        job = None if event.key is None else self._jobs.get(event.key)
        if job is None:
            return
        if event.kind is EventKind.SUBMITTED:
            if job.phase is Phase.QUEUED:
                job.phase = Phase.SUBMITTED
                job.paid_before = event.from_journal
                job.cost = 0 if event.from_journal else (event.cost or 0)
        elif event.kind is EventKind.RUNNING and job.phase is Phase.SUBMITTED:
            # It stays so until the batch reports the job (after its files are saved).
            job.phase = Phase.RUNNING

    def trouble_text(self) -> Text | None:
        """
        The line that says requests are failing and being retried, while they are.
        """
        if self.trouble is None:
            return None
        since, error = self.trouble
        if time.monotonic() - since > TROUBLE_SHOWN:
            return None
        return Text(f"retrying: {describe(error)}", style="yellow")

    def finish(self, outcome: BatchOutcome) -> None:
        """
        The batch reported the job.
        """
        job = self._jobs.get(outcome.key)
        if job is None:
            return
        job.phase = Phase.DONE if outcome.state is JobState.DONE else Phase.FAILED
        job.earlier = outcome.from_journal
        if not outcome.from_journal and not job.paid_before:
            # A job refused before it had a task (a bad argument, the budget) cost nothing.
            charged = outcome.state is not JobState.FAILED or outcome.task_id is not None
            job.cost = outcome.cost if charged else 0
        self.recent.append(outcome_text(outcome, job.group))

    def stop(self) -> None:
        """
        Freeze the elapsed time.
        """
        if self.stopped is None:
            self.stopped = time.monotonic()

    @property
    def elapsed(self) -> float:
        """
        Seconds since the board was made (until :meth:`stop`).
        """
        return (self.stopped or time.monotonic()) - self.started

    @property
    def total(self) -> int:
        """
        How many jobs there are.
        """
        return len(self._jobs)

    @property
    def finished(self) -> int:
        """
        How many jobs are done or failed.
        """
        return sum(1 for job in self._jobs.values() if job.phase in (Phase.DONE, Phase.FAILED))

    @property
    def earlier(self) -> int:
        """
        How many jobs had ended in an earlier run.
        """
        return sum(1 for job in self._jobs.values() if job.earlier)

    @property
    def credits(self) -> int:
        """
        Credits spent in this run.
        """
        return sum(job.cost for job in self._jobs.values() if not job.earlier)

    def rows(self) -> Iterator[tuple[str, dict[Phase, int], int]]:
        """
        Per group: how many jobs are in each phase, and the credits spent.
        """
        for group in self._groups:
            counts = dict.fromkeys(Phase, 0)
            credits = 0
            for job in self._jobs.values():
                if job.group == group:
                    counts[job.phase] += 1
                    credits += 0 if job.earlier else job.cost
            yield group, counts, credits

    def counts(self) -> dict[Phase, int]:
        """
        How many jobs are in each phase, over all groups.
        """
        totals = dict.fromkeys(Phase, 0)
        for _, counts, _ in self.rows():
            for phase, count in counts.items():
                totals[phase] += count
        return totals

    def render(self) -> RenderableType:
        """
        The live display: a table by group, a progress bar, and the latest outcomes.
        """
        grid = Table(title=self.title, title_justify="left", title_style="bold")
        grid.add_column(self.label)
        for phase in Phase:
            grid.add_column(phase.value, justify="right", header_style=_STYLES[phase])
        grid.add_column("credits", justify="right")
        totals = dict.fromkeys(Phase, 0)
        for group, counts, credits in self.rows():
            grid.add_row(group, *_cells(counts), str(credits))
            for phase, count in counts.items():
                totals[phase] += count
        grid.add_row("total", *_cells(totals), str(self.credits), style="bold", end_section=True)
        footer = Table.grid(padding=(0, 2))
        footer.add_row(
            ProgressBar(total=max(1, self.total), completed=self.finished, width=40),
            Text(f"{self.finished}/{self.total} ended"),
            Text(f"{self.credits} credits"),
            Text(f"elapsed {elapsed_text(self.elapsed)}"),
        )
        parts: list[RenderableType] = [grid, footer]
        trouble = self.trouble_text()
        if trouble is not None:
            parts.append(trouble)
        if self.earlier:
            parts.append(Text(f"{self.earlier} jobs had ended in an earlier run", style="dim"))
        parts.extend(self.recent)
        return Group(*parts)


def _cells(counts: dict[Phase, int]) -> list[Text]:
    return [
        Text(str(counts[phase]), style=_STYLES[phase] if counts[phase] else "dim")
        for phase in Phase
    ]


def shown_file(file: str) -> str:
    """
    A result file as it is printed: a path or URL as it is, an image that came inline
    (a ``data:`` URL, as the journal keeps one until it is saved) as ``inline image
    (N bytes)``, never its whole base64 text.
    """
    if not file.startswith("data:"):
        return file
    head, _, body = file.partition(",")
    if head.endswith(";base64"):
        body = body.strip()
        size = len(body) * 3 // 4 - (len(body) - len(body.rstrip("=")))
    else:
        size = len(urllib.parse.unquote_to_bytes(body))
    return f"inline image ({size} bytes)"


def outcome_text(outcome: BatchOutcome, group: str) -> Text:
    """
    One line for a finished job: its state, key, app, and files or error.
    """
    ok = outcome.state is JobState.DONE
    mark = "done" if ok else outcome.state.value
    line = Text()
    line.append(f"{mark:<7}", style="green" if ok else "red")
    line.append(f" {outcome.key}  ", style="bold")
    line.append(f"{group}  ", style="dim")
    if ok:
        files = outcome.files
        shown = shown_file(files[0]) if files else "(no files)"
        line.append(shown + (f" (+{len(files) - 1})" if len(files) > 1 else ""))
    elif outcome.error is not None:
        line.append(describe(outcome.error))
    if outcome.from_journal:
        line.append("  (earlier run)", style="dim")
    return line


def stderr_console(stream: TextIO, *, plain: bool = False) -> Console:
    """
    The console progress is drawn on; *plain* never animates (``-v``: log lines and a
    redrawn display do not mix).
    """
    return Console(
        file=stream,
        stderr=True,
        highlight=False,
        soft_wrap=True,
        force_terminal=False if plain else None,
    )


def animated(console: Console) -> bool:
    """
    Whether progress may be animated: only on a real, capable terminal.
    """
    return console.is_terminal and not console.is_dumb_terminal


class BoardDisplay:
    """
    Shows a :class:`Board` on stderr: live on a terminal, else one line per outcome.
    """

    def __init__(self, board: Board, console: Console) -> None:
        self.board = board
        self.console = console
        self.live = animated(console)
        self._live: Live | None = None
        # The spell of trouble already printed (off a terminal, one line per spell).
        self._said: tuple[float, BaseException] | None = None

    def __enter__(self) -> BoardDisplay:
        if self.live:
            live = Live(
                self.board.render(),
                console=self.console,
                auto_refresh=False,
                transient=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            live.start()
            self._live = live
        else:
            self.console.print(f"{self.board.title}: {self.board.total} jobs", markup=False)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.board.stop()
        self.refresh()
        if self._live is not None:
            self._live.stop()
            self._live = None

    def refresh(self) -> None:
        """
        Redraw the live display; when not animated, print a new spell of trouble once.
        """
        if self._live is not None:
            self._live.update(self.board.render(), refresh=True)
            return
        trouble = self.board.trouble
        if trouble is None:
            self._said = None
        elif self._said is None:
            self._said = trouble
            text = self.board.trouble_text()
            if text is not None:
                self.console.print(text)

    def outcome(self, outcome: BatchOutcome) -> None:
        """
        A job ended: a line when not animated (the live table shows it otherwise).
        """
        if self.live:
            return
        width = len(str(self.board.total))
        line = Text(f"[{self.board.finished:>{width}}/{self.board.total}] ")
        line.append_text(self.board.recent[-1])
        self.console.print(line)


async def wait_with_status(
    handle: TaskHandle,
    console: Console,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - a task deadline, not a cancel scope
) -> Task:
    """
    Wait for one task, with a spinner showing its state and the elapsed time on a
    terminal, or one line saying what it waits for elsewhere.

    Raises:
        TaskFailedError, TaskTimeoutError, APIError: As ``handle.result()`` does.
    """
    started = anyio.current_time()
    if not animated(console):
        console.print(f"waiting for task {handle.task_id}", markup=False)
        return await handle.result(timeout=timeout)

    def status_text() -> str:
        state = handle.state
        name = "submitted" if state is None else state.name.lower()
        return f"task {handle.task_id}: {name} · {elapsed_text(anyio.current_time() - started)}"

    result: Task | Exception | None = None

    async def wait() -> None:
        nonlocal result
        try:
            result = await handle.result(timeout=timeout)
        except Exception as error:  # raised below, outside the task group
            result = error
        group.cancel_scope.cancel()

    with console.status(status_text()) as status:
        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            while True:
                await anyio.sleep(REFRESH)
                status.update(status_text())
    if isinstance(result, Exception):
        raise result
    assert result is not None
    return result
