"""
What the gateway's answers mean, typed: a generation request, an image (a URL or bytes),
a finished generation's :class:`Result`, and a :class:`Task` as the service describes it.

The docs leave the shape of ``data`` to each vendor, so every model keeps the raw
``data`` it was read from; ``_results.py`` finds the images, the task id and the state
in the common shapes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx

from .._engine._download import download, save_bytes
from .._engine._errors import ValidationError
from .._engine._handles import JobStatus
from .._engine._retry import RetryPolicy


def _check_params(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for name, value in params.items():
        if name == "model":
            raise ValidationError("model", "give the model once, not also as a parameter")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as error:
            reason = f"must be JSON (text, finite numbers, booleans, None, lists, dicts): {error}"
            raise ValidationError(name, reason) from None
        checked[name] = value
    prompt = checked.get("prompt")
    if "prompt" in checked and (not isinstance(prompt, str) or not prompt.strip()):
        raise ValidationError("prompt", f"must be a non-empty string, got {prompt!r}")
    count = checked.get("n")
    if "n" in checked and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValidationError("n", f"must be a positive integer, got {count!r}")
    return checked


@attrs.frozen
class GenerationRequest:
    """
    One generation request: the documented ``model`` and the vendor's parameters, sent
    as one JSON object.  Build it with :meth:`of`, which checks it.

    Attributes:
        model: The model's name; the gateway decides from it whether the answer is the
            images (synchronous) or a task id.
        params: The vendor's parameters (``prompt``, ``size``, ``n``, Bailian's
            ``input`` and ``parameters``...), passed on as given.
    """

    model: str
    params: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def of(cls, model: str, params: Mapping[str, Any]) -> GenerationRequest:
        """
        A checked request.

        Raises:
            ValidationError: An empty model, a parameter that is not JSON (or not a
                finite number), a blank ``prompt``, an ``n`` below 1; naming the field.
        """
        if not isinstance(model, str) or not model.strip():
            raise ValidationError("model", f"must be a non-empty string, got {model!r}")
        model = model.strip()
        return cls(model, _check_params(model, params))

    def body(self) -> dict[str, Any]:
        """
        The JSON body: ``{"model": ..., **params}``.
        """
        return {"model": self.model, **self.params}


@attrs.frozen
class Image:
    """
    One generated image: a URL to download, bytes that came in the answer (base64), or
    both (an answer that gave both for the same image).

    Attributes:
        url: Where the image is served; such URLs may stop working after a while.
        data: The image's bytes, when the answer carried them.
        content_type: ``image/png``, ``image/jpeg``, ``image/webp`` or ``image/gif``
            when known from the bytes; ``None`` for a URL (the download tells).
    """

    url: str | None = None
    data: bytes | None = attrs.field(default=None, repr=False)
    content_type: str | None = None

    def __repr__(self) -> str:
        if self.data is None:
            return f"Image(url={self.url!r})"
        inline = f"{len(self.data)} bytes {self.content_type or 'of unknown type'}"
        return f"Image({inline}" + (f", url={self.url!r})" if self.url else ")")

    @property
    def inline(self) -> bool:
        """
        Whether the bytes are here (no download needed).
        """
        return self.data is not None

    async def save(
        self,
        directory: str | os.PathLike[str],
        stem: str,
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
    ) -> Path:
        """
        Save the image as ``directory/<stem>.<ext>``, atomically: its bytes when it has
        them, else streamed from its URL (no API key is ever sent to a file host).

        Args:
            directory: Created if missing.
            stem: The file name without extension.
            http: The client to download with (the gateway client's, which carries no
                key by itself); a short-lived one when ``None``.
            retry: Retries for the download.

        Raises:
            ResultExpiredError: The URL answered 403, 404 or 410.
            DownloadError: Any other failure, after retries.
        """
        if self.data is not None:
            return await save_bytes(self.data, directory, stem, self.content_type)
        assert self.url is not None  # an image is a URL or bytes
        if http is not None:
            return await download(http, self.url, directory, stem, retry=retry)
        async with httpx.AsyncClient(follow_redirects=False) as client:
            return await download(client, self.url, directory, stem, retry=retry)


@attrs.frozen
class Result:
    """
    A finished generation: its images, typed, and the ``data`` they were found in.

    Attributes:
        images: Every image found, in order (never empty: a generation whose answer
            holds none ends with :class:`NoImageError`).
        data: The answer's ``data`` as sent (the vendor's shape).
        model: The model.
        task_id: The task's id, or a local ``sync-...`` id for a synchronous answer.
        synchronous: Whether the generation request answered with the images.
    """

    images: tuple[Image, ...]
    data: Any = attrs.field(repr=False, eq=False)
    model: str | None = None
    task_id: str | None = None
    synchronous: bool = False

    @property
    def urls(self) -> tuple[str, ...]:
        """
        The images' URLs (inline images without one are left out).
        """
        return tuple(image.url for image in self.images if image.url is not None)

    async def save(
        self,
        directory: str | os.PathLike[str],
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[Path]:
        """
        Save every image into *directory* as ``<task_id>-<n>.<ext>`` (see
        :meth:`Image.save`); ``client.download(result, directory)`` does the same
        with the client's connection pool and retries.
        """
        stem = self.task_id or "result"
        return [
            await image.save(directory, f"{stem}-{n}", http=http, retry=retry)
            for n, image in enumerate(self.images)
        ]


@attrs.frozen
class Task:
    """
    A generation as the service last described it: a task, or a synchronous answer.

    Attributes:
        task_id: The task's id (a local ``sync-...`` id for a synchronous answer that
            named none).
        status: Where it stands, in the SDK's words; the service's spellings are
            read in any case: ``PENDING``, ``QUEUED``, ``SUBMITTED``, ``SUSPENDED``
            (queued), ``RUNNING``, ``PROCESSING``, ``IN_PROGRESS`` (running),
            ``SUCCEEDED``, ``SUCCESS``, ``COMPLETED``, ``DONE`` (succeeded), ``FAILED``,
            ``FAILURE``, ``ERROR``, ``CANCELED``, ``CANCELLED`` and ``UNKNOWN`` (failed:
            the service does not know the task).
        state: The state as the service spelled it (``None`` when it gave none: an
            answer with images).
        result: The images, once it succeeded and any were found.
        error_code: The vendor's error code, when it failed and said one.
        error_message: The vendor's error message, when it failed and said one.
        data: The answer's ``data`` as sent.
        model: The model, when known.
        synchronous: Whether this is the answer to the generation request itself.
    """

    task_id: str
    status: JobStatus
    state: str | None = None
    result: Result | None = None
    error_code: str | None = None
    error_message: str | None = None
    data: Any = attrs.field(default=None, repr=False, eq=False)
    model: str | None = None
    synchronous: bool = False

    @property
    def done(self) -> bool:
        """
        Whether it will not change any more.
        """
        return self.status.is_final

    @property
    def images(self) -> tuple[Image, ...]:
        """
        The result's images; empty until it succeeded.
        """
        return () if self.result is None else self.result.images
