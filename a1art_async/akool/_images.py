"""
``client.images``: create, press, get, wait; and :class:`ImagePoller`, akool's side of
the scheduler's seam.

Each method checks its input first, then makes one request through the session's
request path.  ``createbyprompt`` and ``createbybutton`` spend credits and take no
idempotency key: the session sends them again only when the first attempt provably did
not arrive (never connected, or refused for the rate), and otherwise raises
:class:`ImageOutcomeUnknown` carrying the request.  For a press the client then settles
what it can: one query of the parent image tells whether its ``used_buttons`` gained the
button (the press arrived).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Final

from .._engine._cost import CostEstimate
from .._engine._download import download
from .._engine._errors import A1ArtError, UnexpectedResponseError, ValidationError
from .._engine._events import Event, EventKind
from .._engine._handles import JobHandle, JobStatus
from .._engine._retry import RequestKind, SpendGuard
from .._engine._scheduler import Scheduler, as_completed
from .._engine._session import Session
from ._config import DOCUMENTED_CREDITS
from ._errors import ImageFailedError, ImageOutcomeUnknown, UnknownStatusError
from ._handles import ImageHandle, ImageKind, Outcome
from ._models import (
    CreateRequest,
    Image,
    ImageStatus,
    PressRequest,
    check_image_id,
    check_press,
    image_from_wire,
)

#: The scheduler's view of an image's status.
_STATUS: Final = {
    ImageStatus.QUEUEING: JobStatus.QUEUED,
    ImageStatus.PROCESSING: JobStatus.RUNNING,
    ImageStatus.COMPLETED: JobStatus.SUCCEEDED,
    ImageStatus.FAILED: JobStatus.FAILED,
}


class Seen:
    """
    What this client has seen: the latest record of recent images (to check a press
    against its parent without a request), and the credits answers reported per kind.

    Args:
        size: How many images to remember.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._images: OrderedDict[str, Image] = OrderedDict()
        self._credits: dict[str, tuple[int, int]] = {}

    def note(self, image: Image, kind: ImageKind | None = None) -> Image:
        """
        Remember *image*; for a submission's answer, also the credits it reported.
        """
        self._images[image.id] = image
        self._images.move_to_end(image.id)
        if len(self._images) > self._size:
            self._images.popitem(last=False)
        credit = image.deduction_credit
        if kind is not None and credit is not None and credit >= 0:
            low, high = self._credits.get(kind, (credit, credit))
            self._credits[kind] = (min(low, credit), max(high, credit))
        return image

    def get(self, image_id: str) -> Image | None:
        """
        The latest record of an image, if this client saw one.
        """
        return self._images.get(image_id)

    def estimate(self, kind: ImageKind) -> CostEstimate:
        """
        What one image of *kind* costs: the docs' example (2 credits) widened by every
        ``deduction_credit`` this client has seen answered for that kind.  Budgets
        reserve the top, a bound the docs cannot promise: they publish no price list.
        """
        low, high = self._credits.get(kind, (DOCUMENTED_CREDITS, DOCUMENTED_CREDITS))
        return CostEstimate(min(low, DOCUMENTED_CREDITS), max(high, DOCUMENTED_CREDITS))


async def fetch_image(session: Session, seen: Seen, image_id: str) -> Image:
    """
    ``GET infobymodelid?image_model_id=...``: one query, retried as queries are.
    """
    data = await session.request(
        RequestKind.QUERY, "GET", "/infobymodelid", params={"image_model_id": image_id}
    )
    return seen.note(image_from_wire(data))


class ImagePoller:
    """
    akool's side of the scheduler: a poll is one ``infobymodelid``; statuses 3 and 4
    are final, and any other than 1-4 ends the wait with :class:`UnknownStatusError`.
    """

    def __init__(self, session: Session, seen: Seen) -> None:
        self._session = session
        self._seen = seen

    async def fetch(self, handle: JobHandle[Image]) -> Image:
        return await fetch_image(self._session, self._seen, handle.task_id)

    def status(self, result: Image) -> JobStatus:
        return _STATUS[result.status]

    def state(self, result: Image) -> ImageStatus:
        return result.status

    def failure(self, handle: JobHandle[Image], result: Image) -> Exception:
        return ImageFailedError(result)


class Images:
    """
    ``client.images``: make images from prompts and buttons, read them, wait for them.

    Waiting goes through the client's polling scheduler, which runs while the client is
    open as ``async with``; webhooks (``client.webhooks``) make it poll at once.
    """

    def __init__(
        self,
        session: Session,
        scheduler: Scheduler[Image],
        seen: Seen,
        webhook_url: str | None,
    ) -> None:
        self._session = session
        self._scheduler = scheduler
        self._seen = seen
        self._webhook_url = webhook_url

    # Paid: create and press ----------------------------------------------------------

    async def create(
        self,
        prompt: str,
        *,
        scale: str = "1:1",
        source_image: str | None = None,
        webhook_url: str | None = None,
    ) -> ImageHandle:
        """
        ``createbyprompt``: text to image, or image to image with *source_image*; spends
        credits (``deduction_credit``).  Returns a handle to wait on.

        Args:
            prompt: What to draw; not empty.
            scale: One of ``1:1`` (default), ``4:3``, ``3:4``, ``16:9``, ``9:16``,
                ``3:2``, ``2:3``.
            source_image: An http(s) URL of the picture to start from.
            webhook_url: Where akool posts status changes; the client's default when
                ``None``.

        Raises:
            ValidationError: Bad input; nothing was sent.
            ImageOutcomeUnknown: It may have been charged; it was not resent.
            APIError: akool refused it (its typed subclass).
        """
        request = CreateRequest(
            prompt, scale, source_image, webhook_url if webhook_url else self._webhook_url
        )
        return await self.submit(request)

    async def press(
        self, image: str | Image, button: str, *, webhook_url: str | None = None
    ) -> ImageHandle:
        """
        ``createbybutton``: U1-U4 make a 4K upscale of one of the image's four pictures,
        V1-V4 a variation; spends credits.  Returns a handle to the new image.

        When the client knows the parent (an :class:`Image` passed in, or one this client
        has read), the press is checked against it first: the parent must have completed
        and offer the button.

        Raises:
            ValidationError: Bad input, or a parent that cannot take the button.
            ImageOutcomeUnknown: It may have been charged; not resent.  ``arrived`` is
                ``True`` when the parent's ``used_buttons`` gained the button.
            APIError: akool refused it (its typed subclass).
        """
        image_id = image.id if isinstance(image, Image) else check_image_id(image)
        request = PressRequest(image_id, button, webhook_url if webhook_url else self._webhook_url)
        parent = image if isinstance(image, Image) else self._seen.get(image_id)
        if parent is not None:
            check_press(parent, request.button)
        return await self.submit(request, parent=parent)

    async def submit(
        self,
        request: CreateRequest | PressRequest,
        *,
        parent: Image | None = None,
        guard: SpendGuard | None = None,
    ) -> ImageHandle:
        """
        Send a checked request (what :meth:`create` and :meth:`press` build) and return
        the new image's handle.

        Args:
            request: The request.
            parent: For a press, the parent as last seen, to settle an unknown outcome.
            guard: Told when the paid request leaves and when it provably was not
                charged (a batch journals the job from it).

        Raises:
            ImageOutcomeUnknown: It may have been charged; it was not resent.
        """
        press = isinstance(request, PressRequest)
        path = "/createbybutton" if press else "/createbyprompt"
        try:
            data = await self._session.request(
                RequestKind.SPEND,
                "POST",
                path,
                json=request.to_json(),
                spend=request,
                guard=guard,
            )
        except ImageOutcomeUnknown as unknown:
            if isinstance(request, PressRequest) and parent is not None:
                await self._settle(request, parent, unknown)
            raise
        kind: ImageKind = "button" if press else "prompt"
        handle = self._handle_of(request, kind, data)
        self._session.listeners.emit(Event(EventKind.SUBMITTED, handle.task_id))
        return handle

    def _handle_of(
        self, request: CreateRequest | PressRequest, kind: ImageKind, data: Any
    ) -> ImageHandle:
        record: Image | None = None
        try:
            record = self._seen.note(image_from_wire(data), kind)
        except UnknownStatusError as odd:
            image_id = odd.image_id  # the image exists; its polls will say the rest
        except UnexpectedResponseError as error:
            # "Success" without a usable _id: credits were spent on an image we cannot name.
            raise ImageOutcomeUnknown(request, error) from error
        else:
            image_id = record.id
        parent = request.image_id if isinstance(request, PressRequest) else None
        button = request.button if isinstance(request, PressRequest) else None
        return ImageHandle(
            self._scheduler, image_id, kind=kind, parent_id=parent, button=button, record=record
        )

    async def _settle(
        self, request: PressRequest, parent: Image, unknown: ImageOutcomeUnknown
    ) -> None:
        """
        After a press with no answer: if the parent's ``used_buttons`` gained the button
        since it was last seen, the press arrived.  Otherwise nothing can be told (it may
        still be on its way), and ``arrived`` stays ``None``.
        """
        if request.button in parent.used_buttons:
            return  # pressed before: a gain would not show
        try:
            now = await fetch_image(self._session, self._seen, request.image_id)
        except A1ArtError:
            return
        if request.button in now.used_buttons:
            unknown.arrived = True
            unknown.args = ImageOutcomeUnknown(request, unknown.cause, arrived=True).args

    # Free: read and wait --------------------------------------------------------------

    async def get(self, image_id: str) -> Image:
        """
        ``infobymodelid``: the image's record, once.

        Raises:
            ValidationError: An empty id.
            NotFoundError: No image has this id (1008).
            UnknownStatusError: Its status is outside 1-4.
        """
        return await fetch_image(self._session, self._seen, check_image_id(image_id))

    def estimate(self, kind: ImageKind = "prompt") -> CostEstimate:
        """
        Credits one image of *kind* (``"prompt"`` or ``"button"``) costs: the docs'
        example of 2, widened by what answers to this client reported.
        """
        if kind not in ("prompt", "button"):
            raise ValidationError("kind", f"must be prompt or button (got {kind!r})")
        return self._seen.estimate(kind)

    def track(
        self,
        image_id: str,
        *,
        submitted_at: dt.datetime | None = None,
        kind: ImageKind = "prompt",
    ) -> ImageHandle:
        """
        A handle for an image id from elsewhere (a database, a webhook).

        Args:
            image_id: The image's ``_id``.
            submitted_at: When it was submitted (timezone-aware); now when unknown.
            kind: ``"prompt"`` or ``"button"``.
        """
        return ImageHandle(
            self._scheduler, check_image_id(image_id), kind=kind, submitted_at=submitted_at
        )

    def resume(self, token: str) -> ImageHandle:
        """
        Rebuild a handle from :meth:`ImageHandle.to_token`'s string, in any process.

        Raises:
            ValidationError: Not a token this SDK reads.
        """
        return ImageHandle.from_token(self._scheduler, token)

    async def wait(
        self,
        image: str | ImageHandle,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a wait deadline, not a cancel scope
    ) -> Image:
        """
        Wait until an image completes and return it; waiters on one image share its
        polls, and cancelling a wait stops polling only if nobody else waits.

        Raises:
            ImageFailedError: It ended with status 4.
            TaskTimeoutError: It did not end in time; it goes on at akool.
            RuntimeError: The client is not open with ``async with``.
        """
        handle = image if isinstance(image, ImageHandle) else self.track(image)
        return await self._scheduler.wait(handle, timeout=timeout)

    def as_completed(
        self, images: Iterable[str | ImageHandle], *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[Outcome]]:
        """
        Outcomes of many images in the order they end::

            async with client.images.as_completed(handles) as results:
                async for outcome in results:
                    print(outcome.task if outcome.ok else outcome.error)
        """
        handles = [i if isinstance(i, ImageHandle) else self.track(i) for i in images]
        return as_completed(self._scheduler, handles, timeout=timeout)

    def events(
        self, images: Iterable[str | ImageHandle], *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """
        Wait for many images and stream what happens to them (see
        ``a1art_async.AsyncClient.tasks.events``).
        """
        handles = [i if isinstance(i, ImageHandle) else self.track(i) for i in images]
        return self._scheduler.events(handles, timeout=timeout)

    async def download(self, image: Image, directory: str | os.PathLike[str]) -> Path:
        """
        Save a completed image's result into *directory*, atomically, as
        ``<id>.<ext>``; no key goes to the file host.  Results live 7 days (the docs).

        Raises:
            ValidationError: It has not completed, or has no result URL.
            ResultExpiredError: The URL answered 403, 404 or 410.
            DownloadError: The file could not be saved after retries.
        """
        if image.status is not ImageStatus.COMPLETED or not image.image:
            raise ValidationError("image", f"image {image.id} has no result yet ({image.status})")
        return await download(
            self._session.http, image.image, directory, image.id, retry=self._session.retry
        )
