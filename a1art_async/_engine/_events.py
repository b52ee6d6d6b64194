"""
Progress as events: what happened to a task or a batch job, and when.

A client keeps one :class:`Listeners` list.  The submission of a task, every state change
a poll sees, and every failed request that will be tried again become an :class:`Event`
handed to each listener, synchronously and in order.  Streams (``handle.events()``,
``client.tasks.events(...)``) are listeners that put events into a memory channel; a
batch relays the events of its own tasks to its listeners with the job's key.

Listeners are plain callables: they run on the event loop between two polls, so they
must be quick and must not block (put the event on a channel, set a flag, update a
display).  An exception in a listener is logged and does not stop the others.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from ._logging import logger


class EventKind(enum.StrEnum):
    """
    What an :class:`Event` says happened.
    """

    #: The task was submitted: its id came back.  A batch also says it of a job whose
    #: submitted task it picks up from its journal.
    SUBMITTED = "submitted"
    #: A poll saw the task waiting in the API's queue.
    QUEUED = "queued"
    #: A poll saw the task running.
    RUNNING = "running"
    #: The task finished with results (a batch: the job is done, files saved).
    DONE = "done"
    #: The task failed (a batch: the job ended without results).
    FAILED = "failed"
    #: A batch job's paid request may have been acted on, with no answer: it is not
    #: sent again.
    UNKNOWN = "unknown"
    #: A request failed and will be tried again (``error`` says why): the API may be
    #: unreachable, rate limited or failing.  Nothing has ended.
    RETRYING = "retrying"
    #: A paid request (a generation) is leaving this process: from now on it may be
    #: charged, although no task id is known yet.
    SENDING = "sending"
    #: The paid request that was leaving provably was not charged (refused for the
    #: rate, rejected, or never connected); ``error`` says why.
    UNPAID = "unpaid"

    @property
    def is_final(self) -> bool:
        """
        Whether the task or job has ended.
        """
        return self in (EventKind.DONE, EventKind.FAILED, EventKind.UNKNOWN)


@attrs.frozen
class Event:
    """
    One thing that happened.

    Attributes:
        kind: What happened.
        task_id: The task it happened to (``None`` for a request that is not a poll,
            or a batch job not yet submitted).
        at: When it was seen (UTC).
        task: The task as the poll saw it, when a poll saw it.
        error: Why, for ``FAILED``, ``UNKNOWN``, ``RETRYING`` and ``UNPAID``.
        key: The batch job's key, for a batch's events.
        cost: For a batch's ``SUBMITTED`` and final events: the credits reserved for the
            job (the most it can have been charged).
        from_journal: For a batch's events: the job was submitted (or ended) in an
            earlier run, and this run only picks it up.
    """

    kind: EventKind
    task_id: str | None = None
    at: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.UTC))
    task: Any = None
    error: BaseException | None = None
    key: str | None = None
    cost: int | None = None
    from_journal: bool = False


Listener = Callable[[Event], None]


class Listeners:
    """
    The listeners of one client (or batch): :meth:`emit` hands an event to each.
    """

    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def add(self, listener: Listener) -> Callable[[], None]:
        """
        Call *listener* with every event from now on; returns the way to stop.
        """
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    @contextlib.contextmanager
    def listening(self, listener: Listener) -> Iterator[None]:
        """
        Call *listener* with every event while the block runs.
        """
        remove = self.add(listener)
        try:
            yield
        finally:
            remove()

    def emit(self, event: Event) -> None:
        """
        Hand *event* to every listener, in the order they were added.
        """
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("an event listener failed on %s", event.kind)
