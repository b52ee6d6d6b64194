"""
The a1.art Open API's errors: one class per documented code, under :class:`APIError`.

The tree (the shared errors come from ``_engine/_errors.py``)::

    A1ArtError
    ├── ValidationError              bad input, raised before any request is sent
    ├── APIError                     the API answered with a non-zero ``code``
    │   ├── AuthenticationError      10410 missing key, 10411 invalid key
    │   ├── InvalidParamsError       10001
    │   ├── RateLimitError           20000 (also HTTP 429)
    │   ├── ServerError              20002, 20003 (also HTTP 5xx)
    │   ├── AppError
    │   │   ├── AppNotAPIEnabledError    324010
    │   │   ├── AppNotFoundError         324012
    │   │   ├── AppVersionOutdatedError  324013
    │   │   ├── AppNotOwnedError         324018
    │   │   └── VIPRequiredError         324019
    │   ├── QuantityError            324011
    │   ├── BalanceInsufficientError 810012
    │   ├── FileError                20100 and every file/upload code below
    │   │   ├── UnsupportedSuffixError        10002, 20101
    │   │   ├── MissingImageFileError         400000
    │   │   ├── TooManyImagesError            400001
    │   │   ├── NotAnImageError               400002
    │   │   ├── ImageTooLargeError            400003
    │   │   ├── InvalidFileError              400004
    │   │   ├── UnsupportedImageFormatError   400005
    │   │   └── ImageDimensionsTooLargeError  400006
    │   └── UnknownAPIError          a code the docs do not list
    ├── UnexpectedResponseError      not the documented envelope (HTML 502, bad JSON, ...)
    ├── UnexpectedRedirectError      the API redirected; the key is never sent after it
    ├── TransportError               the request did not complete
    │   ├── ConnectError             never reached the server
    │   └── TimeoutError             no answer in time
    ├── GenerationOutcomeUnknown     a generate/enhance may have been charged; not resent
    ├── TaskFailedError              the task ended in state 20
    ├── TaskTimeoutError             a wait passed its deadline; the task goes on
    └── DownloadError                a result file could not be saved
        └── ResultExpiredError       the result URL answered 403/404

API codes map to classes through :data:`API_ERRORS`; an unlisted code still raises an
:class:`UnknownAPIError` with its code and messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ._engine._errors import (
    A1ArtError,
    BudgetExceededError,
    ConnectError,
    DownloadError,
    OutcomeUnknown,
    ResultExpiredError,
    TaskFailedError,
    TaskTimeoutError,
    TimeoutError,
    TransportError,
    UnexpectedRedirectError,
    UnexpectedResponseError,
    ValidationError,
    code_table,
)
from ._engine._errors import APIError as _APIError

if TYPE_CHECKING:
    from ._models import EnhanceRequest, GenerateRequest

__all__ = [
    "A1ArtError",
    "BudgetExceededError",
    "ConnectError",
    "DownloadError",
    "ResultExpiredError",
    "TaskFailedError",
    "TaskTimeoutError",
    "TimeoutError",
    "TransportError",
    "UnexpectedRedirectError",
    "UnexpectedResponseError",
    "ValidationError",
]


class APIError(_APIError):
    """
    The a1.art API answered with a non-zero ``code`` in its envelope.

    Attributes:
        code: The documented error code.
        msg: The English message.
        msg_cn: The Chinese message.
        status: The HTTP status of the response.
        retry_after: Seconds the server asked to wait, when it said so.
    """

    code: int

    def __init__(
        self,
        code: int,
        msg: str = "",
        msg_cn: str = "",
        *,
        status: int = 200,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, msg, status=status, retry_after=retry_after)
        self.msg = msg
        self.msg_cn = msg_cn

    def __str__(self) -> str:
        return f"a1.art error {self.code}: {self.msg}" + (
            f" ({self.msg_cn})" if self.msg_cn else ""
        )


class AuthenticationError(APIError):
    """
    The API key is missing (10410) or not valid (10411).
    """

    codes: ClassVar[tuple[int | str, ...]] = (10410, 10411)


class InvalidParamsError(APIError):
    """
    The server rejected the request's parameters (10001).
    """

    codes: ClassVar[tuple[int | str, ...]] = (10001,)


class RateLimitError(APIError):
    """
    Too many requests (20000 or HTTP 429).

    Attributes:
        retry_after: Seconds the server asked to wait, when it said so.
    """

    codes: ClassVar[tuple[int | str, ...]] = (20000,)
    transient: ClassVar[bool] = True


class ServerError(APIError):
    """
    The server failed (20002, 20003, or an HTTP 5xx that carried an envelope).
    """

    codes: ClassVar[tuple[int | str, ...]] = (20002, 20003)
    transient: ClassVar[bool] = True


class AppError(APIError):
    """
    The app cannot be used as asked.
    """


class AppNotAPIEnabledError(AppError):
    """
    This app does not support API access (324010).
    """

    codes: ClassVar[tuple[int | str, ...]] = (324010,)


class AppNotFoundError(AppError):
    """
    No app has this id (324012).
    """

    codes: ClassVar[tuple[int | str, ...]] = (324012,)


class AppVersionOutdatedError(AppError):
    """
    The app was republished; fetch its details again for the new ``versionId`` (324013).
    """

    codes: ClassVar[tuple[int | str, ...]] = (324013,)


class AppNotOwnedError(AppError):
    """
    The app is another user's unpublished app (324018).
    """

    codes: ClassVar[tuple[int | str, ...]] = (324018,)


class VIPRequiredError(AppError):
    """
    The app is for VIP accounts only (324019).
    """

    codes: ClassVar[tuple[int | str, ...]] = (324019,)


class QuantityError(APIError):
    """
    ``generateNum`` out of range for this app (324011).
    """

    codes: ClassVar[tuple[int | str, ...]] = (324011,)


class BalanceInsufficientError(APIError):
    """
    Not enough credits for this request (810012); nothing was charged.
    """

    codes: ClassVar[tuple[int | str, ...]] = (810012,)


class FileError(APIError):
    """
    A file could not be used (20100, and the base of every upload error).
    """

    codes: ClassVar[tuple[int | str, ...]] = (20100,)


class UnsupportedSuffixError(FileError):
    """
    The file name or URL has a suffix other than png/jpg/jpeg (10002, 20101).
    """

    codes: ClassVar[tuple[int | str, ...]] = (10002, 20101)


class MissingImageFileError(FileError):
    """
    The upload carried no file (400000).
    """

    codes: ClassVar[tuple[int | str, ...]] = (400000,)


class TooManyImagesError(FileError):
    """
    More than one image in one upload (400001).
    """

    codes: ClassVar[tuple[int | str, ...]] = (400001,)


class NotAnImageError(FileError):
    """
    The file is not an image (400002).
    """

    codes: ClassVar[tuple[int | str, ...]] = (400002,)


class ImageTooLargeError(FileError):
    """
    The file is larger than 10 MB (400003).
    """

    codes: ClassVar[tuple[int | str, ...]] = (400003,)


class InvalidFileError(FileError):
    """
    The file is unreadable or not one of this key's uploads (400004).
    """

    codes: ClassVar[tuple[int | str, ...]] = (400004,)


class UnsupportedImageFormatError(FileError):
    """
    The image is not PNG or JPEG (400005).
    """

    codes: ClassVar[tuple[int | str, ...]] = (400005,)


class ImageDimensionsTooLargeError(FileError):
    """
    The image is larger than 2048x2048 (400006).
    """

    codes: ClassVar[tuple[int | str, ...]] = (400006,)


class UnknownAPIError(APIError):
    """
    A code the docs do not list; ``code`` and the messages are kept as sent.
    """


#: Every documented non-zero code and the class it raises.
API_ERRORS: dict[int | str, type[APIError]] = code_table(APIError)


def api_error(
    code: int,
    msg: str = "",
    msg_cn: str = "",
    *,
    status: int = 200,
    retry_after: float | None = None,
) -> APIError:
    """
    Build the error for an envelope ``code`` through :data:`API_ERRORS`.
    """
    cls = API_ERRORS.get(code, UnknownAPIError)
    return cls(code, msg, msg_cn, status=status, retry_after=retry_after)


class GenerationOutcomeUnknown(OutcomeUnknown):
    """
    A generate or enhance request may have reached the server, and credits may have been
    spent, but no answer says whether a task was created.  It was not sent again.

    Attributes:
        request: The request, so the caller can decide to resend it.
        cause: What went wrong after the request was sent.
    """

    request: GenerateRequest | EnhanceRequest

    def __init__(self, request: GenerateRequest | EnhanceRequest, cause: BaseException) -> None:
        super().__init__(request, cause)
