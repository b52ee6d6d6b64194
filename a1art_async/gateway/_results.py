"""
Reading ``data`` in whatever shape its vendor gave it: the images, the task id, the
state and the failure, found in the common shapes.

Images (a URL, a ``data:`` URL, or base64 bytes), looked for in this order at each level:

1. the object itself as one image: ``{"url"|"image_url"|"b64_json"|...: ...}``;
2. lists of images, the first that holds any: ``data`` (OpenAI, Volcano Engine Ark:
   ``data[].url``, ``data[].b64_json``), ``images``, ``results`` (Alibaba Bailian:
   ``output.results[].url``), ``output_images``;
3. lists of URLs (``image_urls``, ``urls``) and of base64 strings
   (``binary_data_base64``: Volcano Engine's visual services), paired up when they are
   as long (the same images, both ways), else one after the other;
4. the same, one level down in ``output``, ``result``, ``data`` or ``content``, at most
   four levels deep.

A bare list is read as a list of images.  Strings count as URLs only when absolute
``http(s)`` or ``data:`` URLs, and as base64 only when they decode.

The task id is ``task_id`` or ``taskId``, at the top or in ``output``, else ``id``; the
state is the first string among ``task_status``, ``taskStatus``, ``status`` and
``state``, at the top, then in ``output``, ``result`` or ``data`` (numbers are not
states: Volcano Engine's ``status: 10000`` is a success code).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterator
from typing import Any, Final

from .._engine._handles import JobStatus
from ._errors import UnknownStateError
from ._models import Image, Result, Task

_DEPTH: Final = 4
_URL_KEYS: Final = ("url", "image_url", "imageUrl")
_B64_KEYS: Final = ("b64_json", "binary_data_base64", "base64", "b64")
_ITEM_LISTS: Final = ("data", "images", "results", "output_images")
_URL_LISTS: Final = ("image_urls", "urls")
_B64_LISTS: Final = ("binary_data_base64", "b64_json")
_CONTAINERS: Final = ("output", "result", "data", "content")
_STATE_KEYS: Final = ("task_status", "taskStatus", "status", "state")
_ID_KEYS: Final = ("task_id", "taskId")

#: Every spelling the SDK reads, upper case (``-`` and spaces read as ``_``).
STATUS_OF: Final[dict[str, JobStatus]] = {
    **dict.fromkeys(("PENDING", "QUEUED", "SUBMITTED", "SUSPENDED"), JobStatus.QUEUED),
    **dict.fromkeys(("RUNNING", "PROCESSING", "IN_PROGRESS"), JobStatus.RUNNING),
    **dict.fromkeys(("SUCCEEDED", "SUCCESS", "COMPLETED", "DONE"), JobStatus.SUCCEEDED),
    **dict.fromkeys(
        ("FAILED", "FAILURE", "ERROR", "CANCELED", "CANCELLED", "UNKNOWN"), JobStatus.FAILED
    ),
}

_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def content_type_of(data: bytes) -> str | None:
    """
    The image type of *data* from its first bytes (PNG, JPEG, GIF, WebP), or ``None``.
    """
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _bytes(text: str) -> bytes | None:
    try:
        data = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return data or None


def _from_bytes(text: Any) -> Image | None:
    if not isinstance(text, str):
        return None
    data = _bytes(text)
    return None if data is None else Image(data=data, content_type=content_type_of(data))


def _from_url(text: Any) -> Image | None:
    if not isinstance(text, str):
        return None
    url = text.strip()
    if url.startswith("data:"):
        head, comma, body = url.partition(",")
        if not comma or not head.endswith(";base64"):
            return None
        data = _bytes(body)
        if data is None:
            return None
        declared = head.removeprefix("data:").removesuffix(";base64") or None
        return Image(data=data, content_type=content_type_of(data) or declared)
    if url.lower().startswith(("https://", "http://")) and len(url) > len("https://"):
        return Image(url=url)
    return None


def _from_item(item: dict[str, Any]) -> Image | None:
    """
    An object that is one image: a URL, bytes, or both.
    """
    found = next(
        (image for key in _URL_KEYS if (image := _from_url(item.get(key))) is not None), None
    )
    inline = next(
        (image for key in _B64_KEYS if (image := _from_bytes(item.get(key))) is not None), None
    )
    if found is None:
        return inline
    if inline is None or found.data is not None:
        return found
    return Image(url=found.url, data=inline.data, content_type=inline.content_type)


def _from_list(items: list[Any], *, inline: bool = False) -> list[Image]:
    images: list[Image] = []
    for item in items:
        if isinstance(item, dict):
            image = _from_item(item)
        else:
            image = _from_bytes(item) if inline else _from_url(item)
        if image is not None:
            images.append(image)
    return images


def _pair(urls: list[Image], inline: list[Image]) -> list[Image]:
    if urls and len(urls) == len(inline):
        return [
            Image(url=url.url, data=data.data, content_type=data.content_type)
            for url, data in zip(urls, inline, strict=True)
        ]
    return [*inline, *urls]


def _images(node: Any, depth: int) -> list[Image]:
    if depth > _DEPTH:
        return []
    if isinstance(node, list):
        return _from_list(node)
    if not isinstance(node, dict):
        return []
    item = _from_item(node)
    if item is not None:
        return [item]
    for key in _ITEM_LISTS:
        value = node.get(key)
        if isinstance(value, list) and (images := _from_list(value)):
            return images
    urls = [i for key in _URL_LISTS if isinstance(v := node.get(key), list) for i in _from_list(v)]
    inline = [
        i
        for key in _B64_LISTS
        if isinstance(v := node.get(key), list)
        for i in _from_list(v, inline=True)
    ]
    if urls or inline:
        return _pair(urls, inline)
    for key in _CONTAINERS:
        value = node.get(key)
        if isinstance(value, dict | list) and (images := _images(value, depth + 1)):
            return images
    return []


def find_images(data: Any) -> tuple[Image, ...]:
    """
    Every image in *data*, in the common shapes (see the module's docstring).
    """
    return tuple(_images(data, 0))


def _levels(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        yield data
        for key in ("output", "result", "data"):
            inner = data.get(key)
            if isinstance(inner, dict):
                yield inner


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


def find_task_id(data: Any) -> str | None:
    """
    The task id in *data*: ``task_id`` or ``taskId`` (at the top or in ``output``),
    else a top-level ``id``.
    """
    if not isinstance(data, dict):
        return None
    for level in (data, data.get("output")):
        if isinstance(level, dict):
            for key in _ID_KEYS:
                if (found := _text(level.get(key))) is not None:
                    return found
    return _text(data.get("id"))


def find_state(data: Any) -> str | None:
    """
    The state word in *data*, as sent (strings only).
    """
    for level in _levels(data):
        for key in _STATE_KEYS:
            value = level.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def status_of(state: str) -> JobStatus | None:
    """
    The status a state word means, in any case; ``None`` for a word no usual spelling
    covers.
    """
    return STATUS_OF.get(state.strip().upper().replace("-", "_").replace(" ", "_"))


def _failure(data: Any) -> tuple[str | None, str | None]:
    """
    The vendor's error code and message, where a failed task's answer says them.
    """
    code: str | None = None
    message: str | None = None
    for level in _levels(data):
        error = level.get("error")
        if isinstance(error, dict):
            code = code or _text(error.get("code"))
            message = message or _text(error.get("message"))
        elif isinstance(error, str):
            message = message or _text(error)
        code = code or (level.get("code") if isinstance(level.get("code"), str) else None)
        for key in ("message", "errorMessage", "error_message", "fail_reason"):
            if isinstance(level.get(key), str):
                message = message or _text(level.get(key))
    return code, message


def read_task(
    data: Any, *, task_id: str, model: str | None = None, synchronous: bool = False
) -> Task:
    """
    A task (or a synchronous answer) from its ``data``.

    A state word decides the status; without one, images mean it succeeded.  Images
    also count as success when the state word is one no usual spelling covers.

    Raises:
        UnknownStateError: No usual state and no image: nothing says where it stands.
    """
    images = find_images(data)
    state = find_state(data)
    status = None if state is None else status_of(state)
    if status is None:
        if not images:
            raise UnknownStateError(state, data, task_id=task_id)
        status = JobStatus.SUCCEEDED
    result = None
    if status is JobStatus.SUCCEEDED and images:
        result = Result(images, data, model, task_id, synchronous)
    code, message = _failure(data) if status is JobStatus.FAILED else (None, None)
    return Task(
        task_id=task_id,
        status=status,
        state=state,
        result=result,
        error_code=code,
        error_message=message,
        data=data,
        model=model,
        synchronous=synchronous,
    )


def read_submission(data: Any, model: str) -> Task | str:
    """
    What a generation request's answer says: a task id to poll (asynchronous), or
    the generation itself (synchronous: its images, or why there are none).

    A task id without images is a task, unless its state already says it failed.
    Anything else is the generation itself, which cannot be polled: failed when its
    state says so, else succeeded, with its images (or none, which ends with
    :class:`NoImageError` when waited for).
    """
    images = find_images(data)
    task_id = find_task_id(data)
    state = find_state(data)
    failed = state is not None and status_of(state) is JobStatus.FAILED
    if task_id is not None and not images and not failed:
        return task_id
    local_id = task_id or f"sync-{secrets.token_hex(12)}"
    status = JobStatus.FAILED if failed else JobStatus.SUCCEEDED
    result = Result(images, data, model, local_id, True) if images and not failed else None
    code, message = _failure(data) if failed else (None, None)
    return Task(local_id, status, state, result, code, message, data, model, True)
