"""
The API's five endpoints, grouped as ``client.apps``, ``client.images`` and
``client.tasks``.  Each method checks its input first, then makes one request through the
session's request path, then reads the answer into a model.

:class:`TaskPoller` is a1.art's side of the scheduler's seam: how to poll a task and
what its state means.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, Final
from urllib.parse import quote

import cattrs

from ._config import MAX_ENHANCE_SIDE, Region
from ._converter import structure, structure_task, unstructure
from ._engine._events import Event, EventKind
from ._engine._handles import JobHandle, JobStatus
from ._engine._retry import RequestKind, SpendGuard
from ._engine._scheduler import Scheduler, as_completed
from ._engine._session import Session
from ._exceptions import (
    GenerationOutcomeUnknown,
    TaskFailedError,
    UnexpectedResponseError,
    ValidationError,
)
from ._handles import Outcome, TaskHandle, TaskKind
from ._image_input import ImageSource, LocalImage, read_image
from ._models import App, EnhanceRequest, GenerateRequest, Language, Task, TaskState, Upload


def _check_id(field: str, value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, f"must be a non-empty string (got {value!r})")
    return value.strip()


def _read(what: str, read: Any, *args: Any) -> Any:
    """
    Read wire data into a model; a malformed body becomes UnexpectedResponseError.
    """
    try:
        return read(*args)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as error:
        reason = f"the {what} in the response does not have the documented shape"
        if isinstance(error, cattrs.BaseValidationError):
            # Which fields, e.g. "invalid value for type, expected TaskState @ $.state".
            reason += ": " + "; ".join(cattrs.transform_error(error)[:3])
        raise UnexpectedResponseError(reason, status=200) from error


def _field(data: Any, name: str, what: str) -> Any:
    if not isinstance(data, dict) or name not in data:
        raise UnexpectedResponseError(f"the response has no {what}", status=200)
    return data[name]


class Apps:
    """
    ``client.apps``: app details.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    async def get(self, app_id: str, *, language: str | Language | None = None) -> App:
        """
        Fetch an app's details: its forms, styles, current ``versionId`` and cost.

        Args:
            app_id: The app's id.
            language: One of the 13 documented languages (e.g. ``"en_US"``); the app's
                published language when left out.

        Raises:
            ValidationError: Empty id or unsupported language.
            AppNotFoundError, AppNotAPIEnabledError, AppNotOwnedError: As the API says.
        """
        app_id = _check_id("app_id", app_id)
        params = {} if language is None else {"language": Language.parse(language).value}
        data = await self._session.request(
            RequestKind.QUERY, "GET", f"/apps/{quote(app_id, safe='')}", params=params
        )
        return _read("app", structure, _field(data, "appInfo", "appInfo"), App)  # type: ignore[no-any-return]


class Images:
    """
    ``client.images``: uploads, generation and enhancement.
    """

    def __init__(self, session: Session, scheduler: Scheduler[Task], region: Region) -> None:
        self._session = session
        self._scheduler = scheduler
        self._region: Region = region

    async def upload(self, image: ImageSource) -> Upload:
        """
        Store an image with a1.art, for use in generate and enhance.

        Args:
            image: A path, bytes, a binary file object, or an http(s) URL for the server
                to fetch.  Local images are checked first: PNG or JPEG by content, at
                most 10 MB.

        Raises:
            ValidationError: The image would be rejected; nothing was sent.
            FileError: The server rejected the file (its typed subclass).
        """
        source = await read_image(image)
        if isinstance(source, LocalImage):
            files: Any = {"file": (source.filename, source.data, source.content_type)}
        else:
            files = {"imageUrl": (None, source.url)}
        data = await self._session.request(
            RequestKind.UPLOAD, "POST", "/images/upload", files=files
        )
        upload: Upload = _read("upload", structure, data, Upload)
        if isinstance(source, LocalImage):
            return Upload(upload.image_url, upload.path, width=source.width, height=source.height)
        return upload

    async def generate(self, request: GenerateRequest) -> str:
        """
        Submit a generation, exactly as documented, and return its task id.

        Spends credits.  The request is sent again only if the first attempt provably
        never reached the server or was turned away by the rate limiter.

        Raises:
            GenerationOutcomeUnknown: It may have been charged; it was not resent.
            AppVersionOutdatedError: The app was republished; refetch it.
            BalanceInsufficientError, QuantityError, InvalidParamsError: As the API says.
        """
        return await self._generate(request)

    async def _generate(self, request: GenerateRequest, guard: SpendGuard | None = None) -> str:
        if not isinstance(request, GenerateRequest):
            raise ValidationError("request", "expected a GenerateRequest")
        data = await self._session.request(
            RequestKind.SPEND,
            "POST",
            "/images/generate",
            json=unstructure(request),
            spend=request,
            guard=guard,
        )
        return _task_id(data, request)

    async def enhance(self, image: Upload | ImageSource) -> str:
        """
        Submit an enhance ("fine drawing", 3 credits) and return its task id.

        Args:
            image: An :class:`Upload`, or any image :meth:`upload` takes (uploaded first).
                Images over 2048x2048 are refused before anything is sent.

        Raises:
            ValidationError: The image is too large or otherwise unusable.
            GenerationOutcomeUnknown: It may have been charged; it was not resent.
        """
        upload = image if isinstance(image, Upload) else None
        if upload is None:
            source = await read_image(image)  # type: ignore[arg-type]
            if isinstance(source, LocalImage):
                _check_enhance_size(source.width, source.height)
            upload = await self.upload(
                source.data if isinstance(source, LocalImage) else source.url
            )
        _check_enhance_size(upload.width, upload.height)
        request = EnhanceRequest.from_upload(upload)
        data = await self._session.request(
            RequestKind.SPEND,
            "POST",
            "/images/optimize",
            json=unstructure(request),
            spend=request,
        )
        return _task_id(data, request)

    async def submit(self, request: GenerateRequest, *, app: App | None = None) -> TaskHandle:
        """
        Submit a generation, as :meth:`generate` does, and return a handle to wait on.

        Args:
            request: The generate request.
            app: The request's app, as ``client.apps.get`` returned it: its
                ``processTime`` tells the scheduler when the first poll is worth making.

        Raises:
            ValidationError: *app* is not the request's app.
            GenerationOutcomeUnknown: It may have been charged; it was not resent.
            AppVersionOutdatedError: The app was republished; refetch it.
        """
        return await self._submit(request, app=app)

    async def _submit(
        self, request: GenerateRequest, *, app: App | None = None, guard: SpendGuard | None = None
    ) -> TaskHandle:
        if app is not None and app.id != request.app_id:
            raise ValidationError("app", f"is app {app.id}, the request is for {request.app_id}")
        task_id = await self._generate(request, guard)
        handle = TaskHandle(
            self._scheduler,
            task_id,
            kind="generate",
            region=self._region,
            app_id=request.app_id,
            process_time=None if app is None else app.process_time,
        )
        self._session.listeners.emit(Event(EventKind.SUBMITTED, task_id))
        return handle

    async def submit_enhance(self, image: Upload | ImageSource) -> TaskHandle:
        """
        Submit an enhance, as :meth:`enhance` does, and return a handle to wait on.

        Raises:
            ValidationError: The image is too large or otherwise unusable.
            GenerationOutcomeUnknown: It may have been charged; it was not resent.
        """
        task_id = await self.enhance(image)
        handle = TaskHandle(self._scheduler, task_id, kind="enhance", region=self._region)
        self._session.listeners.emit(Event(EventKind.SUBMITTED, task_id))
        return handle


def _check_enhance_size(width: int | None, height: int | None) -> None:
    if width is None or height is None:
        return  # uploaded by URL: only the server knows
    if width > MAX_ENHANCE_SIDE or height > MAX_ENHANCE_SIDE:
        raise ValidationError(
            "image",
            f"{width}x{height} is larger than the {MAX_ENHANCE_SIDE}x{MAX_ENHANCE_SIDE} "
            "that enhance accepts",
        )


def _task_id(data: Any, request: GenerateRequest | EnhanceRequest) -> str:
    try:
        task_id = _field(data, "taskId", "taskId")
        if not isinstance(task_id, str | int) or isinstance(task_id, bool) or not str(task_id):
            raise UnexpectedResponseError("the taskId in the response is not a string", status=200)
    except UnexpectedResponseError as error:
        # The server answered "success": credits were spent on a task we cannot name.
        raise GenerationOutcomeUnknown(request, error) from error
    return str(task_id)


class Tasks:
    """
    ``client.tasks``: task status, and waiting for tasks to finish.

    Waiting goes through the client's polling scheduler, which runs while the client is
    open as ``async with AsyncClient(...) as client:``; see :class:`PollPolicy`.
    """

    def __init__(self, session: Session, scheduler: Scheduler[Task], region: Region) -> None:
        self._session = session
        self._scheduler = scheduler
        self._region: Region = region

    async def get(self, task_id: str, *, region: Region | None = None) -> Task:
        """
        Query a task once.  The docs advise waiting 5 s after submitting before the
        first query.

        Args:
            task_id: The task's id.
            region: The region of the task's results; the client's when ``None``
                (``"cn"`` sends the ``section: cn`` header).

        Raises:
            ValidationError: Empty task id.
            InvalidParamsError: Not a task of this key (the emulator's answer).
        """
        return await get_task(self._session, _check_id("task_id", task_id), region or self._region)

    def track(
        self,
        task_id: str,
        *,
        kind: TaskKind = "generate",
        app: App | None = None,
        submitted_at: dt.datetime | None = None,
        region: Region | None = None,
    ) -> TaskHandle:
        """
        A handle for a task id from elsewhere (e.g. stored by a web app).

        Args:
            task_id: The task's id.
            kind: ``"generate"`` or ``"enhance"``.
            app: The app that generates it; its ``processTime`` times the first poll.
            submitted_at: When it was submitted (timezone-aware); the first poll comes
                no earlier than 5 s after it.  Unknown means "just now".
            region: The region of its results; the client's when ``None``.

        Raises:
            ValidationError: An empty id or an unknown kind or region.
        """
        return TaskHandle(
            self._scheduler,
            _check_id("task_id", task_id),
            kind=kind,
            region=region or self._region,
            app_id=None if app is None else app.id,
            submitted_at=submitted_at,
            process_time=None if app is None else app.process_time,
        )

    def resume(self, token: str) -> TaskHandle:
        """
        Rebuild a handle from :meth:`TaskHandle.to_token`'s string, in any process.

        Raises:
            ValidationError: Not a token this SDK reads.
        """
        return TaskHandle.from_token(self._scheduler, token)

    async def wait(
        self,
        task: str | TaskHandle,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a task deadline, not a cancel scope
    ) -> Task:
        """
        Wait until a task finishes and return it (with its image or video URLs).

        Waiters on the same task share its polls; cancelling this wait stops polling the
        task only if nobody else waits for it.  The server's job is never touched.

        Args:
            task: A task id (taken as submitted just now) or a handle.
            timeout: Give up after this many seconds; the policy's ``deadline`` when
                ``None``.

        Raises:
            TaskFailedError: The task ended in state 20.
            TaskTimeoutError: It did not finish in time; it goes on on the server.
            APIError: A poll was answered with a permanent error (e.g. unknown task).
            RuntimeError: The client is not open with ``async with``.
        """
        handle = task if isinstance(task, TaskHandle) else self.track(task)
        return await self._scheduler.wait(handle, timeout=timeout)

    def as_completed(
        self, tasks: Iterable[str | TaskHandle], *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[Outcome]]:
        """
        Outcomes of many tasks, in the order they finish::

            async with client.tasks.as_completed(handles) as results:
                async for outcome in results:
                    ...

        Each distinct task yields exactly one :class:`Outcome`, success or failure; a
        failed or timed-out task does not end the stream.  Waiting costs no coroutine
        per task; leaving the block stops polling whatever has not finished.

        Args:
            tasks: Handles, or task ids (taken as submitted just now).
            timeout: Seconds each task may take from now; the policy's ``deadline``
                when ``None``.

        Raises:
            RuntimeError: On entering, if the client is not open with ``async with``.
        """
        handles = [task if isinstance(task, TaskHandle) else self.track(task) for task in tasks]
        return as_completed(self._scheduler, handles, timeout=timeout)

    def events(
        self, tasks: Iterable[str | TaskHandle], *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """
        Wait for many tasks and stream what happens to them, as it happens::

            async with client.tasks.events(handles) as events:
                async for event in events:
                    print(event.task_id, event.kind)   # submitted, queued, running, ...

        First where each task stands now (``SUBMITTED`` before any poll), then each
        state change the polls see (``QUEUED``, ``RUNNING``) and each failed poll
        (``RETRYING``, with the error), and last one ``DONE`` (with the task) or
        ``FAILED`` (with the error: the task failed, a poll was refused, or the wait
        passed its deadline) per task; then the stream ends.  Polls are shared with any
        other waiter, as for :meth:`as_completed`.

        Args:
            tasks: Handles, or task ids (taken as submitted just now).
            timeout: Seconds each task may take from now; the policy's ``deadline``
                when ``None``.

        Raises:
            RuntimeError: On entering, if the client is not open with ``async with``.
        """
        handles = [task if isinstance(task, TaskHandle) else self.track(task) for task in tasks]
        return self._scheduler.events(handles, timeout=timeout)


#: The scheduler's view of a task's state.
_STATUS: Final = {
    TaskState.SUBMITTED: JobStatus.QUEUED,
    TaskState.RUNNING: JobStatus.RUNNING,
    TaskState.COMPLETED: JobStatus.SUCCEEDED,
    TaskState.FAILED: JobStatus.FAILED,
}


async def get_task(session: Session, task_id: str, region: Region) -> Task:
    """
    ``GET /tasks/{taskId}``, with ``section: cn`` for the China region.
    """
    headers = {"section": "cn"} if region == "cn" else None
    data = await session.request(
        RequestKind.QUERY, "GET", f"/tasks/{quote(task_id, safe='')}", headers=headers
    )
    task: Task = _read("task", structure_task, data, task_id)
    return task.bind(session)


class TaskPoller:
    """
    a1.art's side of the scheduler: a poll is ``GET /tasks/{taskId}`` (with the task's
    region), and states 10 and 20 are final.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    async def fetch(self, handle: JobHandle[Task]) -> Task:
        # The id was checked when the handle was made; the route is its region.
        return await get_task(
            self._session, handle.task_id, "cn" if handle.route == "cn" else "global"
        )

    def status(self, result: Task) -> JobStatus:
        return _STATUS[result.state]

    def state(self, result: Task) -> TaskState:
        return result.state

    def failure(self, handle: JobHandle[Task], result: Task) -> Exception:
        return TaskFailedError(result)
