"""
Task handles: a submitted task's identity, what its latest poll saw, and a way to wait.

A :class:`TaskHandle` is cheap: waiting for it subscribes to the client's polling
scheduler (see ``_polling.py``) and holding one polls nothing by itself.  Its identity
travels between processes as a small versioned JSON token (:meth:`TaskHandle.to_token`,
``client.tasks.resume(token)``).  :data:`Outcome` is what ``as_completed`` yields: a
:class:`Completed` with the finished task, or a :class:`Failed` with the error that
ended the wait.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn, TypeAlias

import anyio
import attrs

from ._config import API_ORIGINS, Region
from ._exceptions import ValidationError
from ._models import Task, TaskState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from contextlib import AbstractAsyncContextManager

    from ._client import AsyncClient
    from ._events import Event

TaskKind = Literal["generate", "enhance"]

#: The token format's version; :meth:`TaskHandle.from_token` refuses any other.
TOKEN_VERSION: Final = 1
_KINDS: Final = ("generate", "enhance")
#: Tokens are small; anything longer is not one.
_MAX_TOKEN_CHARS: Final = 1024


def loop_time() -> float | None:
    """
    The event loop's clock, or ``None`` when no event loop is running.
    """
    try:
        return anyio.current_time()
    except RuntimeError:  # sniffio.AsyncLibraryNotFoundError: called outside a loop
        return None


class TaskHandle:
    """
    A generate or enhance task: its id, where and when it was submitted, and its state.

    Get one from ``client.images.submit(...)``, ``client.images.submit_enhance(...)``,
    ``client.tasks.track(task_id)`` or ``client.tasks.resume(token)``.  Only waiting polls:
    ``await handle.result()``, ``client.tasks.wait(handle)`` or ``as_completed``; while
    somebody waits, every poll updates :attr:`state`.

    Attributes:
        task_id: The ``taskId`` the API returned.
        kind: ``"generate"`` or ``"enhance"``.
        region: The region whose ``section`` header task queries carry.
        app_id: The app that generates it (``None`` for an enhance or an unknown app).
        process_time: The app's ``processTime`` when it was submitted, in seconds: the
            scheduler's hint for when to poll first.
    """

    __slots__ = (
        "_client",
        "_submitted_clock",
        "_submitted_wall",
        "_task",
        "app_id",
        "kind",
        "process_time",
        "region",
        "task_id",
    )

    def __init__(
        self,
        client: AsyncClient,
        task_id: str,
        *,
        kind: TaskKind = "generate",
        region: Region = "global",
        app_id: str | None = None,
        submitted_at: dt.datetime | None = None,
        process_time: float | None = None,
    ) -> None:
        if not isinstance(task_id, str) or not task_id.strip():
            raise ValidationError("task_id", f"must be a non-empty string (got {task_id!r})")
        if kind not in _KINDS:
            raise ValidationError("kind", f"must be one of {', '.join(_KINDS)} (got {kind!r})")
        if region not in API_ORIGINS:
            raise ValidationError("region", f"must be one of {', '.join(API_ORIGINS)}")
        if process_time is not None and not (
            isinstance(process_time, int | float) and math.isfinite(process_time)
        ):
            raise ValidationError("process_time", f"must be a number (got {process_time!r})")
        self._client = client
        self.task_id = task_id.strip()
        self.kind: TaskKind = kind
        self.region: Region = region
        self.app_id = app_id
        self.process_time = None if process_time is None else float(process_time)
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
        self._task: Task | None = None

    def __repr__(self) -> str:
        return f"<TaskHandle {self.kind} {self.task_id} {self.state.name}>"

    @property
    def submitted_at(self) -> dt.datetime:
        """
        When the task was submitted (UTC); for a bare task id, when it was first tracked.
        """
        return dt.datetime.fromtimestamp(self._submitted_wall, dt.UTC)

    @property
    def state(self) -> TaskState:
        """
        The state the latest poll saw; ``SUBMITTED`` before any poll answered (the task
        exists: its id came back from the submission).
        """
        return TaskState.SUBMITTED if self._task is None else self._task.state

    @property
    def task(self) -> Task | None:
        """
        The task as the latest poll saw it; ``None`` before any poll answered.
        """
        return self._task

    def submitted_clock(self, now: float) -> float:
        """
        When the task was submitted, on the event loop's clock.

        Args:
            now: The loop's current time, used to convert a wall-clock submission time
                (from a token, or a handle made outside the loop).
        """
        if self._submitted_clock is None:
            self._submitted_clock = now - max(0.0, time.time() - self._submitted_wall)
        return self._submitted_clock

    def observe(self, task: Task) -> None:
        """
        Record what a poll saw (called by the scheduler and :meth:`refresh`).
        """
        self._task = task

    async def result(self, *, timeout: float | None = None) -> Task:  # noqa: ASYNC109
        """
        Wait until the task finishes and return it (with its image or video URLs).

        Polls through the client's scheduler, so the client must be open as
        ``async with AsyncClient(...) as client:``.  Cancelling this wait stops polling
        the task unless somebody else waits for it; the server's job is never touched.

        Args:
            timeout: Give up after this many seconds; the policy's ``deadline`` when
                ``None``.

        Raises:
            TaskFailedError: The task ended in state 20.
            TaskTimeoutError: It did not finish in time; it goes on on the server.
            APIError: A poll was answered with a permanent error (e.g. unknown task).
            RuntimeError: The client is not open with ``async with``.
        """
        return await self._client.tasks.wait(self, timeout=timeout)

    def events(
        self, *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """
        Wait for the task and stream what happens to it::

            async with handle.events() as events:
                async for event in events:
                    if event.kind is EventKind.RUNNING:
                        await reply("drawing now...")

        ``SUBMITTED`` (or where the latest poll saw it) first, then ``QUEUED`` and
        ``RUNNING`` as the polls see them, ``RETRYING`` when a poll fails, and last
        ``DONE`` (``event.task`` has the results) or ``FAILED`` (``event.error`` says
        why); then the stream ends.  See ``client.tasks.events`` for several tasks.
        """
        return self._client.tasks.events([self], timeout=timeout)

    async def refresh(self) -> Task:
        """
        Query the task once, now, outside the schedule, and update :attr:`state`.
        """
        task = await self._client.tasks.get(self.task_id, region=self.region)
        self.observe(task)
        return task

    def to_token(self) -> str:
        """
        A small versioned JSON string from which ``client.tasks.resume`` rebuilds this
        handle, in this process or another.

        It holds the task id, kind, region, app id, submission time and processTime hint;
        no API key and nothing else secret.
        """
        body: dict[str, Any] = {
            "v": TOKEN_VERSION,
            "task_id": self.task_id,
            "kind": self.kind,
            "region": self.region,
            "app_id": self.app_id,
            "submitted_at": round(self._submitted_wall, 3),
        }
        if self.process_time is not None:
            body["process_time"] = self.process_time
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_token(cls, client: AsyncClient, token: str) -> TaskHandle:
        """
        Rebuild a handle from :meth:`to_token`'s string, bound to *client*.

        Raises:
            ValidationError: The string is not a token of a version this SDK reads.
        """
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
            raise ValidationError("token", "not a task token")
        try:
            body = json.loads(token)
        except ValueError:
            raise ValidationError("token", "not a task token (not JSON)") from None
        if not isinstance(body, dict):
            raise ValidationError("token", "not a task token (not a JSON object)")
        if body.get("v") != TOKEN_VERSION:
            raise ValidationError(
                "token", f"token version {body.get('v')!r} is not {TOKEN_VERSION}"
            )
        at = body.get("submitted_at")
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            raise ValidationError("token", "submitted_at must be a number of seconds")
        app_id = body.get("app_id")
        if app_id is not None and not isinstance(app_id, str):
            raise ValidationError("token", "app_id must be a string or null")
        process_time = body.get("process_time")
        if isinstance(process_time, bool):
            raise ValidationError("token", "process_time must be a number")
        return cls(
            client,
            body.get("task_id"),  # type: ignore[arg-type]  # checked by __init__
            kind=body.get("kind"),  # type: ignore[arg-type]
            region=body.get("region"),  # type: ignore[arg-type]
            app_id=app_id,
            submitted_at=dt.datetime.fromtimestamp(at, dt.UTC),
            process_time=process_time,
        )


@attrs.frozen
class Completed:
    """
    A wait that ended with the task finished (state 10), as ``as_completed`` yields it.

    ``ok`` is ``True`` as a literal type, so ``outcome.task if outcome.ok else
    outcome.error`` narrows under a type checker (see :data:`Outcome`).

    Attributes:
        handle: The task's handle.
        task: The finished task, with its results.
    """

    handle: TaskHandle
    task: Task

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

    def unwrap(self) -> Task:
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
        error: Why: :class:`TaskFailedError` (state 20), :class:`TaskTimeoutError`, or
            the error a poll was answered with.
    """

    handle: TaskHandle
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


#: How waiting for one task ended: :class:`Completed` or :class:`Failed`.  Both have
#: ``handle``, ``task_id``, ``ok``, ``task``, ``error`` and ``unwrap()``; checking
#: ``outcome.ok`` narrows the type, so ``outcome.task`` is a ``Task`` where it is true.
Outcome: TypeAlias = Completed | Failed
