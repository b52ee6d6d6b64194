"""
Ctrl-C without losing a task that was paid for.

The API cannot list tasks: a task whose id the user never saw is lost to them, though it
was charged.  So the command line handles SIGINT itself instead of letting
``KeyboardInterrupt`` land wherever the program happens to be:

- an interrupt cancels the command's scope, and the command says what goes on: the task
  it submitted or waited for, and the command that resumes the wait;
- before a spending request (generate, enhance) leaves the process, the interrupt stops
  it: nothing is charged;
- once it has left, its answer is awaited (the request is shielded from the interrupt),
  so that the task's id is known, and the command stops right after;
- a second Ctrl-C abandons even that answer, and the command says the request may have
  been charged.

A batch is stopped more gently: the first Ctrl-C sends nothing more, lets each paid
request already on its way bring its answer into the journal, and then ends the run
(``Batch.stop``); the second gives those answers up (``Batch.abandon``), and the next run
reports their jobs as outcome unknown.

A scope cancelled from outside (an embedding program, a test) is handled the same way.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus

from .._engine._events import Event, EventKind, Listener
from ._exit import ExitCode

if TYPE_CHECKING:
    from .._engine._cost import CostEstimate

if TYPE_CHECKING:
    import argparse


class Resumable(Protocol):
    """
    A submitted job the user must not lose: its id, and a token that resumes its wait
    (an a1.art ``TaskHandle``, an akool ``ImageHandle``).
    """

    task_id: str

    @property
    def done(self) -> bool: ...

    def to_token(self) -> str: ...


R = TypeVar("R", bound=Resumable)


class Stoppable(Protocol):
    """
    Work that an interrupt stops without losing what was paid for (a batch): see
    ``Batch.stop`` and ``Batch.abandon``.
    """

    def stop(self) -> None: ...

    def abandon(self) -> None: ...


def resume_command(args: argparse.Namespace, handle: Resumable) -> str:
    """
    The command that waits for *handle*'s task again, from any shell: its token, and the
    options that decide where it is asked and where its results go.  The command's
    ``task_command`` default names the task command of its API (``task``, or
    ``gateway task``).
    """
    parts = ["a1art"]
    if args.base_url:
        parts += ["--base-url", args.base_url]
    if args.region != "global":
        parts += ["--region", args.region]
    if args.time_scale is not None:
        parts += ["--time-scale", f"{args.time_scale:g}"]
    parts += [*getattr(args, "task_command", ("task",)), handle.to_token(), "--wait"]
    out = getattr(args, "out", None)
    if out:
        parts += ["--out", out]
    return shlex.join(parts)


class Interrupts:
    """
    One command's interrupts: the scope they cancel, and the task the user must not lose.

    Attributes:
        task: The task the command submitted or waits for, once its id is known.
        credits: What that task costs, when this command submitted it.
        abandoned: A spending request had left and its answer was given up (a second
            Ctrl-C): it may have been charged, and its task id is unknown.
        reported: The interrupt has been reported to the user.
        stopper: The batch the command runs, while it runs: interrupts stop it (see
            :class:`Stoppable`) instead of cancelling the command.
        stopped: An interrupt stopped :attr:`stopper`; the command then ended by itself.
        delivered: The command's answer (a synchronous result, paid for) is already
            printed: an interrupt after it says so on stderr and adds no second document.
    """

    def __init__(self) -> None:
        self._scope: anyio.CancelScope | None = None
        self.task: Resumable | None = None
        #: The command that resumes the wait for :attr:`task` (each API has its own).
        self.resume: Callable[[argparse.Namespace, Resumable], str] = resume_command
        self.credits: CostEstimate | None = None
        self.abandoned = False
        self.reported = False
        self.delivered = False
        self.stopper: Stoppable | None = None
        self.stopped = False
        self._signals = 0
        self._shield: anyio.CancelScope | None = None

    def interrupt(self) -> None:
        """
        Stop the command, as Ctrl-C does; the second time, also give up the answer of a
        spending request in flight.  A running batch is stopped instead (the second
        time, abandoned), and the command goes on to print what it did.
        """
        self._signals += 1
        if self.stopper is not None:
            # A batch ends by itself once stopped: its summary is still printed.
            self.stopped = True
            if self._signals == 1:
                self.stopper.stop()
            else:
                self.stopper.abandon()
            return
        if self._signals > 1 and self._shield is not None:
            self._shield.cancel()
        if self._scope is not None:
            self._scope.cancel()

    def scope(self) -> anyio.CancelScope:
        """
        The scope the command runs in (on the event loop): an interrupt cancels it, also
        one that came before it was entered.
        """
        self._scope = anyio.CancelScope()
        if self._signals:
            self._scope.cancel()
        return self._scope

    async def watch_sigint(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """
        Turn the first two SIGINTs into :meth:`interrupt`; after that (or where signals
        cannot be received here: not the main thread, asyncio on Windows) Ctrl-C is a
        ``KeyboardInterrupt`` again, so that a third one always gets the user out.
        """
        with contextlib.ExitStack() as stack:
            try:
                received = stack.enter_context(anyio.open_signal_receiver(signal.SIGINT))
            except (NotImplementedError, ValueError, RuntimeError):
                task_status.started()
                return
            task_status.started()
            async for _ in received:
                self.interrupt()
                if self._signals >= 2:
                    return

    def follow(self, handle: Resumable, credits: CostEstimate | None = None) -> None:
        """
        Remember the task the command is about, to name it if the command is stopped.
        """
        self.task = handle
        self.credits = credits

    async def submit(
        self,
        send: Callable[[], Awaitable[R]],
        *,
        credits: CostEstimate | None,
        listening: Callable[[Listener], AbstractContextManager[None]],
    ) -> R:
        """
        Run *send* (a generate or enhance submission) so that an interrupt never loses
        the task it creates.

        Until the spending request is about to leave, an interrupt cancels *send* as
        usual.  From then on *send* is shielded until it returns; the task is remembered
        (see :attr:`task`), and only then does the interrupt take effect.  *listening*
        is the client's: its ``SENDING`` and ``UNPAID`` events say when the request left
        and when it provably was not charged.

        Raises:
            Whatever *send* raises; the cancellation of an interrupt.
        """
        sent = False

        def watch(event: Event) -> None:
            nonlocal sent
            if event.kind is EventKind.SENDING:
                sent = True
            elif event.kind is EventKind.UNPAID:
                sent = False

        shield = anyio.CancelScope(shield=True)

        async def guard() -> None:
            # Runs outside the shield: it sees an interrupt that the shielded send does
            # not, and lets it through while nothing has been sent.  (An event, not
            # sleep_forever: that is a timer at infinity, which a virtual clock jumps
            # towards while a worker thread reads the image.)
            try:
                await anyio.Event().wait()
            finally:
                if not sent:
                    shield.cancel()

        handle: R | None = None
        failure: Exception | None = None
        self._shield = shield
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(guard)
                with shield, listening(watch):
                    try:
                        handle = await send()
                    except Exception as error:  # raised below, not as an exception group
                        failure = error
                    if handle is not None and not handle.done:
                        # An answer that is the result itself has no task to resume.
                        self.follow(handle, credits)
                group.cancel_scope.cancel()
        finally:
            self._shield = None
            if sent and handle is None and failure is None:
                self.abandoned = True
        if failure is not None:
            raise failure
        # An interrupt that came while the request was shielded takes effect here.
        await anyio.lowlevel.checkpoint_if_cancelled()
        if handle is None:
            # Only an interrupt cancels the shield, and it cancelled the command too.
            raise RuntimeError("the submission was cancelled without an interrupt")
        return handle

    def lines(self, args: argparse.Namespace) -> list[str]:
        """
        What the command says when it is interrupted.
        """
        if self.task is not None:
            cost = "" if self.credits is None else f", {self.credits} credits"
            return [
                f"a1art: interrupted; task {self.task.task_id} goes on{cost}",
                f"resume: {self.resume(args, self.task)}",
            ]
        if self.abandoned:
            return [
                "a1art: interrupted while the request was in flight: it may have been "
                "charged, and its task id is unknown"
            ]
        if args.handler == "batch":
            return ["a1art: interrupted; run the same command again to resume"]
        return ["a1art: interrupted"]

    def json(self, args: argparse.Namespace) -> dict[str, Any]:
        """
        The interrupt as ``--json`` prints it: an error with the task and its token.
        """
        body: dict[str, Any] = {
            "type": "Interrupted",
            "message": self.lines(args)[0].removeprefix("a1art: "),
            "exit_code": int(ExitCode.INTERRUPTED),
        }
        if self.task is not None:
            body.update(
                task_id=self.task.task_id,
                token=self.task.to_token(),
                resume=self.resume(args, self.task),
            )
            if self.credits is not None:
                body["credits"] = self.credits.high
                body["credits_low"] = self.credits.low
        return body
