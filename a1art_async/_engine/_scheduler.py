"""
The polling scheduler: one loop waits for every pending job of a client, whatever the API.

Pending tasks sit in a min-heap ordered by when each is next due.  The loop sleeps until
the earliest, starts at most ``max_concurrent`` polls, and puts each unfinished task back
in the heap at the time :func:`next_delay` gives.  A waiter is a subscription, not a
coroutine: ``as_completed`` over 100,000 tasks is one channel and 100,000 small records.

- Waiters on the same task id share its polls.  When the last one leaves (cancelled, or
  timed out), the task is no longer polled; the server's job is never touched.
- Deadlines are a second heap: when a waiter's passes, it gets :class:`TaskTimeoutError`
  carrying the task id, whatever the state of any poll in flight.
- Results leave through the waiter's sink (an event, or a memory channel the caller
  iterates inside ``async with``), never by yielding out of the loop's task group.
- :meth:`Scheduler.poke` polls a task now, out of turn (a webhook said it changed); its
  scheduled polls stay as they were.

The schedule itself is two pure functions, :func:`first_delay` and :func:`next_delay`
(``_schedule.py``), configured by one frozen :class:`PollPolicy`, until a family of jobs
(a handle's ``family``) has been seen finishing often enough: then the optimal schedule
for the durations learned (:class:`~._learn.Durations`).  A job's age counts from its
anchor: its submission, or the last poll that found it queued.  What a poll is and what
its answer means comes from the provider's :class:`Poller`.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import random
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Final, Generic, Protocol, TypeVar, cast

import anyio
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from ._errors import TaskTimeoutError, is_transient
from ._events import Event, EventKind, Listeners
from ._handles import Completed, Failed, JobHandle, JobStatus, Outcome, Poller
from ._learn import Durations
from ._limiter import Priority, polling, waiting_priority
from ._logging import logger
from ._optimal import OptimalSchedule
from ._schedule import PollPolicy, first_delay, next_delay, shorten

R = TypeVar("R")

NOT_RUNNING: Final = (
    "waiting for tasks needs the client's polling scheduler, which runs while the client "
    "is open: use `async with AsyncClient(...) as client:` and wait inside that block"
)


class Sink(Protocol):
    """
    Where a waiter's outcome goes; ``deliver`` is called once per subscription.

    ``priority`` is the level at which the limiter sends polls on this waiter's behalf.
    """

    @property
    def priority(self) -> Priority: ...

    def deliver(self, outcome: Outcome[Any]) -> None: ...


class OneShot:
    """
    The sink of a single waiter: the outcome and an event that says it arrived.
    """

    __slots__ = ("event", "outcome", "priority")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.outcome: Outcome[Any] | None = None
        # A wait is interactive unless it was started inside a bulk block.
        self.priority = waiting_priority()

    def deliver(self, outcome: Outcome[Any]) -> None:
        self.outcome = outcome
        self.event.set()


class _Entry:
    """
    One task being polled: when next, how the polls went, and who waits.
    """

    __slots__ = (
        "anchor",
        "due",
        "handle",
        "heaped",
        "hint",
        "last",
        "last_error",
        "poked",
        "polling",
        "since",
        "status",
        "submitted",
        "subs",
    )

    def __init__(self, handle: JobHandle[Any], submitted: float):
        # The handle polls are made for (the first waiter's; others share its answers).
        self.handle = handle
        self.submitted = submitted
        # Ages count from the anchor: the submission, or the last poll that found the
        # task queued.  `since`: the last poll that found it unfinished (the anchor at
        # first), so that a finish is known to lie in (since, the poll that saw it].
        self.anchor = submitted
        self.since = submitted
        self.hint = handle.hint
        self.due = 0.0
        self.status: JobStatus | None = None
        self.last: Any = None
        # Why the latest poll failed, until one succeeds: a wait that times out says it.
        self.last_error: Exception | None = None
        self.subs: list[Subscription] = []
        # In the due heap (its `due` is then its key there, never changed); being polled;
        # asked to be polled out of turn.
        self.heaped = False
        self.polling = False
        self.poked = False

    @property
    def task_id(self) -> str:
        return self.handle.task_id

    def __lt__(self, other: _Entry) -> bool:
        return self.due < other.due


class Subscription:
    """
    One waiter on one task.  Detached (``entry`` is ``None``) once its outcome is out.
    """

    __slots__ = ("deadline", "entry", "handle", "sink", "started")

    def __init__(
        self,
        entry: _Entry | None,
        handle: JobHandle[Any],
        sink: Sink,
        started: float,
        deadline: float | None,
    ) -> None:
        self.entry = entry
        self.handle = handle
        self.sink = sink
        self.started = started
        self.deadline = deadline

    def __lt__(self, other: Subscription) -> bool:
        return self.deadline < other.deadline  # type: ignore[operator]  # only deadlines queue


class Scheduler(Generic[R]):
    """
    Polls every job somebody waits for, by one :class:`PollPolicy`.

    Args:
        poller: The provider's way to fetch a job and read its status.
        policy: When to poll and how many at once.
        rng: Draws the jitter; seed it for reproducible schedules.
        listeners: Told of every state change and failed poll.
        durations: What is learned of each family's durations (a fresh store by
            default; share or :meth:`~Durations.load` one to start warm).
        busy: Says whether the request budget is saturated for polls at a priority
            (requests other than polls wait for a permit at that level or above): such
            polls then cost ``policy.busy_poll_cost``.

    Run it once with ``await task_group.start(scheduler.run)``; :meth:`stop` (or
    cancelling that task group) stops it, and every waiter still subscribed gets a
    ``RuntimeError`` outcome.
    """

    def __init__(
        self,
        poller: Poller[R],
        policy: PollPolicy,
        *,
        rng: random.Random | None = None,
        listeners: Listeners | None = None,
        durations: Durations | None = None,
        busy: Callable[[Priority], bool] | None = None,
    ):
        self._poller = poller
        self.policy = policy
        #: What was learned of each family's durations.
        self.durations = (
            Durations(learn_after=policy.learn_after or 1) if durations is None else durations
        )
        self._busy = busy
        self._rng = rng or random.Random()
        self._listeners = Listeners() if listeners is None else listeners
        self._entries: dict[str, _Entry] = {}
        self._due: list[_Entry] = []
        self._deadlines: list[Subscription] = []
        # Entries to poll out of turn, as soon as a slot is free (see poke).
        self._poked: list[_Entry] = []
        self._stale_deadlines = 0
        self._in_flight = 0
        self._running = False
        self._wake: anyio.Event | None = None
        # When the loop will look again on its own (None: only when woken), and whether
        # due polls are waiting for a slot; wake-ups that would change neither are skipped.
        self._wake_at: float | None = None
        self._starved = False
        self._scope: anyio.CancelScope | None = None
        self._stopped = False
        #: Polls sent since the scheduler started.
        self.polls = 0

    @property
    def poller(self) -> Poller[R]:
        """
        The provider's way to fetch a job and read its status.
        """
        return self._poller

    @property
    def running(self) -> bool:
        """
        Whether the loop is running, so that waits can be served.
        """
        return self._running

    @property
    def waiting(self) -> int:
        """
        How many tasks have at least one waiter.
        """
        return sum(1 for entry in self._entries.values() if entry.subs)

    @property
    def in_flight(self) -> int:
        """
        Polls in flight right now.
        """
        return self._in_flight

    # Waiters ------------------------------------------------------------------------

    def subscribe(
        self, handle: JobHandle[R], sink: Sink, *, timeout: float | None = None
    ) -> Subscription:
        """
        Wait for *handle*'s task: *sink* gets exactly one outcome, unless unsubscribed.

        Args:
            handle: The task.
            sink: Where the outcome goes.
            timeout: Seconds from now before a :class:`TaskTimeoutError` outcome; the
                policy's ``deadline`` when ``None``.

        Raises:
            RuntimeError: The scheduler is not running.
        """
        if not self._running:
            raise RuntimeError(NOT_RUNNING)
        now = anyio.current_time()
        known = handle.latest
        if known is not None and handle.done:
            sub = Subscription(None, handle, sink, now, None)
            sink.deliver(self._final_outcome(handle, known))
            return sub
        entry = self._entries.get(handle.task_id)
        if entry is None:
            submitted = handle.submitted_clock(now)
            entry = _Entry(handle, submitted)
            entry.due = self._on_grid(max(now, submitted + self._delay(entry, None)))
            self._entries[handle.task_id] = entry
            entry.heaped = True
            heapq.heappush(self._due, entry)
            self._wakeup(entry.due)
        limit = self.policy.deadline if timeout is None else timeout
        deadline = None if limit is None else now + max(0.0, limit)
        sub = Subscription(entry, handle, sink, now, deadline)
        entry.subs.append(sub)
        if deadline is not None:
            heapq.heappush(self._deadlines, sub)
            self._wakeup(deadline)
        return sub

    def poke(self, task_id: str) -> None:
        """
        Poll *task_id* now, out of turn, if anybody waits for it (a webhook said it
        changed); a no-op for a task nobody waits for.

        The poll goes out as soon as a slot is free, and its scheduled polls stay as
        they were.  A poke that comes while the task is being polled brings one more
        poll right after that one, whose answer may predate the news; pokes that come
        while one is pending are one poll.
        """
        entry = self._entries.get(task_id)
        if entry is None or not entry.subs or entry.poked:
            return
        entry.poked = True
        if not entry.polling:
            self._poked.append(entry)
            if self._wake is not None:
                self._wake.set()

    def unsubscribe(self, sub: Subscription) -> None:
        """
        Stop waiting; the task is no longer polled once nobody waits for it.

        Does nothing if the outcome was already delivered.
        """
        entry = sub.entry
        if entry is None:
            return
        self._detach(sub)
        entry.subs.remove(sub)
        # An entry nobody waits for stays in the heap until it comes due, and is then
        # dropped without a poll: a waiter that comes back before that keeps its pace.

    async def wait(self, handle: JobHandle[R], *, timeout: float | None = None) -> R:  # noqa: ASYNC109
        """
        Wait for one job and return its final record.

        Raises:
            TaskFailedError: It ended failed (the provider's error).
            TaskTimeoutError: It did not finish within the timeout or deadline.
            RuntimeError: The scheduler is not running.
        """
        sink = OneShot()
        sub = self.subscribe(handle, sink, timeout=timeout)
        try:
            await sink.event.wait()
        finally:
            self.unsubscribe(sub)
        assert sink.outcome is not None  # set before the event
        result: R = sink.outcome.unwrap()
        return result

    def events(
        self, handles: Iterable[JobHandle[R]], *, timeout: float | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Event]]:
        """
        Wait for every handle and stream their events (see :func:`events`).
        """
        return events(self, self._listeners, handles, timeout=timeout)

    def _final_outcome(self, handle: JobHandle[R], result: R) -> Outcome[R]:
        if self._poller.status(result) is JobStatus.FAILED:
            return Failed(handle, self._poller.failure(handle, result))
        return Completed(handle, result)

    def _detach(self, sub: Subscription) -> None:
        sub.entry = None
        if sub.deadline is not None:
            self._stale_deadlines += 1
            # Finished waiters linger in the deadline heap until popped; rebuild it when
            # they are the majority, so memory follows the waiters that remain.
            if self._stale_deadlines > 64 and self._stale_deadlines * 2 > len(self._deadlines):
                self._deadlines = [s for s in self._deadlines if s.entry is not None]
                heapq.heapify(self._deadlines)
                self._stale_deadlines = 0

    def _table(self, entry: _Entry) -> OptimalSchedule | None:
        """
        The learned schedule for the entry's family now, if there is one.
        """
        family = entry.handle.family
        if family is None or self.policy.learn_after is None:
            return None
        durations = self.durations
        if family not in durations:
            durations.model(family, entry.hint)
        return durations.schedule(family, self.policy.poll_cost, now=anyio.current_time())

    def _deferred(self, entry: _Entry, now: float) -> float | None:
        """
        When a due poll should go instead, because the request budget is saturated; or
        ``None``: now.

        While requests other than polls wait for a permit at the poll's priority or a
        more urgent one, a poll costs ``busy_poll_cost``: the schedule for that cost
        (from what is known of the family, its hint at least) may put the poll later.
        It is then put back, at most a quarter of ``interval`` at a time, so that it
        goes as soon as the budget frees up.  A family none of whose tasks was seen
        finishing yet is polled as planned: its first result comes within seconds, and
        its first observation.
        """
        family = entry.handle.family
        if family is None or self._busy is None or self.policy.learn_after is None:
            return None
        level = min((sub.sink.priority for sub in entry.subs), default=Priority.BULK)
        if not self._busy(level) or not self.durations.observed(family):
            return None
        durations = self.durations
        table = durations.schedule(family, self.policy.busy_poll_cost, prior=True, now=now)
        if table is None:
            return None
        polled = entry.status is not None and entry.since > entry.anchor
        at = table.next_age(entry.since - entry.anchor if polled else 0.0)
        if at is None:
            return None
        when = entry.anchor + at
        recheck = self.policy.interval / 4
        if when <= now + recheck / 10:
            return None
        return self._on_grid(min(when, now + recheck))

    def _delay(self, entry: _Entry, age: float | None) -> float:
        """
        Seconds from the anchor (for the first poll: *age* ``None``) or from a poll at
        *age* that found the task unfinished, to the next poll.
        """
        policy, jitter = self.policy, self._rng.random()
        table = self._table(entry)
        if table is not None:
            at = table.next_age(0.0 if age is None else age)
            if at is not None:
                if age is None:
                    floor = policy.first_delay - (entry.anchor - entry.submitted)
                    return max(floor, shorten(at, policy, jitter))
                return shorten(at - age, policy, jitter)
        if age is None:
            return first_delay(policy, entry.hint, jitter=jitter)
        return next_delay(policy, age, entry.hint, jitter=jitter)

    def _on_grid(self, when: float) -> float:
        tick = self.policy.coalesce
        return when if tick <= 0 else math.ceil(when / tick) * tick

    def _wakeup(self, when: float) -> None:
        """
        Have the loop look again if *when* comes before it planned to.
        """
        if self._wake is not None and (self._wake_at is None or when < self._wake_at):
            self._wake.set()

    # The loop -------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """
        Poll until cancelled.
        """
        if self._scope is not None:
            raise RuntimeError("a scheduler runs once")
        self._scope = anyio.CancelScope()
        if self._stopped:
            self._scope.cancel()
        try:
            with self._scope:
                async with anyio.create_task_group() as tg:
                    self._running = True
                    task_status.started()
                    while True:
                        self._wake = anyio.Event()
                        wake_at = self._step(tg)
                        if wake_at is None:
                            await self._wake.wait()
                        else:
                            with anyio.move_on_at(wake_at):
                                await self._wake.wait()
        finally:
            self._running = False
            self._close()

    def stop(self) -> None:
        """
        Stop the loop (and the polls in flight); waiters get a ``RuntimeError`` outcome.
        """
        self._running = False
        self._stopped = True
        if self._scope is not None:
            self._scope.cancel()

    def _step(self, tg: TaskGroup) -> float | None:
        """
        Deliver due timeouts, start due polls; return when to look again.
        """
        now = anyio.current_time()
        while self._deadlines and self._deadlines[0].deadline <= now:  # type: ignore[operator]
            sub = heapq.heappop(self._deadlines)
            entry = sub.entry
            if entry is None:
                self._stale_deadlines -= 1
                continue
            sub.entry = None
            entry.subs.remove(sub)
            last_state = None if entry.last is None else self._poller.state(entry.last)
            error = TaskTimeoutError(
                entry.task_id, now - sub.started, last_state, last_error=entry.last_error
            )
            sub.sink.deliver(Failed(sub.handle, error))
        due = self._due
        limit = self.policy.max_concurrent
        poked = self._poked
        while poked and self._in_flight < limit:
            entry = poked.pop(0)
            if entry.polling or not entry.subs or self._entries.get(entry.task_id) is not entry:
                entry.poked = False
                continue
            self._start(tg, entry)
        while due and due[0].due <= now and self._in_flight < limit:
            entry = heapq.heappop(due)
            entry.heaped = False
            if entry.polling:
                continue  # polled out of turn right now; its answer schedules the next
            if not entry.subs:
                if self._entries.get(entry.task_id) is entry:
                    del self._entries[entry.task_id]
                continue
            later = self._deferred(entry, now)
            if later is not None:
                entry.due = later
                entry.heaped = True
                heapq.heappush(due, entry)
                continue
            self._start(tg, entry)
        wake_at = self._deadlines[0].deadline if self._deadlines else None
        # Starved: a poll is due but every slot is taken; a finishing poll wakes the loop.
        self._starved = bool(poked) or (bool(due) and due[0].due <= now)
        if due and not self._starved:
            wake_at = due[0].due if wake_at is None else min(wake_at, due[0].due)
        self._wake_at = wake_at
        return wake_at

    def _start(self, tg: TaskGroup, entry: _Entry) -> None:
        entry.poked = False
        entry.polling = True
        self._in_flight += 1
        tg.start_soon(self._poll, entry)

    async def _poll(self, entry: _Entry) -> None:
        sent = anyio.current_time()
        self.polls += 1
        try:
            # The limiter sends it at its most urgent waiter's priority.
            with polling(sub.sink.priority for sub in entry.subs):
                result = await self._poller.fetch(entry.handle)
            status = self._poller.status(result)
        except Exception as error:  # delivered to the waiters; never kills the loop
            self._answered(entry, sent, None, None, error)
        else:
            self._answered(entry, sent, result, status, None)
        finally:
            self._in_flight -= 1
            if self._starved and self._wake is not None:
                self._wake.set()

    def _answered(
        self,
        entry: _Entry,
        sent: float,
        result: R | None,
        status: JobStatus | None,
        error: Exception | None,
    ) -> None:
        entry.polling = False
        subs = entry.subs
        listeners = self._listeners
        if status is not None:
            changed = status is not entry.status
            entry.status = status
            entry.last = result
            entry.last_error = None
            for sub in subs:
                sub.handle.observe(result)
            if changed and listeners:
                listeners.emit(Event(_EVENT_OF[status], entry.task_id, task=result))
        final = status is not None and status.is_final
        if error is not None:
            entry.last_error = error
            if not is_transient(error):
                final = True
            if listeners:
                kind = EventKind.FAILED if final else EventKind.RETRYING
                listeners.emit(Event(kind, entry.task_id, error=error))
        if final:
            entry.poked = False
            del self._entries[entry.task_id]
            family = entry.handle.family
            if status is not None and family is not None and self.policy.learn_after:
                # The task was unfinished when an earlier poll was sent (or at its anchor)
                # and finished when this one was answered: the poll may have waited for
                # the budget after `sent`, so only the answer bounds the finish.
                answered = anyio.current_time()
                self.durations.observe(
                    family,
                    entry.since - entry.anchor,
                    answered - entry.anchor,
                    hint=entry.hint,
                    anchor=entry.anchor,
                )
            entry.subs = []
            for sub in subs:
                self._detach(sub)
                if status is not None:
                    sub.sink.deliver(self._final_outcome(sub.handle, cast(R, result)))
                else:
                    assert error is not None  # final without a task: the poll's error
                    sub.sink.deliver(Failed(sub.handle, error))
            return
        if not subs:
            if not entry.heaped:
                del self._entries[entry.task_id]
            return
        if entry.poked:  # news came while this poll was out: look again at once
            self._poked.append(entry)
            if self._wake is not None:
                self._wake.set()
        if status is JobStatus.QUEUED:
            # Still queued: the schedule starts afresh, as for a task submitted now.
            entry.anchor = entry.since = sent
        elif status is not None:
            entry.since = sent
        if entry.heaped:
            return  # an out-of-turn poll: the scheduled one stands
        delay = self._delay(entry, None if status is JobStatus.QUEUED else sent - entry.anchor)
        if error is not None:
            retry_after = getattr(error, "retry_after", None)
            if isinstance(retry_after, int | float):
                delay = max(delay, min(float(retry_after), self.policy.max_interval))
            logger.info("polling %s failed, next poll in %.1f s: %s", entry.task_id, delay, error)
        entry.due = self._on_grid(max(anyio.current_time(), sent + delay))
        entry.heaped = True
        heapq.heappush(self._due, entry)
        self._wakeup(entry.due)

    def _close(self) -> None:
        entries = list(self._entries.values())
        self._entries.clear()
        self._due.clear()
        self._poked.clear()
        self._deadlines.clear()
        self._stale_deadlines = 0
        for entry in entries:
            subs, entry.subs = entry.subs, []
            for sub in subs:
                sub.entry = None
                error = RuntimeError(f"the client closed before task {entry.task_id} finished")
                sub.sink.deliver(Failed(sub.handle, error))


#: The event a poll that sees a job in a new status emits.
_EVENT_OF: Final = {
    JobStatus.QUEUED: EventKind.QUEUED,
    JobStatus.RUNNING: EventKind.RUNNING,
    JobStatus.SUCCEEDED: EventKind.DONE,
    JobStatus.FAILED: EventKind.FAILED,
}


class _Channel:
    """
    The sink of an ``as_completed`` stream: outcomes go into a memory channel, which
    closes after the last one so that the caller's ``async for`` ends.
    """

    __slots__ = ("remaining", "send")

    #: Streams are bulk work: their polls yield to submissions and single waits.
    priority: Final = Priority.BULK

    def __init__(self, send: MemoryObjectSendStream[Outcome[Any]], remaining: int) -> None:
        self.send = send
        self.remaining = remaining
        if remaining <= 0:
            send.close()

    def deliver(self, outcome: Outcome[Any]) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.send.send_nowait(outcome)
        self.remaining -= 1
        if self.remaining <= 0:
            self.send.close()


@contextlib.asynccontextmanager
async def as_completed(
    scheduler: Scheduler[R],
    handles: Iterable[JobHandle[R]],
    *,
    timeout: float | None = None,  # noqa: ASYNC109
) -> AsyncIterator[AsyncIterator[Outcome[R]]]:
    """
    Subscribe to every handle at once; yield the channel their outcomes arrive on.

    Each distinct task id yields one outcome, in the order they finish; failures and
    timeouts are outcomes too, so one does not end the stream.  Leaving the block stops
    waiting for whatever has not finished.

    Raises:
        RuntimeError: The scheduler is not running.
    """
    unique: dict[str, JobHandle[R]] = {}
    for handle in handles:
        unique.setdefault(handle.task_id, handle)
    if not scheduler.running:
        raise RuntimeError(NOT_RUNNING)
    send, receive = anyio.create_memory_object_stream[Outcome[R]](math.inf)
    sink = _Channel(send, len(unique))
    subs: list[Subscription] = []
    try:
        with receive:
            for handle in unique.values():
                subs.append(scheduler.subscribe(handle, sink, timeout=timeout))
            del unique
            yield receive
    finally:
        for sub in subs:
            scheduler.unsubscribe(sub)
        send.close()


class _EventSink:
    """
    The sink of an events stream: intermediate events of its tasks from the client's
    listeners, and one final event per task from the scheduler's outcome.
    """

    __slots__ = ("ids", "remaining", "send")

    #: Streams watch; their polls yield to submissions and single waits.
    priority: Final = Priority.BULK

    def __init__(self, send: MemoryObjectSendStream[Event], ids: set[str]) -> None:
        self.send = send
        self.ids = ids
        self.remaining = len(ids)
        if not ids:
            send.close()

    def _put(self, event: Event) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.send.send_nowait(event)

    def __call__(self, event: Event) -> None:
        # Finals come from outcomes, which also cover timeouts and a task polled by
        # someone else before this stream subscribed.
        if event.task_id in self.ids and not event.kind.is_final:
            self._put(event)

    def deliver(self, outcome: Outcome[Any]) -> None:
        if outcome.ok:
            self._put(Event(EventKind.DONE, outcome.task_id, task=outcome.task))
        else:
            self._put(Event(EventKind.FAILED, outcome.task_id, error=outcome.error))
        self.remaining -= 1
        if self.remaining <= 0:
            self.send.close()


def _current(handle: JobHandle[Any]) -> Event:
    """
    Where a job stands as far as this process knows, as an event.
    """
    status = handle.status
    if status is None:
        return Event(EventKind.SUBMITTED, handle.task_id)
    return Event(_EVENT_OF[status], handle.task_id, task=handle.latest)


@contextlib.asynccontextmanager
async def events(
    scheduler: Scheduler[R],
    listeners: Listeners,
    handles: Iterable[JobHandle[R]],
    *,
    timeout: float | None = None,  # noqa: ASYNC109
) -> AsyncIterator[AsyncIterator[Event]]:
    """
    Wait for every handle, and yield the channel their events arrive on: first where
    each stands now, then every change the polls see and every failed poll
    (``RETRYING``), and last one ``DONE`` or ``FAILED`` per task (a wait past its
    deadline ends ``FAILED`` with a :class:`TaskTimeoutError`; the task goes on).

    Raises:
        RuntimeError: The scheduler is not running.
    """
    unique: dict[str, JobHandle[R]] = {}
    for handle in handles:
        unique.setdefault(handle.task_id, handle)
    if not scheduler.running:
        raise RuntimeError(NOT_RUNNING)
    send, receive = anyio.create_memory_object_stream[Event](math.inf)
    sink = _EventSink(send, set(unique))
    subs: list[Subscription] = []
    try:
        with receive, listeners.listening(sink):
            for handle in unique.values():
                current = _current(handle)
                if not current.kind.is_final:
                    sink._put(current)
                subs.append(scheduler.subscribe(handle, sink, timeout=timeout))
            del unique
            yield receive
    finally:
        for sub in subs:
            scheduler.unsubscribe(sub)
        send.close()
