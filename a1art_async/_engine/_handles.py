"""
Job handles: a submitted job's identity, what its latest poll saw, and a way to wait.

The engine knows a job only through these neutral terms: an id, a *route* (where its
queries go, such as a1.art's region), a *hint* (the duration the provider expects), when
it was submitted, and a :class:`JobStatus`.  The provider's own record of the job (an
a1.art ``Task``, an akool image) rides along as ``result``; a provider's :class:`Poller`
says how to fetch it and what status it is in.

Waiting is a subscription to the client's scheduler (see ``_scheduler.py``): a handle
holds a reference to something that can wait (:class:`Waiting`), never to a client.
:data:`Outcome` is how one wait ended: :class:`Completed` or :class:`Failed`.
"""

from __future__ import annotations

import enum
import json
import math
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Generic,
    Literal,
    NoReturn,
    Protocol,
    TypeAlias,
    TypeVar,
)

import anyio
import attrs

from ._errors import ValidationError

if TYPE_CHECKING:
    import datetime as dt

    from ._events import Event

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

#: Tokens are small; anything longer is not one.
MAX_TOKEN_CHARS: Final = 1024


class JobStatus(enum.Enum):
    """
    Where a job stands, in the engine's words; each provider maps its states to these.
    """

    #: Accepted, waiting in the API's queue.
    QUEUED = "queued"
    #: Being worked on.
    RUNNING = "running"
    #: Finished with results.
    SUCCEEDED = "succeeded"
    #: Finished without results.
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """
        Whether the job will not change any more.
        """
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class Poller(Protocol[R]):
    """
    What a provider tells the scheduler about its jobs.
    """

    async def fetch(self, handle: JobHandle[R]) -> R:
        """
        Query the job once (one request through the provider's session).
        """
        ...

    def status(self, result: R) -> JobStatus:
        """
        The status a fetched record says the job is in.

        Raises:
            UnexpectedResponseError: A state the provider does not know: a wait must end
                with an error rather than poll forever.
        """
        ...

    def state(self, result: R) -> object:
        """
        The API's own name for the record's state, for errors and logs.
        """
        ...

    def failure(self, handle: JobHandle[R], result: R) -> Exception:
        """
        The error a wait for a job that ended ``FAILED`` raises.
        """
        ...


class Waiting(Protocol[R]):
    """
    What a handle waits through: the client's scheduler.
    """

    @property
    def poller(self) -> Poller[R]: ...

    async def wait(self, handle: JobHandle[R], *, timeout: float | None = None) -> R: ...  # noqa: ASYNC109

    def events(
        self, handles: Iterable[JobHandle[R]], *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[Event]]: ...


def loop_time() -> float | None:
    """
    The event loop's clock, or ``None`` when no event loop is running.
    """
    try:
        return anyio.current_time()
    except RuntimeError:  # sniffio.AsyncLibraryNotFoundError: called outside a loop
        return None


class JobHandle(Generic[R]):
    """
    A submitted job: its id, where and when it was submitted, and its latest record.

    Holding one polls nothing; waiting (:meth:`wait`, :meth:`events`) subscribes to the
    scheduler, which shares polls between everyone who waits for the same job.

    Args:
        waiting: The scheduler to wait through.
        task_id: The job's id at the API.
        route: Where the job's queries go (a provider's own word: a1.art's region).
        hint: The duration the provider expects, in seconds: it times the first poll.
        family: Which jobs take alike (a1.art's app id, a model's name): the scheduler
            learns each family's durations and polls it by them; ``None`` learns nothing.
        submitted_at: When it was submitted (timezone-aware); just now if unknown.
        result: The record, when the answer to the submission already carried it (a
            synchronous API): the handle is then done, and waiting sends no request.
    """

    __slots__ = (
        "_result",
        "_status",
        "_submitted_clock",
        "_submitted_wall",
        "_waiting",
        "family",
        "hint",
        "route",
        "task_id",
    )

    def __init__(
        self,
        waiting: Waiting[R],
        task_id: str,
        *,
        route: str | None = None,
        hint: float | None = None,
        family: str | None = None,
        submitted_at: dt.datetime | None = None,
        result: R | None = None,
    ) -> None:
        if not isinstance(task_id, str) or not task_id.strip():
            raise ValidationError("task_id", f"must be a non-empty string (got {task_id!r})")
        if hint is not None and not (
            isinstance(hint, int | float) and not isinstance(hint, bool) and math.isfinite(hint)
        ):
            raise ValidationError("process_time", f"must be a number (got {hint!r})")
        self._waiting = waiting
        self.task_id = task_id.strip()
        self.route = route
        self.hint = None if hint is None else float(hint)
        self.family = family
        if submitted_at is None:
            # Submitted just now, as far as anyone here knows: note the loop's clock too,
            # so that the first poll waits exactly the policy's delay (even in virtual time).
            self._submitted_wall = time.time()
            self._submitted_clock = loop_time()
        else:
            if submitted_at.tzinfo is None:
                raise ValidationError("submitted_at", "must be timezone-aware")
            self._submitted_wall = submitted_at.timestamp()
            self._submitted_clock = None
        self._result: R | None = None
        self._status: JobStatus | None = None
        if result is not None:
            self.observe(result)

    @property
    def submitted_wall(self) -> float:
        """
        When the job was submitted, in Unix seconds.
        """
        return self._submitted_wall

    def submitted_clock(self, now: float) -> float:
        """
        When the job was submitted, on the event loop's clock.

        Args:
            now: The loop's current time, used to convert a wall-clock submission time
                (from a token, or a handle made outside the loop).
        """
        if self._submitted_clock is None:
            self._submitted_clock = now - max(0.0, time.time() - self._submitted_wall)
        return self._submitted_clock

    @property
    def status(self) -> JobStatus | None:
        """
        The status the latest record says; ``None`` before any.
        """
        return self._status

    @property
    def done(self) -> bool:
        """
        Whether the latest record is final (always, for a synchronous answer).
        """
        return self._status is not None and self._status.is_final

    @property
    def latest(self) -> R | None:
        """
        The latest record of the job (``None`` before any poll answered).
        """
        return self._result

    def observe(self, result: R) -> None:
        """
        Record what a poll saw (called by the scheduler and :meth:`refresh`).
        """
        self._result = result
        self._status = self._waiting.poller.status(result)

    async def wait(self, *, timeout: float | None = None) -> R:  # noqa: ASYNC109
        """
        Wait until the job finishes and return its record.

        Raises:
            TaskFailedError: It ended failed (the provider's subclass).
            TaskTimeoutError: It did not finish in time; it goes on on the server.
            RuntimeError: The client is not open with ``async with``.
        """
        return await self._waiting.wait(self, timeout=timeout)

    def events(
        self, *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """
        Wait for the job and stream what happens to it (see ``client.tasks.events``).
        """
        return self._waiting.events([self], timeout=timeout)

    async def refresh(self) -> R:
        """
        Query the job once, now, outside the schedule, and update what it says.
        """
        result = await self._waiting.poller.fetch(self)
        self.observe(result)
        return result


@attrs.frozen
class Completed(Generic[R]):
    """
    A wait that ended with the task finished, as ``as_completed`` yields it.

    ``ok`` is ``True`` as a literal type, so ``outcome.task if outcome.ok else
    outcome.error`` narrows under a type checker (see :data:`Outcome`).

    Attributes:
        handle: The task's handle.
        task: The finished task's record, with its results.
    """

    handle: JobHandle[R]
    task: R

    @property
    def ok(self) -> Literal[True]:
        """
        ``True``: the task completed.
        """
        return True

    @property
    def error(self) -> None:
        """
        ``None``: nothing went wrong.
        """
        return None

    @property
    def task_id(self) -> str:
        """
        The task's id.
        """
        return self.handle.task_id

    def unwrap(self) -> R:
        """
        The finished task.
        """
        return self.task


@attrs.frozen
class Failed:
    """
    A wait that ended without results, as ``as_completed`` yields it.

    Attributes:
        handle: The task's handle.
        error: Why: :class:`TaskFailedError` (it failed on the server),
            :class:`TaskTimeoutError`, or the error a poll was answered with.
    """

    handle: JobHandle[Any]
    error: Exception

    @property
    def ok(self) -> Literal[False]:
        """
        ``False``: see :attr:`error`.
        """
        return False

    @property
    def task(self) -> None:
        """
        ``None``: no finished task.
        """
        return None

    @property
    def task_id(self) -> str:
        """
        The task's id.
        """
        return self.handle.task_id

    def unwrap(self) -> NoReturn:
        """
        Raise the error.
        """
        raise self.error


def encode_token(body: dict[str, Any]) -> str:
    """
    A compact JSON token (no secrets go in: providers put ids, routes and times).
    """
    return json.dumps(body, separators=(",", ":"))


def decode_token(token: str, version: int) -> dict[str, Any]:
    """
    Read a token written by :func:`encode_token` at *version*.

    Raises:
        ValidationError: Not a token, or of another version.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise ValidationError("token", "not a task token")
    try:
        body = json.loads(token)
    except ValueError:
        raise ValidationError("token", "not a task token (not JSON)") from None
    if not isinstance(body, dict):
        raise ValidationError("token", "not a task token (not a JSON object)")
    if body.get("v") != version:
        raise ValidationError("token", f"token version {body.get('v')!r} is not {version}")
    return body


#: How waiting for one task ended: :class:`Completed` or :class:`Failed`.  Both have
#: ``handle``, ``task_id``, ``ok``, ``task``, ``error`` and ``unwrap()``; checking
#: ``outcome.ok`` narrows the type, so ``outcome.task`` is the record where it is true.
Outcome: TypeAlias = Completed[R] | Failed
