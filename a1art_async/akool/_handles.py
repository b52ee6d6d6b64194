"""
akool image handles: a created or pressed image, what its latest poll saw, and a way to
wait.

:class:`ImageHandle` is the engine's job handle in akool's words: the job id is the
image's ``_id`` and the record is an :class:`~a1art_async.akool.Image`.  Its identity
travels between processes as a small versioned JSON token (:meth:`ImageHandle.to_token`,
``client.images.resume(token)``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Final, Literal, TypeAlias

from .._engine._errors import ValidationError
from .._engine._handles import Completed, Failed, JobHandle, Waiting, decode_token, encode_token
from ._models import Image, ImageStatus

ImageKind = Literal["prompt", "button"]

#: The token format's version; :meth:`ImageHandle.from_token` refuses any other.
TOKEN_VERSION: Final = 1
_KINDS: Final = ("prompt", "button")

#: How waiting for one image ended: :class:`Completed` (``task`` is the finished
#: :class:`Image`) or :class:`Failed`.  Checking ``outcome.ok`` narrows it.
Outcome: TypeAlias = Completed[Image] | Failed


class ImageHandle(JobHandle[Image]):
    """
    An image being made: its id, when it was submitted, and its latest record.

    Get one from ``client.images.create(...)``, ``client.images.press(...)``,
    ``client.images.track(image_id)`` or ``client.images.resume(token)``.  Only waiting
    polls: ``await handle.result()``, ``client.images.wait``, ``as_completed`` or
    ``handle.events()``.

    Attributes:
        task_id: The image's ``_id`` (also :attr:`image_id`).
        kind: ``"prompt"`` (``createbyprompt``) or ``"button"`` (``createbybutton``).
        parent_id: For a press, the image the button was pressed on.
        button: For a press, the button.
    """

    __slots__ = ("button", "kind", "parent_id")

    def __init__(
        self,
        waiting: Waiting[Image],
        image_id: str,
        *,
        kind: ImageKind = "prompt",
        parent_id: str | None = None,
        button: str | None = None,
        submitted_at: dt.datetime | None = None,
        record: Image | None = None,
    ) -> None:
        if kind not in _KINDS:
            raise ValidationError("kind", f"must be one of {', '.join(_KINDS)} (got {kind!r})")
        super().__init__(waiting, image_id, submitted_at=submitted_at)
        self.kind: ImageKind = kind
        self.parent_id = parent_id
        self.button = button
        if record is not None:
            self.observe(record)

    def __repr__(self) -> str:
        return f"<ImageHandle {self.kind} {self.task_id} {self.state.name}>"

    @property
    def image_id(self) -> str:
        """
        The image's ``_id``.
        """
        return self.task_id

    @property
    def submitted_at(self) -> dt.datetime:
        """
        When it was submitted (UTC); for a bare id, when it was first tracked.
        """
        return dt.datetime.fromtimestamp(self.submitted_wall, dt.UTC)

    @property
    def state(self) -> ImageStatus:
        """
        The status the latest record says; ``QUEUEING`` before any.
        """
        image = self.latest
        return ImageStatus.QUEUEING if image is None else image.status

    @property
    def image(self) -> Image | None:
        """
        The latest record; ``None`` before any.
        """
        return self.latest

    async def result(self, *, timeout: float | None = None) -> Image:  # noqa: ASYNC109
        """
        Wait until the image completes and return it (``image`` is its URL).

        Polls through the client's scheduler (a webhook, when configured, makes it poll
        at once), so the client must be open as ``async with``.

        Raises:
            ImageFailedError: It ended with status 4.
            TaskTimeoutError: It did not end in time; it goes on at akool.
            UnknownStatusError: A poll saw a status outside 1-4.
            APIError: A poll was refused for good (an unknown image, say).
        """
        return await self.wait(timeout=timeout)

    def to_token(self) -> str:
        """
        A small versioned JSON string from which ``client.images.resume`` rebuilds this
        handle in any process; no key and nothing else secret.
        """
        body: dict[str, Any] = {
            "v": TOKEN_VERSION,
            "api": "akool",
            "image_id": self.task_id,
            "kind": self.kind,
            "submitted_at": round(self.submitted_wall, 3),
        }
        if self.parent_id is not None:
            body["parent_id"] = self.parent_id
            body["button"] = self.button
        return encode_token(body)

    @classmethod
    def from_token(cls, waiting: Waiting[Image], token: str) -> ImageHandle:
        """
        Rebuild a handle from :meth:`to_token`'s string.

        Raises:
            ValidationError: Not an akool image token of a version this SDK reads.
        """
        body = decode_token(token, TOKEN_VERSION)
        if body.get("api") != "akool":
            raise ValidationError("token", "not an akool image token")
        at = body.get("submitted_at")
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            raise ValidationError("token", "submitted_at must be a number of seconds")
        parent, button = body.get("parent_id"), body.get("button")
        if not isinstance(parent, str | None) or not isinstance(button, str | None):
            raise ValidationError("token", "parent_id and button must be strings")
        return cls(
            waiting,
            body.get("image_id"),  # type: ignore[arg-type]  # checked by JobHandle
            kind=body.get("kind"),  # type: ignore[arg-type]
            parent_id=parent,
            button=button,
            submitted_at=dt.datetime.fromtimestamp(at, dt.UTC),
        )
