"""
The request budget: how fast one client sends, how many requests are in flight, and who
goes first.

Every API request a client makes (uploads, generates, enhances, task queries, polls)
takes a :class:`Permit` from the client's one :class:`Limiter` before it is sent, and
reports how it was answered.  A permit needs two things:

- a free in-flight slot: at most ``max_in_flight`` requests (the connection pool's size)
  are on the wire at once, so none ever waits inside httpx's pool;
- a token from a bucket that refills at the current *rate* (requests per second) and
  holds ``burst`` seconds' worth of it (at least one token).

**Who goes first.**  Waiting requests are served by :class:`Priority`, then submissions
before polls (but polls are owed ``poll_share`` of the permits while both wait, so a
rate-limited batch keeps collecting results), then first come first served:

==============  ===================================================================
INTERACTIVE     polls for a single waiter (``handle.result()``, ``client.tasks.wait``)
NORMAL          everything else: uploads, generates, enhances, app details, ``get``
BULK            polls for ``as_completed`` streams, and every request (and wait) made
                inside ``with request_priority(Priority.BULK):``
==============  ===================================================================

So a web request on a client that also runs a batch waits behind at most the requests
already on the wire, never behind the batch's backlog.  The order is strict: bulk work
proceeds on whatever budget the levels above leave over.

**How the rate adapts** (AIMD, the way TCP adapts its window; every parameter is a field
of :class:`RateLimit`, defaults in brackets):

1. *Slow start.*  The rate starts at ``initial`` [20/s], paced from the first request
   (the bucket starts with one token, not a burst).  Until the first refusal, every
   accepted answer to a request that had to wait for a token (the budget, not the
   caller, was the bottleneck) adds ``slow_start`` [1] requests/s, or the rate over
   the in-flight bound when that is more: under saturation the rate grows by a factor
   of ``e`` per second while it is low, and doubles with every pool's worth of answers
   (TCP's doubling per round trip, the pool taken as the window) once it passes the
   pool's size, so an unknown limit is found in a few seconds and a fast server's
   ceiling in about one more.
2. *Additive increase.*  After a refusal, each such answer adds ``increase`` [0.03]
   requests/s: under saturation about 3 % per second, so the rate climbs back from a
   decrease in about 12 s and probes above it slowly.  Answers to requests that did
   not wait change nothing, so an idle client's rate does not creep up.
3. *Multiplicative decrease.*  A refusal (code 20000 in the envelope, or HTTP 429) sets
   the rate to ``decrease`` [0.7] x the rate at which the refused request was sent,
   and empties the bucket.  Once per round: refusals of requests sent before the last
   decrease say nothing new and are ignored, so one burst of refusals costs one
   decrease, and a limit that dropped is matched within a few round trips.
4. *Probing again.*  ``probe_after`` [30 s] without a refusal while the budget binds
   means the limit has risen: slow start resumes until the next refusal.
5. *Retry-After.*  A refusal that carries ``Retry-After`` (and triggers a decrease) also
   holds every permit until it has passed, up to ``max_pause`` [60 s], and the bucket
   stays empty until then.
6. The rate stays within ``[floor, ceiling]`` [0.5/s, none], and an adaptive one under
   100,000/s; a ``ceiling`` set by the user is never exceeded.  ``adaptive=False``
   turns 1-5 off: the rate is then fixed at ``ceiling``, or unbounded (only the
   in-flight bound remains) when there is none.

The refused request itself is retried by the client's retry loop (see ``_retry.py``),
through the limiter again.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Protocol

import anyio
import anyio.lowlevel
import attrs

#: Tokens within this much of a whole one count as whole: virtual clocks may wake a
#: sleeper a hair before its deadline.
_TOKEN_SLACK: Final = 1e-6
#: A sleeping head is woken early only for a token due this much sooner than planned.
_TIME_SLACK: Final = 1e-6
#: An adaptive rate never grows past this many requests per second: far above what any
#: API allows one client, and low enough that a token's wait (1 / rate) is still a time
#: a clock can add (a virtual clock that never moves would otherwise grow it for ever).
MAX_ADAPTIVE_RATE: Final = 100_000.0


class Priority(enum.IntEnum):
    """
    Which waiting requests the limiter serves first (lower first).
    """

    #: Polls for a single waiter: ``handle.result()``, ``client.tasks.wait``.
    INTERACTIVE = 0
    #: The default: uploads, submissions, app details, one-off task queries.
    NORMAL = 1
    #: Background work: ``as_completed`` polls, and anything inside
    #: ``request_priority(Priority.BULK)``.
    BULK = 2


# (level, is_poll): the request priority of the current task.
_CONTEXT: contextvars.ContextVar[tuple[Priority, bool]] = contextvars.ContextVar(
    "a1art_async_request_priority", default=(Priority.NORMAL, False)
)


@contextlib.contextmanager
def request_priority(level: Priority) -> Iterator[None]:
    """
    Send the requests made inside this block (in this task and the tasks it starts)
    at *level*; waits started inside it poll at that level too (``BULK`` stays bulk,
    any other level waits interactively).

    ::

        with a1art_async.request_priority(a1art_async.Priority.BULK):
            await run_nightly_batch(client)    # a web request on `client` goes first

    Args:
        level: The priority.
    """
    token = _CONTEXT.set((Priority(level), False))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def waiting_priority() -> Priority:
    """
    The level at which polls for a wait started now are sent: ``BULK`` inside a bulk
    block, ``INTERACTIVE`` otherwise.
    """
    level, _ = _CONTEXT.get()
    return Priority.BULK if level is Priority.BULK else Priority.INTERACTIVE


@contextlib.contextmanager
def polling(levels: Iterable[Priority]) -> Iterator[None]:
    """
    Mark the requests inside as a poll on behalf of waiters at *levels*; the most
    urgent of them wins (``BULK`` when there are none).
    """
    token = _CONTEXT.set((min(levels, default=Priority.BULK), True))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not (isinstance(value, int | float) and 0 < value < math.inf):
        raise ValueError(f"{attribute.name} must be a positive number or None (got {value!r})")


@attrs.frozen
class RateLimit:
    """
    The request budget of one client: how its rate starts, grows and shrinks.

    The algorithm is described in ``a1art_async/_limiter.py``'s docstring; in short,
    slow start from ``initial``, then AIMD on refusals (code 20000 or HTTP 429), within
    ``[floor, ceiling]``.  Pass it as ``AsyncClient(rate_limit=RateLimit(...))``;
    ``AsyncClient(rate_limit=5.0)`` is ``RateLimit(ceiling=5.0)``.

    How the defaults were chosen: the docs give no limit, so ``initial=20`` paces a
    cold client gently and slow start still reaches a few thousand requests/s within 5 s
    of saturation.  ``increase`` was swept against the emulator's limit (a token bucket
    per key) at 5, 20 and 60 requests/s: 0.1, 0.05 and 0.03 all keep goodput at the
    limit, and refusals fall with it (5.0 %, 2.7 % and 1.7 % at 5 requests/s; under
    0.5 % at 60); 0.03 is the largest under 2 %.  ``decrease=0.7`` (AWS's adaptive
    client uses the same) matches a halved limit in two round trips.  ``probe_after=30``
    is about two sawtooth cycles at 3 %/s.  ``floor=0.5`` is AWS's lowest fill rate;
    ``max_pause`` matches :class:`RetryPolicy`'s ``retry_after_cap``.

    Attributes:
        initial: Requests per second to start from (capped at ``ceiling``).
        ceiling: Never more than this many requests per second (``None``: no ceiling).
        floor: Never fewer than this many requests per second.
        burst: The bucket holds this many seconds of the current rate (at least one
            token): how many requests may leave at once after a quiet spell.
        slow_start: Requests/s added per accepted answer to a request that waited for a
            token, until the first refusal.
        increase: The same, after the first refusal.
        decrease: The rate is multiplied by this on a refusal (at most once per round).
        max_pause: A ``Retry-After`` holds all requests for at most this many seconds.
        probe_after: Seconds without a refusal (while the budget binds) after which
            slow start resumes, to find a limit that has risen.
        adaptive: ``False`` fixes the rate at ``ceiling`` (unbounded without one) and
            ignores refusals.
        poll_share: When polls and other requests (submissions, uploads) wait at the
            same priority, polls get at least this share of the permits.  Without it a
            rate-limited batch would fetch no result until its last job was submitted,
            although results "may become invalid later"; 0.5 alternates the two, and
            submissions get every permit the due polls leave.
    """

    initial: float = attrs.field(default=20.0, validator=_positive_or_none)
    ceiling: float | None = attrs.field(default=None, validator=_positive_or_none)
    floor: float = attrs.field(default=0.5, validator=_positive_or_none)
    burst: float = attrs.field(default=1.0, validator=_positive_or_none)
    slow_start: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    increase: float = attrs.field(default=0.03, validator=attrs.validators.ge(0))
    decrease: float = attrs.field(
        default=0.7, validator=[attrs.validators.gt(0), attrs.validators.lt(1)]
    )
    max_pause: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    probe_after: float = attrs.field(default=30.0, validator=_positive_or_none)
    adaptive: bool = True
    poll_share: float = attrs.field(
        default=0.5, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )

    def __attrs_post_init__(self) -> None:
        if self.ceiling is not None and self.floor > self.ceiling:
            raise ValueError(f"floor ({self.floor}) is above ceiling ({self.ceiling})")

    @classmethod
    def of(cls, value: float | RateLimit | None) -> RateLimit:
        """
        The budget ``AsyncClient(rate_limit=...)`` means: a number is a ceiling in
        requests per second, ``None`` the defaults.

        Raises:
            ValueError: Not a positive number, a :class:`RateLimit` or ``None``.
        """
        if value is None:
            return cls()
        if isinstance(value, RateLimit):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"rate_limit must be a positive number of requests/s, got {value!r}")
        ceiling = float(value)
        return cls(ceiling=ceiling, floor=min(attrs.fields(cls).floor.default, ceiling))


class Permit:
    """
    One request's right to be sent; report its answer with :meth:`Limiter.accepted`,
    :meth:`Limiter.refused` or :meth:`Limiter.release`.
    """

    __slots__ = ("done", "epoch", "rate", "saturated")

    def __init__(self, rate: float, epoch: int, saturated: bool) -> None:
        #: The rate when it was granted.
        self.rate = rate
        #: The number of decreases before it was granted.
        self.epoch = epoch
        #: Whether it had to wait for a token: the budget was the bottleneck.
        self.saturated = saturated
        self.done = False


class _Waiter:
    __slots__ = ("cancelled", "event", "key", "permit")

    def __init__(self, key: tuple[int, bool, int]) -> None:
        self.key = key
        self.event = anyio.Event()
        self.permit: Permit | None = None
        self.cancelled = False

    def __lt__(self, other: _Waiter) -> bool:
        return self.key < other.key


class Limiter:
    """
    One client's request budget: in-flight slots, an adaptive token bucket, and a
    priority queue of waiting requests.  See the module docstring.

    Args:
        config: The rate's parameters.
        max_in_flight: Requests on the wire at once.
        clock: Seconds, monotonic; the event loop's clock by default (virtual in tests).
    """

    def __init__(
        self,
        config: RateLimit,
        max_in_flight: int,
        *,
        clock: Callable[[], float] = anyio.current_time,
        source: TokenSource | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1 (got {max_in_flight})")
        self.config = config
        self.max_in_flight = max_in_flight
        self._clock = clock
        #: Where tokens come from: this process's bucket, or a budget shared by many.
        self.source: TokenSource = (
            source if source is not None else LocalTokenSource(config, window=max_in_flight)
        )
        self._in_flight = 0
        # One queue per (priority level, is_poll), each first come first served; see
        # _head for how they take turns.
        self._queues: list[list[_Waiter]] = [[] for _ in range(2 * len(Priority))]
        # Per level: how far polls are behind their share of the permits granted while
        # other requests also waited there (see poll_share and _head).
        self._poll_deficit = [0.0] * len(Priority)
        self._waiting = 0
        self._seq = itertools.count()
        # The head waiter that sleeps until the next token, and when it wakes.
        self._timer: _Waiter | None = None
        self._timer_at = math.inf
        #: Permits granted.
        self.granted = 0

    def __repr__(self) -> str:
        return (
            f"<Limiter rate={self.rate:.3g}/s in_flight={self._in_flight}/"
            f"{self.max_in_flight} waiting={self._waiting}>"
        )

    @property
    def rate(self) -> float:
        """
        The current rate, in requests per second (``inf`` when unbounded).
        """
        return self.source.rate

    @property
    def refusals(self) -> int:
        """
        Refusals reported (code 20000 or HTTP 429).
        """
        return self.source.refusals

    @property
    def decreases(self) -> int:
        """
        Times the rate was decreased.
        """
        return self.source.decreases

    @property
    def in_flight(self) -> int:
        """
        Permits granted and not yet reported.
        """
        return self._in_flight

    @property
    def waiting(self) -> int:
        """
        Requests waiting for a permit.
        """
        return self._waiting

    def busy(self, level: Priority = Priority.BULK) -> bool:
        """
        Whether requests other than polls wait for a permit at *level* or a more urgent
        one: the budget is saturated, and a poll sent at *level* now delays one of them.
        """
        if not self._waiting:
            return False
        queues = self._queues
        return any(self._live(queues[2 * index]) is not None for index in range(level + 1))

    # Acquiring ------------------------------------------------------------------------

    async def acquire(self) -> Permit:
        """
        Wait for a permit, at the priority of the current context (see
        :func:`request_priority`).  Cancelling the wait gives nothing up.
        """
        level, is_poll = _CONTEXT.get()
        await anyio.lowlevel.checkpoint_if_cancelled()
        if self._waiting == 0 and self._in_flight < self.max_in_flight:
            now = self._clock()
            if self.source.wait(now) <= 0:
                return self._grant(now, waited=False)
        waiter = _Waiter((int(level), is_poll, next(self._seq)))
        heapq.heappush(self._queues[2 * int(level) + is_poll], waiter)
        self._waiting += 1
        try:
            self._dispatch()
            while waiter.permit is None:
                # Any wake-up set so far came from our own dispatch: start afresh.
                waiter.event = anyio.Event()
                if self._timer is waiter:
                    with anyio.move_on_at(self._timer_at):
                        await waiter.event.wait()
                else:
                    await waiter.event.wait()
                if waiter.permit is None:
                    self._dispatch()
            permit = waiter.permit
        except BaseException:
            if self._timer is waiter:
                self._timer, self._timer_at = None, math.inf
            if waiter.permit is not None:
                # Granted just as the wait was cancelled: hand it back untouched.
                self._give_back(waiter.permit)
            else:
                waiter.cancelled = True
                self._waiting -= 1
            self._dispatch()
            raise
        return permit

    def _head(self) -> tuple[list[_Waiter], _Waiter, bool] | None:
        """
        The waiter to serve next, its queue, and whether polls and other requests both
        wait at its level.

        The most urgent level goes first.  Within a level, other requests (submissions,
        uploads) go before polls, except that polls get ``poll_share`` of the permits
        granted while both wait (a deficit count: a poll goes first whenever polls are
        behind their share): under a saturated budget a batch's polls keep fetching
        finished results instead of waiting for the last submission.
        """
        for level in range(len(self._queues) // 2):
            others = self._live(self._queues[2 * level])
            polls = self._live(self._queues[2 * level + 1])
            if polls is None:
                if others is None:
                    continue
                return self._queues[2 * level], others, False
            if others is None:
                return self._queues[2 * level + 1], polls, False
            if self._poll_deficit[level] > _TOKEN_SLACK:
                return self._queues[2 * level + 1], polls, True
            return self._queues[2 * level], others, True
        return None

    @staticmethod
    def _live(queue: list[_Waiter]) -> _Waiter | None:
        while queue and queue[0].cancelled:
            heapq.heappop(queue)
        return queue[0] if queue else None

    def _grant(self, now: float, *, waited: bool) -> Permit:
        permit = self.source.take(now, waited=waited)
        self._in_flight += 1
        self.granted += 1
        return permit

    def _dispatch(self) -> None:
        """
        Grant permits to the head of the queue while slots and tokens allow; when only
        tokens are missing, make sure the head sleeps until the next one.
        """
        now: float | None = None
        while True:
            picked = self._head()
            if picked is None:
                return
            queue, head, contested = picked
            if self._in_flight >= self.max_in_flight:
                return  # a release dispatches again
            if now is None:
                now = self._clock()
            wait = self.source.wait(now)
            if wait > 0:
                at = now + wait
                previous, earlier = self._timer, at < self._timer_at - _TIME_SLACK
                self._timer, self._timer_at = head, at
                if previous is not head or earlier:
                    # Wake the head to sleep until `at`; a head that already sleeps
                    # until about then (or later, and re-checks then) is left alone.
                    head.event.set()
                    if previous is not None and previous is not head:
                        previous.event.set()
                return
            heapq.heappop(queue)
            self._waiting -= 1
            level, is_poll = head.key[0], head.key[1]
            if not contested:
                self._poll_deficit[level] = 0.0  # nobody is owed anything
            elif is_poll:
                self._poll_deficit[level] -= 1.0 - self.config.poll_share
            else:
                self._poll_deficit[level] += self.config.poll_share
            if self._timer is head:
                self._timer, self._timer_at = None, math.inf
            head.permit = self._grant(now, waited=True)
            head.event.set()

    # Reporting ------------------------------------------------------------------------

    def accepted(self, permit: Permit) -> None:
        """
        The request was answered and not refused for its rate (any answer but a
        refusal): free its slot, and let the source grow the rate if the budget was the
        bottleneck.
        """
        if permit.done:
            return
        permit.done = True
        self._in_flight -= 1
        self.source.accepted(permit, self._clock())
        if self._waiting:
            self._dispatch()

    def refused(self, permit: Permit, retry_after: float | None = None) -> None:
        """
        The request was refused for its rate (code 20000 or HTTP 429): free its slot
        and let the source decrease the rate (once per round) and honour ``Retry-After``.
        """
        if permit.done:
            return
        permit.done = True
        self._in_flight -= 1
        self.source.refused(permit, self._clock(), retry_after)
        self._dispatch()

    def release(self, permit: Permit) -> None:
        """
        The request got no answer that says anything about the rate (a transport error,
        a gateway page, a cancellation): free its slot.  Does nothing if its answer was
        already reported.
        """
        if permit.done:
            return
        permit.done = True
        self._in_flight -= 1
        if self._waiting:
            self._dispatch()

    def _give_back(self, permit: Permit) -> None:
        permit.done = True
        self._in_flight -= 1
        self.granted -= 1
        self.source.give_back(permit)


class TokenSource(Protocol):
    """
    Where a :class:`Limiter` gets tokens: the rate part of the request budget.

    The limiter keeps what is local to a process (in-flight slots, priorities, the
    queue); the source decides how fast requests may go and adapts to refusals.
    :class:`LocalTokenSource` is one process's bucket; a budget shared by several
    processes implements the same methods over shared state (leasing tokens in the
    background, so that these calls never wait for I/O).  Every method is called on the
    event loop and must return at once.
    """

    @property
    def rate(self) -> float:
        """
        Requests per second now (``inf``: unbounded).
        """
        ...

    @property
    def refusals(self) -> int:
        """
        Refusals reported so far.
        """
        ...

    @property
    def decreases(self) -> int:
        """
        Times the rate was decreased so far.
        """
        ...

    def wait(self, now: float) -> float:
        """
        Seconds until a token is free at clock time *now* (0: one is free now).
        """
        ...

    def take(self, now: float, *, waited: bool) -> Permit:
        """
        Take the free token; *waited* says the request had to wait for one.
        """
        ...

    def give_back(self, permit: Permit) -> None:
        """
        Return a token that was taken but not used.
        """
        ...

    def accepted(self, permit: Permit, now: float) -> None:
        """
        The permit's request was answered and not refused for its rate.
        """
        ...

    def refused(self, permit: Permit, now: float, retry_after: float | None) -> None:
        """
        The permit's request was refused for its rate.
        """
        ...


class LocalTokenSource:
    """
    One process's adaptive token bucket (the algorithm of the module docstring).

    Args:
        config: The rate's parameters.
        window: The requests in flight at most (the limiter's slots): in slow start the
            rate grows by at least the rate over this per answer.
    """

    def __init__(self, config: RateLimit, *, window: int | None = None) -> None:
        self.config = config
        self._window = window
        if config.adaptive:
            rate = config.initial if config.ceiling is None else min(config.initial, config.ceiling)
            rate = max(rate, config.floor)
        else:
            rate = math.inf if config.ceiling is None else config.ceiling
        self._rate = rate
        # One token: the first second is paced, not a burst, until the limit is known.
        self._tokens = 1.0
        self._updated: float | None = None
        self._slow_start = True
        self._epoch = 0
        self._last_decrease: float | None = None
        self._paused_until = -math.inf
        self.refusals = 0
        self.decreases = 0

    @property
    def rate(self) -> float:
        return self._rate

    def _capacity(self) -> float:
        return max(1.0, self._rate * self.config.burst) if math.isfinite(self._rate) else 1.0

    def _refill(self, now: float) -> None:
        if self._updated is not None and math.isfinite(self._rate):
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self._capacity(), self._tokens + elapsed * self._rate)
        self._updated = now

    def wait(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        if not math.isfinite(self._rate):
            return 0.0
        self._refill(now)
        missing = 1.0 - self._tokens
        return 0.0 if missing <= _TOKEN_SLACK else missing / self._rate

    def take(self, now: float, *, waited: bool) -> Permit:
        saturated = waited and math.isfinite(self._rate) and self._tokens < 2.0
        if math.isfinite(self._rate):
            self._tokens = max(0.0, self._tokens - 1.0)
        return Permit(self._rate, self._epoch, saturated)

    def give_back(self, permit: Permit) -> None:
        if math.isfinite(self._rate):
            self._tokens = min(self._capacity(), self._tokens + 1.0)

    def accepted(self, permit: Permit, now: float) -> None:
        config = self.config
        if config.adaptive and permit.saturated:
            last = self._last_decrease
            if not self._slow_start and last is not None and now - last >= config.probe_after:
                # Long without a refusal while the budget binds: the limit has risen.
                self._slow_start = True
            if self._slow_start:
                step = config.slow_start
                if self._window and config.slow_start > 0:
                    step = max(step, self._rate / self._window)
            else:
                step = config.increase
            self._set_rate(self._rate + step, now)

    def refused(self, permit: Permit, now: float, retry_after: float | None) -> None:
        self.refusals += 1
        if not self.config.adaptive:
            return
        self._refill(now)
        self._tokens = 0.0
        if permit.epoch == self._epoch:
            self._epoch += 1
            self.decreases += 1
            self._slow_start = False
            self._last_decrease = now
            self._set_rate(min(self._rate, permit.rate) * self.config.decrease, now)
            if retry_after is not None and retry_after > 0:
                pause = min(retry_after, self.config.max_pause)
                self._paused_until = max(self._paused_until, now + pause)
                # The bucket stays empty through the pause: no burst when it ends.
                self._updated = self._paused_until

    def _set_rate(self, rate: float, now: float) -> None:
        config = self.config
        rate = max(config.floor, min(rate, MAX_ADAPTIVE_RATE))
        if config.ceiling is not None:
            rate = min(config.ceiling, rate)
        if self._updated is not None:
            self._refill(now)
        self._rate = rate
        self._tokens = min(self._tokens, self._capacity())
