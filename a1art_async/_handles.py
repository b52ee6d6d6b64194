"""
a1.art task handles: a submitted generate or enhance, what its latest poll saw, and a
way to wait.

:class:`TaskHandle` is the engine's job handle (``_engine/_handles.py``) in a1.art's
words: the route is the region, the hint is the app's ``processTime``, and the record is
a :class:`~a1art_async.Task`.  Its identity travels between processes as a small
versioned JSON token (:meth:`TaskHandle.to_token`, ``client.tasks.resume(token)``).
:data:`Outcome` is what ``as_completed`` yields: a :class:`Completed` with the finished
task, or a :class:`Failed` with the error that ended the wait.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Final, Literal, TypeAlias

from ._config import API_ORIGINS, Region
from ._engine._handles import Completed, Failed, JobHandle, Waiting, decode_token, encode_token
from ._exceptions import ValidationError
from ._models import Task, TaskState

TaskKind = Literal["generate", "enhance"]

#: The token format's version; :meth:`TaskHandle.from_token` refuses any other.
TOKEN_VERSION: Final = 1
_KINDS: Final = ("generate", "enhance")

#: How waiting for one task ended: :class:`Completed` (``task`` is the finished
#: :class:`~a1art_async.Task`) or :class:`Failed`.  Checking ``outcome.ok`` narrows it.
Outcome: TypeAlias = Completed[Task] | Failed


class TaskHandle(JobHandle[Task]):
    """
    A generate or enhance task: its id, where and when it was submitted, and its state.

    Get one from ``client.images.submit(...)``, ``client.images.submit_enhance(...)``,
    ``client.tasks.track(task_id)`` or ``client.tasks.resume(token)``.  Only waiting polls:
    ``await handle.result()``, ``client.tasks.wait(handle)``, ``as_completed`` or
    ``handle.events()``; while somebody waits, every poll updates :attr:`state`.

    Attributes:
        task_id: The ``taskId`` the API returned.
        kind: ``"generate"`` or ``"enhance"``.
        app_id: The app that generates it (``None`` for an enhance or an unknown app).
    """

    __slots__ = ("app_id", "kind")

    def __init__(
        self,
        waiting: Waiting[Task],
        task_id: str,
        *,
        kind: TaskKind = "generate",
        region: Region = "global",
        app_id: str | None = None,
        submitted_at: dt.datetime | None = None,
        process_time: float | None = None,
    ) -> None:
        if kind not in _KINDS:
            raise ValidationError("kind", f"must be one of {', '.join(_KINDS)} (got {kind!r})")
        if region not in API_ORIGINS:
            raise ValidationError("region", f"must be one of {', '.join(API_ORIGINS)}")
        super().__init__(
            waiting,
            task_id,
            route=region,
            hint=process_time,
            # Tasks of one app take alike (enhances too): the scheduler learns each.
            family=app_id if kind == "generate" else "enhance",
            submitted_at=submitted_at,
        )
        self.kind: TaskKind = kind
        self.app_id = app_id

    def __repr__(self) -> str:
        return f"<TaskHandle {self.kind} {self.task_id} {self.state.name}>"

    @property
    def region(self) -> Region:
        """
        The region whose ``section`` header task queries carry.
        """
        return "cn" if self.route == "cn" else "global"

    @property
    def process_time(self) -> float | None:
        """
        The app's ``processTime`` when it was submitted, in seconds: the scheduler's
        hint for when to poll first.
        """
        return self.hint

    @property
    def submitted_at(self) -> dt.datetime:
        """
        When the task was submitted (UTC); for a bare task id, when it was first tracked.
        """
        return dt.datetime.fromtimestamp(self.submitted_wall, dt.UTC)

    @property
    def state(self) -> TaskState:
        """
        The state the latest poll saw; ``SUBMITTED`` before any poll answered (the task
        exists: its id came back from the submission).
        """
        task = self.latest
        return TaskState.SUBMITTED if task is None else task.state

    @property
    def task(self) -> Task | None:
        """
        The task as the latest poll saw it; ``None`` before any poll answered.
        """
        return self.latest

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
        return await self.wait(timeout=timeout)

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
            "submitted_at": round(self.submitted_wall, 3),
        }
        if self.process_time is not None:
            body["process_time"] = self.process_time
        return encode_token(body)

    @classmethod
    def from_token(cls, waiting: Waiting[Task], token: str) -> TaskHandle:
        """
        Rebuild a handle from :meth:`to_token`'s string, waiting through *waiting* (a
        client's scheduler).

        Raises:
            ValidationError: The string is not a token of a version this SDK reads.
        """
        body = decode_token(token, TOKEN_VERSION)
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
            waiting,
            body.get("task_id"),  # type: ignore[arg-type]  # checked by __init__
            kind=body.get("kind"),  # type: ignore[arg-type]
            region=body.get("region"),  # type: ignore[arg-type]
            app_id=app_id,
            submitted_at=dt.datetime.fromtimestamp(at, dt.UTC),
            process_time=process_time,
        )
