"""
Batches of gateway generations: ``client.batch(...)``.

::

    async with client.batch(concurrency=8, journal="run.sqlite", download_to="out/") as batch:
        for row in rows:
            batch.add(row.model, key=row.id, prompt=row.prompt)
        async for outcome in batch:      # completion order; each job exactly once
            ...

The engine (``_engine/_batch.py``) runs the batch: journal, budget, concurrency,
waiting, downloads and events.  This module says what a gateway job is: checked and
priced from the client's credit table (free), nothing to prepare, one generation
request (paid).  A synchronous model's answer is the result: the engine journals it
``answered`` with its files (bytes that came inline as ``data:`` URLs) before saving
them.  An asynchronous one's task is picked up again from the journal by id and model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from .._engine._batch import Batch as _Batch
from .._engine._batch import ResultFile
from .._engine._cost import CostEstimate
from .._engine._journal import JobRecord
from .._engine._retry import SpendGuard
from ._jobs import Generation
from ._models import GenerationRequest, Task
from ._pricing import Pricing
from ._resources import Images, Tasks


def derive_key(request: GenerationRequest) -> str:
    """
    A stable key for a job from what it asks for: its model and parameters.
    """
    payload = json.dumps(request.body(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


class GatewayJob:
    """
    One generation of a batch, as the engine runs it.

    Args:
        key: Its key in the journal.
        request: The generation request (checked).
        images: Sends it.
        tasks: Picks its task up again.
        pricing: Prices it.
    """

    __slots__ = ("_images", "_pricing", "_tasks", "key", "request")

    def __init__(
        self,
        key: str,
        request: GenerationRequest,
        *,
        images: Images,
        tasks: Tasks,
        pricing: Pricing,
    ) -> None:
        self.key = key
        self.request = request
        self._images = images
        self._tasks = tasks
        self._pricing = pricing

    async def check(self) -> CostEstimate:
        return self._pricing.estimate(self.request.model)

    async def prepare(self) -> None:
        pass

    async def submit(self, guard: SpendGuard) -> Generation:
        return await self._images.submit_request(self.request, guard=guard)

    def resume(self, record: JobRecord) -> Generation:
        assert record.task_id is not None
        submitted = record.submitted_at
        return self._tasks.track(
            record.task_id,
            model=record.route or self.request.model,
            submitted_at=None
            if submitted is None
            else dt.datetime.fromtimestamp(submitted, dt.UTC),
        )

    def files(self, result: Any) -> Sequence[ResultFile]:
        task: Task = result
        # Bytes that came inline are kept as bytes (a URL may expire before it is saved).
        return [
            ResultFile(data=image.data, content_type=image.content_type)
            if image.data is not None
            else ResultFile(url=image.url)
            for image in task.images
        ]


class Batch(_Batch):
    """
    A batch of generations; create it with :meth:`AsyncClient.batch`.
    """

    def __init__(self, *, images: Images, tasks: Tasks, pricing: Pricing, **engine: Any) -> None:
        super().__init__(**engine)
        self._images = images
        self._tasks = tasks
        self._pricing = pricing

    def job(self, model: str, *, key: str | None = None, **params: Any) -> GatewayJob:
        """
        The job :meth:`add` queues, for callers that add jobs with ``add_job``.

        Raises:
            ValidationError: An empty model or a parameter that is not JSON.
        """
        request = GenerationRequest.of(model, params)
        return GatewayJob(
            key if key is not None else derive_key(request),
            request,
            images=self._images,
            tasks=self._tasks,
            pricing=self._pricing,
        )

    def add(self, model: str, *, key: str | None = None, **params: Any) -> str:
        """
        Queue one generation.

        Args:
            model: The model's name.
            key: The job's key in the journal; derived from the model and parameters if
                left out.
            **params: The vendor's parameters, as for ``client.images.submit``.

        Returns:
            The job's key.

        Raises:
            ValidationError: A key used twice, an empty model, a parameter that is not
                JSON.
            RuntimeError: Outside ``async with``.
        """
        if not self.running:
            raise RuntimeError("add jobs inside `async with client.batch(...) as batch:`")
        return self.add_job(self.job(model, key=key, **params))
