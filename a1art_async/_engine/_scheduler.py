"""
The polling scheduler: one loop waits for every pending task of a client.

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

The schedule itself is two pure functions, :func:`first_delay` and :func:`next_delay`,
configured by one frozen :class:`PollPolicy`.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, Final, Protocol

import anyio
import attrs
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from ._config import Region
from ._events import Event, EventKind, Listeners
from ._exceptions import (
    RateLimitError,
    ServerError,
    TaskFailedError,
    TaskTimeoutError,
    TransportError,
    UnexpectedResponseError,
)
from ._handles import Completed, Failed, Outcome, TaskHandle
from ._limiter import Priority, polling, waiting_priority
from ._logging import logger
from ._models import Task, TaskState

#: Fetches one task: ``fetch(task_id, region)``.
Fetch = Callable[[str, Region], Awaitable[Task]]

#: Errors after which a poll is simply tried again at the next scheduled time (the client
#: has already retried the request itself); any other error ends the wait.
_TRANSIENT: Final = (TransportError, RateLimitError, ServerError, UnexpectedResponseError)

NOT_RUNNING: Final = (
    "waiting for tasks needs the client's polling scheduler, which runs while the client "
    "is open: use `async with AsyncClient(...) as client:` and wait inside that block"
)


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive or None (got {value!r})")


@attrs.frozen
class PollPolicy:
    """
    When to poll a task, for how long, and how many polls may run at once.

    The schedule, in seconds after the task was submitted (its *age*)::

        first poll   max(first_delay, hint_fraction * processTime), capped at hint_cap
        then         every `interval` while age < steady_for * expected
        then         gap = min(max_interval, interval + backoff * (age - steady end))

    where *expected* is the app's ``processTime`` when known and ``first_delay``
    otherwise.  Past the steady phase the gap grows with the task's age, which is
    exponential backoff (each gap is about ``1 + backoff`` times the last) computed from
    age alone, so a wait that is resumed later picks up the right pace.  Every gap
    (and a hinted first delay) is shortened by a random fraction of up to ``jitter``,
    never lengthened; polls then go out on a grid of ``coalesce`` seconds (rounded up).
    So ``first_delay`` stays a floor, and ``interval`` (then ``max_interval``) plus
    ``coalesce`` bounds how late a poll sees a finished task.

    How the defaults were chosen.  ``hint_fraction=0.875``, ``interval=4.75`` and
    ``steady_for=2.0`` come from ``python -m benchmarks.polling --sweep``: it replays the
    durations the emulator draws for its FORM app (lognormal around the 22 s
    ``processTime``, sigma 0.25, clamped to 0.5x-2x; 1,000 tasks for each of five seeds)
    through 459 candidates with this module's own schedule functions, and keeps the one
    with the fewest polls per task whose p95 detection lag stays 2 % under the fixed 5 s
    poller's (the docs' advice) on every seed.  The winner polls 2.45 times per task
    against the fixed poller's 5.0; the best fixed schedule at that lag, found by exact
    search without jitter or grid, polls 2.26 times (``benchmarks/RESULTS-polling.md``).
    The other defaults are design choices the benchmark cannot see: ``jitter=0.1``
    spreads the polls of tasks submitted together; ``coalesce=0.1`` lets polls due within
    0.1 s share one event-loop wake-up (about a quarter less CPU per poll in B2);
    ``backoff=0.5`` and ``max_interval=45`` follow Google's long-running-operation policy
    (x1.5 per gap, 45 s cap) for tasks past twice their expected duration, which the
    emulator never draws; ``max_concurrent=32`` leaves half of the default connection
    pool to uploads and submissions; ``deadline=600`` is a safety net, 27 times the
    documented ``processTime``.

    Attributes:
        first_delay: The earliest first poll, in seconds after submission; the docs
            advise waiting 5 s.
        hint_fraction: With a ``processTime`` hint, the first poll comes at this
            fraction of it, when that is later than ``first_delay``.
        hint_cap: The longest first delay a hint may ask for, in seconds.
        interval: The gap between polls during the steady phase, in seconds.
        steady_for: The steady phase lasts until the task is this many times its
            expected duration old.
        backoff: After the steady phase each gap grows by this many seconds per second
            of age.
        max_interval: The longest gap between polls, in seconds.
        jitter: Each gap is shortened by a uniform random fraction in ``[0, jitter]``.
        deadline: Seconds a wait may last by default before it raises
            :class:`TaskTimeoutError` (``None``: wait forever).
        max_concurrent: Polls in flight at once, across all tasks.
        coalesce: Polls go out on a grid of this many seconds (due times are rounded
            up to it), so that polls due within the same instant share one wake-up of
            the event loop; 0 sends each poll at its exact time.
    """

    first_delay: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    hint_fraction: float = attrs.field(default=0.875, validator=attrs.validators.ge(0))
    hint_cap: float = attrs.field(default=300.0, validator=attrs.validators.ge(0))
    interval: float = attrs.field(default=4.75, validator=attrs.validators.gt(0))
    steady_for: float = attrs.field(default=2.0, validator=attrs.validators.ge(0))
    backoff: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    max_interval: float = attrs.field(default=45.0, validator=attrs.validators.gt(0))
    jitter: float = attrs.field(
        default=0.1, validator=[attrs.validators.ge(0), attrs.validators.lt(1)]
    )
    deadline: float | None = attrs.field(default=600.0, validator=_positive_or_none)
    max_concurrent: int = attrs.field(default=32, validator=attrs.validators.ge(1))
    coalesce: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))

    def expected(self, process_time: float | None) -> float:
        """
        The duration the schedule expects: the hint when there is one, else
        ``first_delay``.
        """
        if process_time is None or not math.isfinite(process_time) or process_time <= 0:
            return self.first_delay
        return process_time


def _shorten(seconds: float, policy: PollPolicy, jitter: float) -> float:
    return seconds * (1.0 - policy.jitter * min(max(jitter, 0.0), 1.0))


def first_delay(policy: PollPolicy, process_time: float | None, *, jitter: float) -> float:
    """
    Seconds from submission to the first poll.

    Args:
        policy: The policy.
        process_time: The app's ``processTime`` hint, if known.
        jitter: A number in ``[0, 1]``, normally ``random.random()``.

    Returns:
        At least ``policy.first_delay``.
    """
    if process_time is None or not math.isfinite(process_time) or process_time <= 0:
        return policy.first_delay
    hinted = min(policy.hint_fraction * process_time, policy.hint_cap)
    return max(policy.first_delay, _shorten(hinted, policy, jitter))


def next_delay(
    policy: PollPolicy, age: float, process_time: float | None, *, jitter: float
) -> float:
    """
    Seconds from a poll that found the task unfinished to the next one.

    Args:
        policy: The policy.
        age: Seconds since submission when the last poll was sent.
        process_time: The app's ``processTime`` hint, if known.
        jitter: A number in ``[0, 1]``, normally ``random.random()``.

    Returns:
        A gap in ``(0, policy.max_interval]``.
    """
    overdue = max(0.0, age - policy.steady_for * policy.expected(process_time))
    gap = min(policy.max_interval, policy.interval + policy.backoff * overdue)
    return _shorten(gap, policy, jitter)


def poll_times(policy: PollPolicy, process_time: float | None = None) -> Iterator[float]:
    """
    The ages at which a task is polled, without jitter, forever.

    This is the schedule the scheduler follows when ``policy.jitter`` is 0 and polls are
    answered at once; tests and benchmarks use it to predict poll counts.
    """
    age = first_delay(policy, process_time, jitter=0.0)
    while True:
        yield age
        age += next_delay(policy, age, process_time, jitter=0.0)


def polls_until(policy: PollPolicy, duration: float, process_time: float | None = None) -> int:
    """
    How many polls, on the unjittered schedule, find a task of this duration finished.
    """
    for count, age in enumerate(poll_times(policy, process_time), start=1):
        if age >= duration:
            return count
    raise AssertionError("unreachable")  # pragma: no cover


class Sink(Protocol):
    """
    Where a waiter's outcome goes; ``deliver`` is called once per subscription.

    ``priority`` is the level at which the limiter sends polls on this waiter's behalf.
    """

    @property
    def priority(self) -> Priority: ...

    def deliver(self, outcome: Outcome) -> None: ...


class OneShot:
    """
    The sink of a single waiter: the outcome and an event that says it arrived.
    """

    __slots__ = ("event", "outcome", "priority")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.outcome: Outcome | None = None
        # A wait is interactive unless it was started inside a bulk block.
        self.priority = waiting_priority()

    def deliver(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.event.set()


class _Entry:
    """
    One task being polled: when next, how the polls went, and who waits.
    """

    __slots__ = ("due", "hint", "last_error", "region", "state", "submitted", "subs", "task_id")

    def __init__(self, task_id: str, region: Region, submitted: float, hint: float | None):
        self.task_id = task_id
        self.region: Region = region
        self.submitted = submitted
        self.hint = hint
        self.due = 0.0
        self.state: TaskState | None = None
        # Why the latest poll failed, until one succeeds: a wait that times out says it.
        self.last_error: Exception | None = None
        self.subs: list[Subscription] = []

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
        handle: TaskHandle,
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


class Scheduler:
    """
    Polls every task somebody waits for, by one :class:`PollPolicy`.

    Args:
        fetch: Queries one task, ``await fetch(task_id, region)``.
        policy: When to poll and how many at once.
        rng: Draws the jitter; seed it for reproducible schedules.

    Run it once with ``await task_group.start(scheduler.run)``; :meth:`stop` (or
    cancelling that task group) stops it, and every waiter still subscribed gets a
    ``RuntimeError`` outcome.
    """

    def __init__(
        self,
        fetch: Fetch,
        policy: PollPolicy,
        *,
        rng: random.Random | None = None,
        listeners: Listeners | None = None,
    ):
        self._fetch = fetch
        self.policy = policy
        self._rng = rng or random.Random()
        self._listeners = Listeners() if listeners is None else listeners
        self._entries: dict[str, _Entry] = {}
        self._due: list[_Entry] = []
        self._deadlines: list[Subscription] = []
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
        self, handle: TaskHandle, sink: Sink, *, timeout: float | None = None
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
        known = handle.task
        if known is not None and known.is_final:
            sub = Subscription(None, handle, sink, now, None)
            sink.deliver(_final_outcome(handle, known))
            return sub
        entry = self._entries.get(handle.task_id)
        if entry is None:
            submitted = handle.submitted_clock(now)
            entry = _Entry(handle.task_id, handle.region, submitted, handle.process_time)
            delay = first_delay(self.policy, entry.hint, jitter=self._rng.random())
            entry.due = self._on_grid(max(now, submitted + delay))
            self._entries[handle.task_id] = entry
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

    async def wait(self, handle: TaskHandle, *, timeout: float | None = None) -> Task:  # noqa: ASYNC109
        """
        Wait for one task and return it finished.

        Raises:
            TaskFailedError: It ended in state 20.
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
        return sink.outcome.unwrap()

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
            error = TaskTimeoutError(
                entry.task_id, now - sub.started, entry.state, last_error=entry.last_error
            )
            sub.sink.deliver(Failed(sub.handle, error))
        due = self._due
        limit = self.policy.max_concurrent
        while due and due[0].due <= now and self._in_flight < limit:
            entry = heapq.heappop(due)
            if not entry.subs:
                del self._entries[entry.task_id]
                continue
            self._in_flight += 1
            tg.start_soon(self._poll, entry)
        wake_at = self._deadlines[0].deadline if self._deadlines else None
        # Starved: a poll is due but every slot is taken; a finishing poll wakes the loop.
        self._starved = bool(due) and due[0].due <= now
        if due and not self._starved:
            wake_at = due[0].due if wake_at is None else min(wake_at, due[0].due)
        self._wake_at = wake_at
        return wake_at

    async def _poll(self, entry: _Entry) -> None:
        sent = anyio.current_time()
        self.polls += 1
        try:
            # The limiter sends it at its most urgent waiter's priority.
            with polling(sub.sink.priority for sub in entry.subs):
                task = await self._fetch(entry.task_id, entry.region)
        except Exception as error:  # delivered to the waiters; never kills the loop
            self._answered(entry, sent, None, error)
        else:
            self._answered(entry, sent, task, None)
        finally:
            self._in_flight -= 1
            if self._starved and self._wake is not None:
                self._wake.set()

    def _answered(
        self, entry: _Entry, sent: float, task: Task | None, error: Exception | None
    ) -> None:
        subs = entry.subs
        listeners = self._listeners
        if task is not None:
            changed = task.state is not entry.state
            entry.state = task.state
            entry.last_error = None
            for sub in subs:
                sub.handle.observe(task)
            if changed and listeners:
                listeners.emit(Event(_EVENT_OF[task.state], entry.task_id, task=task))
        final = task is not None and task.is_final
        if error is not None:
            entry.last_error = error
            if not isinstance(error, _TRANSIENT):
                final = True
            if listeners:
                kind = EventKind.FAILED if final else EventKind.RETRYING
                listeners.emit(Event(kind, entry.task_id, error=error))
        if final:
            del self._entries[entry.task_id]
            entry.subs = []
            for sub in subs:
                self._detach(sub)
                if task is not None:
                    sub.sink.deliver(_final_outcome(sub.handle, task))
                else:
                    assert error is not None  # final without a task: the poll's error
                    sub.sink.deliver(Failed(sub.handle, error))
            return
        if not subs:
            del self._entries[entry.task_id]
            return
        age = sent - entry.submitted
        delay = next_delay(self.policy, age, entry.hint, jitter=self._rng.random())
        if error is not None:
            retry_after = getattr(error, "retry_after", None)
            if isinstance(retry_after, int | float):
                delay = max(delay, min(float(retry_after), self.policy.max_interval))
            logger.info("polling %s failed, next poll in %.1f s: %s", entry.task_id, delay, error)
        entry.due = self._on_grid(max(anyio.current_time(), sent + delay))
        heapq.heappush(self._due, entry)
        self._wakeup(entry.due)

    def _close(self) -> None:
        entries = list(self._entries.values())
        self._entries.clear()
        self._due.clear()
        self._deadlines.clear()
        self._stale_deadlines = 0
        for entry in entries:
            subs, entry.subs = entry.subs, []
            for sub in subs:
                sub.entry = None
                error = RuntimeError(f"the client closed before task {entry.task_id} finished")
                sub.sink.deliver(Failed(sub.handle, error))


#: The event a poll that sees a task in a new state emits.
_EVENT_OF: Final = {
    TaskState.SUBMITTED: EventKind.QUEUED,
    TaskState.RUNNING: EventKind.RUNNING,
    TaskState.COMPLETED: EventKind.DONE,
    TaskState.FAILED: EventKind.FAILED,
}


def _final_outcome(handle: TaskHandle, task: Task) -> Outcome:
    if task.state is TaskState.FAILED:
        return Failed(handle, TaskFailedError(task))
    return Completed(handle, task)


class _Channel:
    """
    The sink of an ``as_completed`` stream: outcomes go into a memory channel, which
    closes after the last one so that the caller's ``async for`` ends.
    """

    __slots__ = ("remaining", "send")

    #: Streams are bulk work: their polls yield to submissions and single waits.
    priority: Final = Priority.BULK

    def __init__(self, send: MemoryObjectSendStream[Outcome], remaining: int) -> None:
        self.send = send
        self.remaining = remaining
        if remaining <= 0:
            send.close()

    def deliver(self, outcome: Outcome) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.send.send_nowait(outcome)
        self.remaining -= 1
        if self.remaining <= 0:
            self.send.close()


@contextlib.asynccontextmanager
async def as_completed(
    scheduler: Scheduler,
    handles: Iterable[TaskHandle],
    *,
    timeout: float | None = None,  # noqa: ASYNC109
) -> AsyncIterator[AsyncIterator[Outcome]]:
    """
    Subscribe to every handle at once; yield the channel their outcomes arrive on.

    Each distinct task id yields one outcome, in the order they finish; failures and
    timeouts are outcomes too, so one does not end the stream.  Leaving the block stops
    waiting for whatever has not finished.

    Raises:
        RuntimeError: The scheduler is not running.
    """
    unique: dict[str, TaskHandle] = {}
    for handle in handles:
        unique.setdefault(handle.task_id, handle)
    if not scheduler.running:
        raise RuntimeError(NOT_RUNNING)
    send, receive = anyio.create_memory_object_stream[Outcome](math.inf)
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

    def deliver(self, outcome: Outcome) -> None:
        if outcome.ok:
            self._put(Event(EventKind.DONE, outcome.task_id, task=outcome.task))
        else:
            self._put(Event(EventKind.FAILED, outcome.task_id, error=outcome.error))
        self.remaining -= 1
        if self.remaining <= 0:
            self.send.close()


def _current(handle: TaskHandle) -> Event:
    """
    Where a task stands as far as this process knows, as an event.
    """
    task = handle.task
    if task is None:
        return Event(EventKind.SUBMITTED, handle.task_id)
    return Event(_EVENT_OF[task.state], handle.task_id, task=task)


@contextlib.asynccontextmanager
async def events(
    scheduler: Scheduler,
    listeners: Listeners,
    handles: Iterable[TaskHandle],
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
    unique: dict[str, TaskHandle] = {}
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
