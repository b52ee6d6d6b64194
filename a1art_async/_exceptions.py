"""
Every error the SDK raises descends from :class:`A1ArtError`.

The tree::

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

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ._models import EnhanceRequest, GenerateRequest, Task


class A1ArtError(Exception):
    """
    The root of every error this SDK raises.
    """


class ValidationError(A1ArtError, ValueError):
    """
    Input that the API would reject, caught before any request or credit is spent.

    Attributes:
        field: The parameter or form field at fault.
        reason: What is wrong with it.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class APIError(A1ArtError):
    """
    The API answered with a non-zero ``code`` in its envelope.

    Attributes:
        code: The documented error code.
        msg: The English message.
        msg_cn: The Chinese message.
        status: The HTTP status of the response.
    """

    codes: ClassVar[tuple[int, ...]] = ()

    def __init__(self, code: int, msg: str = "", msg_cn: str = "", *, status: int = 200) -> None:
        super().__init__(f"a1.art error {code}: {msg}" + (f" ({msg_cn})" if msg_cn else ""))
        self.code = code
        self.msg = msg
        self.msg_cn = msg_cn
        self.status = status


class AuthenticationError(APIError):
    """
    The API key is missing (10410) or not valid (10411).
    """

    codes: ClassVar[tuple[int, ...]] = (10410, 10411)


class InvalidParamsError(APIError):
    """
    The server rejected the request's parameters (10001).
    """

    codes: ClassVar[tuple[int, ...]] = (10001,)


class RateLimitError(APIError):
    """
    Too many requests (20000 or HTTP 429).

    Attributes:
        retry_after: Seconds the server asked to wait, when it said so.
    """

    codes: ClassVar[tuple[int, ...]] = (20000,)

    def __init__(
        self,
        code: int,
        msg: str = "",
        msg_cn: str = "",
        *,
        status: int = 200,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, msg, msg_cn, status=status)
        self.retry_after = retry_after


class ServerError(APIError):
    """
    The server failed (20002, 20003, or an HTTP 5xx that carried an envelope).
    """

    codes: ClassVar[tuple[int, ...]] = (20002, 20003)


class AppError(APIError):
    """
    The app cannot be used as asked.
    """


class AppNotAPIEnabledError(AppError):
    """
    This app does not support API access (324010).
    """

    codes: ClassVar[tuple[int, ...]] = (324010,)


class AppNotFoundError(AppError):
    """
    No app has this id (324012).
    """

    codes: ClassVar[tuple[int, ...]] = (324012,)


class AppVersionOutdatedError(AppError):
    """
    The app was republished; fetch its details again for the new ``versionId`` (324013).
    """

    codes: ClassVar[tuple[int, ...]] = (324013,)


class AppNotOwnedError(AppError):
    """
    The app is another user's unpublished app (324018).
    """

    codes: ClassVar[tuple[int, ...]] = (324018,)


class VIPRequiredError(AppError):
    """
    The app is for VIP accounts only (324019).
    """

    codes: ClassVar[tuple[int, ...]] = (324019,)


class QuantityError(APIError):
    """
    ``generateNum`` out of range for this app (324011).
    """

    codes: ClassVar[tuple[int, ...]] = (324011,)


class BalanceInsufficientError(APIError):
    """
    Not enough credits for this request (810012); nothing was charged.
    """

    codes: ClassVar[tuple[int, ...]] = (810012,)


class FileError(APIError):
    """
    A file could not be used (20100, and the base of every upload error).
    """

    codes: ClassVar[tuple[int, ...]] = (20100,)


class UnsupportedSuffixError(FileError):
    """
    The file name or URL has a suffix other than png/jpg/jpeg (10002, 20101).
    """

    codes: ClassVar[tuple[int, ...]] = (10002, 20101)


class MissingImageFileError(FileError):
    """
    The upload carried no file (400000).
    """

    codes: ClassVar[tuple[int, ...]] = (400000,)


class TooManyImagesError(FileError):
    """
    More than one image in one upload (400001).
    """

    codes: ClassVar[tuple[int, ...]] = (400001,)


class NotAnImageError(FileError):
    """
    The file is not an image (400002).
    """

    codes: ClassVar[tuple[int, ...]] = (400002,)


class ImageTooLargeError(FileError):
    """
    The file is larger than 10 MB (400003).
    """

    codes: ClassVar[tuple[int, ...]] = (400003,)


class InvalidFileError(FileError):
    """
    The file is unreadable or not one of this key's uploads (400004).
    """

    codes: ClassVar[tuple[int, ...]] = (400004,)


class UnsupportedImageFormatError(FileError):
    """
    The image is not PNG or JPEG (400005).
    """

    codes: ClassVar[tuple[int, ...]] = (400005,)


class ImageDimensionsTooLargeError(FileError):
    """
    The image is larger than 2048x2048 (400006).
    """

    codes: ClassVar[tuple[int, ...]] = (400006,)


class UnknownAPIError(APIError):
    """
    A code the docs do not list; ``code`` and the messages are kept as sent.
    """


def _table() -> dict[int, type[APIError]]:
    table: dict[int, type[APIError]] = {}
    pending: list[type[APIError]] = [APIError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for code in cls.codes:
            if code in table:  # pragma: no cover - a programming error, caught by tests
                raise RuntimeError(f"code {code} mapped twice")
            table[code] = cls
    return table


#: Every documented non-zero code and the class it raises.
API_ERRORS: dict[int, type[APIError]] = _table()


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
    if cls is RateLimitError:
        return RateLimitError(code, msg, msg_cn, status=status, retry_after=retry_after)
    return cls(code, msg, msg_cn, status=status)


class UnexpectedResponseError(A1ArtError):
    """
    The response was not the documented JSON envelope: an HTML error page, truncated
    JSON, or fields of the wrong type.

    Attributes:
        status: The HTTP status.
        excerpt: The start of the body, with the API key removed.
    """

    def __init__(self, reason: str, *, status: int, excerpt: str = "") -> None:
        text = f"{reason} (HTTP {status})"
        if excerpt:
            text += f": {excerpt!r}"
        super().__init__(text)
        self.reason = reason
        self.status = status
        self.excerpt = excerpt


class UnexpectedRedirectError(A1ArtError):
    """
    The API answered with a redirect; it is not followed, so the key never leaves the
    API's origin.
    """

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"the API redirected (HTTP {status}) to {location!r}; not followed")
        self.status = status
        self.location = location


class TransportError(A1ArtError):
    """
    The request did not complete: the connection failed, dropped or timed out.
    """


class ConnectError(TransportError):
    """
    The connection could not be established: the request never reached the server.
    """


class TimeoutError(TransportError):
    """
    No answer arrived in time.
    """


class GenerationOutcomeUnknown(A1ArtError):
    """
    A generate or enhance request may have reached the server, and credits may have been
    spent, but no answer says whether a task was created.  It was not sent again.

    Attributes:
        request: The request, so the caller can decide to resend it.
        cause: What went wrong after the request was sent.
    """

    def __init__(self, request: GenerateRequest | EnhanceRequest, cause: BaseException) -> None:
        super().__init__(
            f"the {type(request).__name__} may have reached the server and spent credits, "
            f"but no answer came back ({type(cause).__name__}: {cause}); it was not resent"
        )
        self.request = request
        self.cause = cause


class TaskFailedError(A1ArtError):
    """
    The task ended in state 20 (failed).
    """

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.task_id} failed")
        self.task = task
        self.task_id = task.task_id


class TaskTimeoutError(A1ArtError):
    """
    A wait passed its deadline; the task itself goes on and can be waited for again.

    Attributes:
        task_id: The task.
        waited: Seconds the wait lasted.
        last_state: The state the latest answered poll saw (``None``: none answered).
        last_error: Why the latest poll failed, when it did (the API unreachable, say).
    """

    def __init__(
        self,
        task_id: str,
        waited: float,
        last_state: Any = None,
        *,
        last_error: BaseException | None = None,
    ) -> None:
        text = f"task {task_id} not finished after waiting {waited:.1f} s"
        if last_error is not None:
            text += f"; the last poll failed: {last_error}"
        elif last_state is None:
            text += "; no poll was answered"
        super().__init__(text)
        self.task_id = task_id
        self.waited = waited
        self.last_state = last_state
        self.last_error = last_error


class DownloadError(A1ArtError):
    """
    A result file could not be saved.
    """

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"download of {url} failed: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class ResultExpiredError(DownloadError):
    """
    The result URL answered 403 or 404: result URLs "may become invalid later".
    """
