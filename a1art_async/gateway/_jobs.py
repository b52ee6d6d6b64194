"""
One handle for every generation, whatever its model does, and the scheduler's seam.

:class:`Generation` is the engine's job handle (``_engine/_handles.py``) in the
gateway's words.  When the generation request's answer carried the images (a
synchronous model), the handle is made done with that answer (``JobHandle(...,
result=task)``): ``await generation.result()`` returns at once, without a request and
without the scheduler.  When the answer carried a task id, waiting polls
``GET /api/v1/tasks/{task_id}`` through the client's scheduler, shared with every other
waiter.  :class:`TaskPoller` says how to poll and what a task's state means.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Final, TypeAlias
from urllib.parse import quote

from .._engine._errors import TaskFailedError, ValidationError
from .._engine._handles import (
    Completed,
    Failed,
    JobHandle,
    JobStatus,
    Waiting,
    decode_token,
    encode_token,
)
from .._engine._retry import RequestKind
from .._engine._session import Session
from ._config import API_PREFIX
from ._errors import NoImageError
from ._models import Result, Task
from ._results import read_task

#: The token format's version; :meth:`Generation.from_token` refuses any other.
TOKEN_VERSION: Final = 1
_API_NAME: Final = "gateway"

#: How waiting for one generation ended: :class:`Completed` (``task`` is the finished
#: :class:`Task`, ``task.result`` its images) or :class:`Failed`.  ``outcome.ok``
#: narrows it.
Outcome: TypeAlias = Completed[Task] | Failed


class Generation(JobHandle[Task]):
    """
    A generation: its id, its model, and what the service last said about it.

    Get one from ``client.images.submit(model, ...)``, ``client.tasks.track(task_id)``
    or ``client.tasks.resume(token)``.  For a synchronous model it is :attr:`done` as
    soon as it is returned; otherwise only waiting polls (``await
    generation.result()``, ``client.tasks.as_completed``, ``generation.events()``).

    Attributes:
        task_id: The task's id, or a local ``sync-...`` id for a synchronous answer
            that named none.
        model: The model (``None`` for a task tracked by id alone).
    """

    __slots__ = ("model",)

    def __init__(
        self,
        waiting: Waiting[Task],
        task_id: str,
        *,
        model: str | None = None,
        submitted_at: dt.datetime | None = None,
        answer: Task | None = None,
    ) -> None:
        super().__init__(waiting, task_id, route=model, submitted_at=submitted_at, result=answer)
        self.model = model

    def __repr__(self) -> str:
        where = "answered" if self.synchronous else (self.state or "submitted")
        return f"<Generation {self.model or '?'} {self.task_id} {where}>"

    @property
    def synchronous(self) -> bool:
        """
        Whether the generation request answered with the images (no task to poll).
        """
        task = self.latest
        return task is not None and task.synchronous

    @property
    def task(self) -> Task | None:
        """
        What the service last said: the synchronous answer, or the latest poll; ``None``
        before any poll answered.
        """
        return self.latest

    @property
    def state(self) -> str | None:
        """
        The state word of the latest answer, as the service spelled it.
        """
        task = self.latest
        return None if task is None else task.state

    async def result(self, *, timeout: float | None = None) -> Result:  # noqa: ASYNC109
        """
        The images: at once for a synchronous answer (or a task seen finished), else
        after waiting for the task through the client's scheduler (the client must be
        open as ``async with``).

        Args:
            timeout: Give up waiting after this many seconds; the policy's ``deadline``
                when ``None``.  The task goes on.

        Raises:
            NoImageError: It finished, but its answer holds no image.
            TaskFailedError: It failed (or was canceled, or the service forgot it).
            UnknownStateError: Its state is one no usual spelling covers.
            TaskTimeoutError: It did not finish in time.
            APIError: A poll was refused for good (an unknown task id: 400).
            RuntimeError: Waiting is needed and the client is not open.
        """
        task = self.latest
        if task is None or not self.done:
            task = await self.wait(timeout=timeout)
        else:
            poller = self._waiting.poller
            if poller.status(task) is JobStatus.FAILED:
                raise poller.failure(self, task)
        if task.result is None:  # pragma: no cover - the poller fails such a task
            raise NoImageError(task)
        return task.result

    def to_token(self) -> str:
        """
        A small versioned JSON string from which ``client.tasks.resume`` rebuilds this
        handle, in this process or another: the task id, the model and the submission
        time; no key, nothing secret.

        Raises:
            ValidationError: A synchronous answer: there is no task to resume (its
                images came with it).
        """
        if self.synchronous:
            raise ValidationError(
                "generation", "a synchronous answer has no task to resume: it is the result"
            )
        body: dict[str, Any] = {
            "v": TOKEN_VERSION,
            "api": _API_NAME,
            "task_id": self.task_id,
            "model": self.model,
            "submitted_at": round(self.submitted_wall, 3),
        }
        return encode_token(body)

    @classmethod
    def from_token(cls, waiting: Waiting[Task], token: str) -> Generation:
        """
        Rebuild a handle from :meth:`to_token`'s string, waiting through *waiting* (a
        client's scheduler).

        Raises:
            ValidationError: The string is not a gateway token of a version this SDK
                reads.
        """
        body = decode_token(token, TOKEN_VERSION)
        if body.get("api") != _API_NAME:
            raise ValidationError("token", "not a gateway task token")
        at = body.get("submitted_at")
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            raise ValidationError("token", "submitted_at must be a number of seconds")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise ValidationError("token", "model must be a string or null")
        return cls(
            waiting,
            body.get("task_id"),  # type: ignore[arg-type]  # checked by JobHandle
            model=model,
            submitted_at=dt.datetime.fromtimestamp(at, dt.UTC),
        )


async def get_task(session: Session, task_id: str, model: str | None) -> Task:
    """
    ``GET /api/v1/tasks/{task_id}``, read in whatever shape its vendor gave.

    Raises:
        UnknownStateError: The answer says no state any usual spelling covers.
    """
    data = await session.request(
        RequestKind.QUERY, "GET", f"{API_PREFIX}/tasks/{quote(task_id, safe='')}"
    )
    return read_task(data, task_id=task_id, model=model)


class TaskPoller:
    """
    The gateway's side of the scheduler: a poll is ``GET /api/v1/tasks/{task_id}``; a
    task that succeeded without any image it can find ends failed (:class:`NoImageError`).
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    async def fetch(self, handle: JobHandle[Task]) -> Task:
        return await get_task(self._session, handle.task_id, handle.route)

    def status(self, result: Task) -> JobStatus:
        if result.status is JobStatus.SUCCEEDED and result.result is None:
            return JobStatus.FAILED
        return result.status

    def state(self, result: Task) -> str | None:
        return result.state

    def failure(self, handle: JobHandle[Task], result: Task) -> Exception:
        if result.status is JobStatus.SUCCEEDED:
            return NoImageError(result)
        reason = f"the service says {result.state or 'failed'}"
        if result.state is not None and result.state.strip().upper() == "UNKNOWN":
            reason += " (it does not know the task: it never existed, or it expired)"
        details = ": ".join(part for part in (result.error_code, result.error_message) if part)
        return TaskFailedError(
            result, task_id=handle.task_id, reason=reason + (f": {details}" if details else "")
        )
