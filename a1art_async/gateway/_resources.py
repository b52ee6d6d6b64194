"""
The gateway's two endpoints, as ``client.images`` and ``client.tasks``.

A generation request is paid: it is sent again only when the first attempt provably did
nothing (the connection was never made, or the gateway refused it for the rate), and
its read timeout is long, because for a synchronous model the request *is* the
generation (see :class:`Timeouts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import attrs
import httpx

from .._engine._errors import ValidationError
from .._engine._events import Event, EventKind
from .._engine._handles import JobStatus
from .._engine._retry import RequestKind, SpendGuard
from .._engine._scheduler import Scheduler, as_completed
from .._engine._session import Session
from ._config import API_PREFIX
from ._jobs import Generation, Outcome, get_task
from ._models import GenerationRequest, Result, Task
from ._results import read_submission


def _check_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("task_id", f"must be a non-empty string (got {value!r})")
    return value.strip()


@attrs.frozen
class Timeouts:
    """
    How long a generation request may take to answer.

    Attributes:
        base: The client's timeout (connect, write, pool and the queries' read).
        sync: The read timeout of a generation request: a synchronous model answers
            only once the images exist.
        models: Per-model read timeouts, in seconds, instead of ``sync``.
    """

    base: httpx.Timeout
    sync: float
    models: Mapping[str, float] = attrs.field(factory=dict)

    def for_model(self, model: str) -> httpx.Timeout:
        """
        The timeout of a generation request for *model*: the client's, with the long
        read timeout.
        """
        read = self.models.get(model, self.sync)
        base = self.base
        return httpx.Timeout(connect=base.connect, read=read, write=base.write, pool=base.pool)


class Images:
    """
    ``client.images``: generations.
    """

    def __init__(self, session: Session, scheduler: Scheduler[Task], timeouts: Timeouts) -> None:
        self._session = session
        self._scheduler = scheduler
        self._timeouts = timeouts

    async def submit(self, model: str, **params: Any) -> Generation:
        """
        Send a generation request and return its handle, whatever the model does:
        done already when the answer carried the images, else a task to wait for.

        Args:
            model: The model's name; the gateway decides from it whether to answer
                with the images or with a task id.
            **params: The vendor's parameters, sent as given (``prompt``, ``size``,
                ``n``, ``response_format``, Bailian's ``input`` and ``parameters``...).

        Raises:
            ValidationError: An empty model or a parameter that is not JSON; nothing
                was sent.
            GenerationOutcomeUnknown: It may have been charged; it was not resent.
            InvalidParamsError: The gateway refused the parameters; nothing was charged.
            AuthenticationError, RateLimitError: As the gateway says.
        """
        return await self.submit_request(GenerationRequest.of(model, params))

    async def submit_request(
        self, request: GenerationRequest, *, guard: SpendGuard | None = None
    ) -> Generation:
        """
        :meth:`submit` for a request built already; *guard* is told when the paid
        request leaves and when an attempt provably was not charged (a batch's journal).
        """
        session = self._session
        data = await session.request(
            RequestKind.SPEND,
            "POST",
            f"{API_PREFIX}/images/generations",
            json=request.body(),
            spend=request,
            guard=guard,
            timeout=self._timeouts.for_model(request.model),
        )
        answer = read_submission(data, request.model)
        if isinstance(answer, str):
            generation = Generation(self._scheduler, answer, model=request.model)
            session.listeners.emit(Event(EventKind.SUBMITTED, answer))
            return generation
        generation = Generation(self._scheduler, answer.task_id, model=request.model, answer=answer)
        if session.listeners:
            session.listeners.emit(Event(EventKind.SUBMITTED, answer.task_id))
            done = generation.status is JobStatus.SUCCEEDED
            kind = EventKind.DONE if done else EventKind.FAILED
            session.listeners.emit(Event(kind, answer.task_id, task=answer))
        return generation

    async def generate(self, model: str, **params: Any) -> Result:
        """
        :meth:`submit`, then the result: the images of a synchronous model at once, an
        asynchronous model's when its task has finished (the client must be open as
        ``async with`` to wait).

        Raises:
            Whatever :meth:`submit` and :meth:`Generation.result` raise.
        """
        generation = await self.submit(model, **params)
        return await generation.result()


class Tasks:
    """
    ``client.tasks``: task queries, and waiting for tasks.

    Waiting goes through the client's polling scheduler, which runs while the client is
    open as ``async with gateway.AsyncClient(...) as client:``.
    """

    def __init__(self, session: Session, scheduler: Scheduler[Task]) -> None:
        self._session = session
        self._scheduler = scheduler

    async def get(self, task_id: str, *, model: str | None = None) -> Task:
        """
        Query a task once: ``GET /api/v1/tasks/{task_id}``.

        Args:
            task_id: The task's id.
            model: Its model, to note on the result.

        Raises:
            ValidationError: An empty id.
            InvalidParamsError: Not a task of this key (the emulator's answer).
            UnknownStateError: A state no usual spelling covers.
        """
        return await get_task(self._session, _check_id(task_id), model)

    def track(
        self,
        task_id: str,
        *,
        model: str | None = None,
        submitted_at: dt.datetime | None = None,
    ) -> Generation:
        """
        A handle for a task id from elsewhere (stored by a web app, say).

        Args:
            task_id: The task's id.
            model: Its model.
            submitted_at: When it was submitted (timezone-aware); the first poll comes
                no earlier than the policy's ``first_delay`` after it.  Unknown means
                "just now".

        Raises:
            ValidationError: An empty id, or a naive ``submitted_at``.
        """
        return Generation(
            self._scheduler, _check_id(task_id), model=model, submitted_at=submitted_at
        )

    def resume(self, token: str) -> Generation:
        """
        Rebuild a handle from :meth:`Generation.to_token`'s string, in any process.

        Raises:
            ValidationError: Not a gateway token this SDK reads.
        """
        return Generation.from_token(self._scheduler, token)

    async def wait(
        self,
        generation: str | Generation,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a task deadline, not a cancel scope
    ) -> Result:
        """
        Wait until a task finishes and return its images.

        Args:
            generation: A handle, or a task id (taken as submitted just now).
            timeout: Give up after this many seconds; the policy's ``deadline`` when
                ``None``.  The task goes on.

        Raises:
            As :meth:`Generation.result`.
        """
        handle = generation if isinstance(generation, Generation) else self.track(generation)
        return await handle.result(timeout=timeout)

    def as_completed(
        self, generations: Iterable[str | Generation], *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[Outcome]]:
        """
        Outcomes of many generations, in the order they finish (synchronous answers
        first: they are done already)::

            async with client.tasks.as_completed(generations) as results:
                async for outcome in results:
                    print(outcome.task_id, outcome.task.result if outcome.ok else outcome.error)

        Raises:
            RuntimeError: On entering, if the client is not open with ``async with``.
        """
        handles = [g if isinstance(g, Generation) else self.track(g) for g in generations]
        return as_completed(self._scheduler, handles, timeout=timeout)

    def events(
        self, generations: Iterable[str | Generation], *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """
        Wait for many generations and stream what happens to them: where each stands
        now, each state change the polls see, each failed poll (``RETRYING``), and one
        ``DONE`` or ``FAILED`` per generation.

        Raises:
            RuntimeError: On entering, if the client is not open with ``async with``.
        """
        handles = [g if isinstance(g, Generation) else self.track(g) for g in generations]
        return self._scheduler.events(handles, timeout=timeout)
