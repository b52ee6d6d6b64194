"""
The API's five endpoints, grouped as ``client.apps``, ``client.images`` and
``client.tasks``.  Each method checks its input first, then makes one request through the
client's request path, then reads the answer into a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import cattrs

from ._config import MAX_ENHANCE_SIDE
from ._converter import structure, structure_task, unstructure
from ._exceptions import UnexpectedResponseError, ValidationError
from ._image_input import ImageSource, LocalImage, read_image
from ._models import App, EnhanceRequest, GenerateRequest, Language, Task, Upload
from ._retry import RequestKind

if TYPE_CHECKING:
    from ._client import AsyncClient

T = TypeVar("T")


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
        raise UnexpectedResponseError(
            f"the {what} in the response does not have the documented shape", status=200
        ) from error


def _field(data: Any, name: str, what: str) -> Any:
    if not isinstance(data, dict) or name not in data:
        raise UnexpectedResponseError(f"the response has no {what}", status=200)
    return data[name]


class _Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client


class Apps(_Resource):
    """
    ``client.apps``: app details.
    """

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
        data = await self._client.request(
            RequestKind.QUERY, "GET", f"/apps/{quote(app_id, safe='')}", params=params
        )
        return _read("app", structure, _field(data, "appInfo", "appInfo"), App)  # type: ignore[no-any-return]


class Images(_Resource):
    """
    ``client.images``: uploads, generation and enhancement.
    """

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
        data = await self._client.request(RequestKind.UPLOAD, "POST", "/images/upload", files=files)
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
        if not isinstance(request, GenerateRequest):
            raise ValidationError("request", "expected a GenerateRequest")
        data = await self._client.request(
            RequestKind.SPEND,
            "POST",
            "/images/generate",
            json_body=unstructure(request),
            spend=request,
        )
        return _task_id(data)

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
        data = await self._client.request(
            RequestKind.SPEND,
            "POST",
            "/images/optimize",
            json_body=unstructure(request),
            spend=request,
        )
        return _task_id(data)


def _check_enhance_size(width: int | None, height: int | None) -> None:
    if width is None or height is None:
        return  # uploaded by URL: only the server knows
    if width > MAX_ENHANCE_SIDE or height > MAX_ENHANCE_SIDE:
        raise ValidationError(
            "image",
            f"{width}x{height} is larger than the {MAX_ENHANCE_SIDE}x{MAX_ENHANCE_SIDE} "
            "that enhance accepts",
        )


def _task_id(data: Any) -> str:
    task_id = _field(data, "taskId", "taskId")
    if not isinstance(task_id, str | int) or isinstance(task_id, bool) or not str(task_id):
        raise UnexpectedResponseError("the taskId in the response is not a string", status=200)
    return str(task_id)


class Tasks(_Resource):
    """
    ``client.tasks``: task status.
    """

    async def get(self, task_id: str) -> Task:
        """
        Query a task once.  The docs advise waiting 5 s after submitting before the
        first query.

        Raises:
            ValidationError: Empty task id.
            InvalidParamsError: Not a task of this key (the emulator's answer).
        """
        task_id = _check_id("task_id", task_id)
        headers = {"section": "cn"} if self._client.region == "cn" else None
        data = await self._client.request(
            RequestKind.QUERY, "GET", f"/tasks/{quote(task_id, safe='')}", headers=headers
        )
        return _read("task", structure_task, data, task_id)  # type: ignore[no-any-return]
