"""
Batches of akool images: ``client.batch(...)``.

::

    async with client.batch(concurrency=8, journal="run.sqlite", download_to="out/") as batch:
        batch.add("a lighthouse at dusk", key="light", scale="16:9")
        batch.press("light", "U2", key="light-u2")      # after "light" is done
        async for outcome in batch:
            ...

The engine (``_engine/_batch.py``) runs the batch: journal, budget, concurrency,
waiting, downloads and events.  This module says what an akool job is: a create (or a
press) checked locally and priced (free), then one paid request.  A press names the key
of the job whose image it presses on; the engine holds it, without a worker slot, until
that job is done, and hands it that job's outcome (its image id, and the image when it
completed in this run; else one free query reads it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from .._engine._batch import Batch as _Batch
from .._engine._batch import BatchOutcome, ResultFile
from .._engine._cost import CostEstimate
from .._engine._errors import ValidationError
from .._engine._journal import JobRecord
from .._engine._retry import SpendGuard
from ._config import BUTTONS
from ._handles import ImageHandle, ImageKind
from ._images import Images
from ._models import CreateRequest, Image, PressRequest, check_press


def derive_key(fields: dict[str, Any]) -> str:
    """
    A stable key for a job from what it asks for.
    """
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def _resume(images: Images, record: JobRecord, kind: ImageKind) -> ImageHandle:
    assert record.task_id is not None
    submitted = record.submitted_at
    return images.track(
        record.task_id,
        kind=kind,
        submitted_at=None if submitted is None else dt.datetime.fromtimestamp(submitted, dt.UTC),
    )


def _files(result: Any) -> Sequence[ResultFile]:
    image: Image = result
    return [ResultFile(url=image.image)] if image.image else []


class CreateJob:
    """
    One ``createbyprompt`` of a batch.
    """

    __slots__ = ("_images", "key", "request")

    def __init__(self, key: str, request: CreateRequest, images: Images) -> None:
        self.key = key
        self.request = request
        self._images = images

    async def check(self) -> CostEstimate:
        return self._images.estimate("prompt")

    async def prepare(self) -> None:
        pass

    async def submit(self, guard: SpendGuard) -> ImageHandle:
        return await self._images.submit(self.request, guard=guard)

    def resume(self, record: JobRecord) -> ImageHandle:
        return _resume(self._images, record, "prompt")

    def files(self, result: Any) -> Sequence[ResultFile]:
        return _files(result)


class PressJob:
    """
    One ``createbybutton`` of a batch, on the image of the job keyed *after*.
    """

    __slots__ = ("_images", "_parent", "_parent_id", "after", "button", "key", "webhook_url")

    def __init__(
        self,
        key: str,
        after: str,
        button: str,
        images: Images,
        *,
        webhook_url: str | None = None,
    ) -> None:
        if not isinstance(after, str) or not after:
            raise ValidationError("press", f"must name an earlier job's key (got {after!r})")
        if button not in BUTTONS:
            raise ValidationError("button", f"must be one of {', '.join(BUTTONS)} (got {button!r})")
        self.key = key
        self.after = after
        self.button = button
        self.webhook_url = webhook_url
        self._images = images
        self._parent_id: str | None = None
        self._parent: Image | None = None

    def follow(self, outcome: BatchOutcome) -> None:
        self._parent_id = outcome.task_id
        self._parent = outcome.task if isinstance(outcome.task, Image) else None

    async def check(self) -> CostEstimate:
        if self._parent_id is None:
            raise ValidationError("press", f"job {self.after} has no image to press on")
        if self._parent is None:
            self._parent = await self._images.get(self._parent_id)  # free
        check_press(self._parent, self.button)
        return self._images.estimate("button")

    async def prepare(self) -> None:
        pass

    async def submit(self, guard: SpendGuard) -> ImageHandle:
        assert self._parent_id is not None
        request = PressRequest(self._parent_id, self.button, self.webhook_url)
        return await self._images.submit(request, parent=self._parent, guard=guard)

    def resume(self, record: JobRecord) -> ImageHandle:
        return _resume(self._images, record, "button")

    def files(self, result: Any) -> Sequence[ResultFile]:
        return _files(result)


class Batch(_Batch):
    """
    A batch of akool images; create it with :meth:`AsyncClient.batch`.
    """

    def __init__(self, *, images: Images, webhook_url: str | None, **engine: Any) -> None:
        super().__init__(**engine)
        self._images = images
        self._webhook_url = webhook_url

    def add(
        self,
        prompt: str,
        *,
        key: str | None = None,
        scale: str = "1:1",
        source_image: str | None = None,
        webhook_url: str | None = None,
    ) -> str:
        """
        Queue one ``createbyprompt``.

        Returns:
            The job's key (derived from the arguments when not given).

        Raises:
            ValidationError: Bad input, or a key used twice in this batch.
        """
        request = CreateRequest(prompt, scale, source_image, webhook_url or self._webhook_url)
        fields = {"prompt": prompt, "scale": scale, "source_image": source_image}
        return self.add_job(CreateJob(key or derive_key(fields), request, self._images))

    def press(
        self,
        after: str,
        button: str,
        *,
        key: str | None = None,
        webhook_url: str | None = None,
    ) -> str:
        """
        Queue one ``createbybutton`` on the image of the job keyed *after*, to run once
        that job is done (it takes no worker slot while it waits).

        Returns:
            The job's key (``<after>-<button>`` when not given).

        Raises:
            ValidationError: A button outside U1-U4/V1-V4, or a key used twice.
        """
        job = PressJob(
            key or f"{after}-{button}",
            after,
            button,
            self._images,
            webhook_url=webhook_url or self._webhook_url,
        )
        return self.add_job(job)
